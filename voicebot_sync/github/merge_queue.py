"""The merge-queue check (``plan`` on a ``merge_group`` event): re-plan the merge group's head and
fail when the plan is no longer the one reviewed on the pull request, so a stale plan never
reaches the default branch.

The pull request comes from the group's head ref (``gh-readonly-queue/<base>/pr-<N>-<sha>``);
its trusted plan comment gives, per environment, the reviewed change hashes and the remote's
fingerprint. The check fails when any change of the new plan is not among the reviewed ones
(``Plan.check_reviewed``), or when the remote changed since the review.
"""

from __future__ import annotations

from typing import Any

from ..errors import EXIT, StalePlan
from ..text.escaping import md_code_block
from .comment import ignored_note, marker_for, reviewed_on, scope_for
from .inputs import environments
from .rest import GitHubError, api_from
from .runner import Runner, code
from .steps import describe_failure, exit_code, make_plans, plan_outputs, summary_markdown, title_for, worst

TITLE = "voicebot-sync merge queue"


def _fail(runner: Runner, message: str, lines: list[str] | None = None) -> int:
    runner.error(message, title=TITLE)
    runner.summary("\n\n".join([f"### {TITLE}: the plan does not match the review", md_code_block(message, "text"),
                                *(lines or [])]))
    runner.set_output("exit-code", EXIT["error"])
    runner.set_output("matches-review", False)
    return EXIT["error"]


def mismatch(number: int, section, plan) -> str | None:
    """Why ``plan`` is not the plan reviewed in ``section`` of #number's comment, or None when it is."""
    if not section.has_plan:
        return f"#{number}'s plan comment has no reviewed plan for this environment"
    if section.changes is not None:
        try:
            plan.check_reviewed(set(section.changes), f"the plan reviewed on #{number}")
        except StalePlan as exc:
            return str(exc)
    elif plan.plan_fingerprint != section.fingerprint:
        return (f"the plan (`{plan.plan_fingerprint[:19]}…`) is not the plan reviewed on #{number} "
                f"(`{(section.fingerprint or '')[:19]}…`)")
    if section.remote is not None and section.remote != plan.remote_fingerprint:
        return (f"the remote changed since the review on #{number} (`{section.remote[:19]}…` then, "
                f"`{plan.remote_fingerprint[:19]}…` now): someone edited it, or an earlier merge was applied")
    return None


def step_merge_group(runner: Runner, transport=None) -> int:
    envs = environments(runner)
    names = [e for e in envs if e]
    several = len(envs) > 1
    number, reviewed, refusal = _review(runner, transport, names)
    if refusal is not None:
        return _fail(runner, refusal)
    notes = [n for n in [ignored_note(reviewed.ignored, runner.trusted_commenter)] if n]
    if not reviewed.has_plan:
        return _fail(runner, f"#{number} carries no reviewed voicebot-sync plan for {code(scope_for(runner, names))}: "
                             "run the plan check on the pull request (with the same inputs) and review it", notes)
    results = make_plans(runner, envs)
    failed = [(env, exc) for env, _, exc in results if exc is not None]
    if failed:
        return _plans_failed(runner, failed, several)
    plan_outputs(runner, [(env, found[1]) for env, found, _ in results])
    problems, shown = _compared(number, reviewed, results, len(envs), notes)
    if problems:
        message = (f"The plan of this merge group is not the plan reviewed on #{number}: {'; '.join(problems)}. "
                   "Nothing was changed; re-run the pull request's plan check, review the new plan, then queue it again.")
        return _fail(runner, message, notes + shown)
    runner.set_output("exit-code", EXIT["ok"])
    runner.set_output("matches-review", True)
    runner.summary("\n\n".join([f"### {TITLE}: the plan matches the review",
                                f"Every change of this merge group's plan was reviewed on #{number}, against the "
                                "remote as it is now.", *notes, *shown]))
    runner.log(f"The plan matches the plan reviewed on #{number}.")
    return EXIT["ok"]


def _review(runner: Runner, transport, names: list[str]) -> tuple[int | None, Any, str | None]:
    """The merge group's pull request, its reviewed plan comment, and why they could not be had (or None)."""
    number = runner.merge_group_pull_number
    if number is None:
        ref = (runner.merge_group or {}).get("head_ref") or runner.env.get("GITHUB_REF") or ""
        return None, None, (f"cannot tell the pull request of merge group {ref!r} (expected "
                            "gh-readonly-queue/<base>/pr-<number>-<sha>)")
    api = api_from(runner, transport)
    if api is None:
        return number, None, ("there is no GitHub token to read the reviewed plan with; pass github-token "
                               "(the job's token needs `pull-requests: read`)")
    try:
        return number, reviewed_on(api, number, marker_for(runner, names), runner.trusted_commenter), None
    except GitHubError as exc:
        return number, None, f"could not read the reviewed plan of #{number} ({exc}); give the job `pull-requests: read`"
    finally:
        api.close()


def _plans_failed(runner: Runner, failed: list, several: bool) -> int:
    """Some environment could not be planned: the summary says why, and the check fails with the worst code."""
    code_ = worst([exit_code(exc) for _, exc in failed])
    problems = "\n\n".join(describe_failure(runner, exc, "plan", env if several else None) for env, exc in failed)
    runner.summary(f"### {TITLE}: the plan failed\n\n{problems}")
    runner.set_output("exit-code", code_)
    runner.set_output("matches-review", False)
    return code_


def _compared(number: int, reviewed, results, share: int, notes: list[str]) -> tuple[list[str], list[str]]:
    """Each environment's plan against its reviewed section: the mismatches, and each plan's summary (notes
    gains a line for a comment too old to carry the remote's fingerprint)."""
    several = share > 1
    problems, shown = [], []
    for env, (settings, plan), _ in results:
        section = reviewed.section(env if several else None)
        why = mismatch(number, section, plan)
        if why:
            problems.append(f"{env}: {why}" if several else why)
        elif section.remote is None:
            notes.append(f"#{number}'s comment carries no remote fingerprint (an older plan comment): only the "
                         "changes were compared.")
        shown.append(summary_markdown(plan, settings.rate_limit, title_for("plan", env), share))
    return problems, shown
