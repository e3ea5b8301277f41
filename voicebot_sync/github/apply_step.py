"""The apply step: every environment against its own section of the reviewed plan, in-process
(``commands.apply``), with stop signals handled in the main thread, so a cancelled job stops
cleanly and still reports what remains."""

from __future__ import annotations

import os
from typing import Any

from ..errors import EXIT, Refused, StalePlan, UnsafePlan, VoicebotSyncError
from ..text.escaping import md_code_block, md_text
from .comment import Reviewed, Section, marker_for, reviewed_plan, scope_for
from .inputs import environments, settings_for
from .rest import GitHubError, api_from
from .runner import Runner, code
from .steps import describe_failure, exit_code, log_events, prefix_of, run_each, summary_markdown, worst

# A refusal changes nothing: the plan's own checks (reviewed, fresh, guards) and a missing confirmation.
REFUSALS = (StalePlan, UnsafePlan, Refused)
AGAIN = "Re-run the pull request's plan and review it, or set allow-plan-change: true."


def reviewed_changes(runner: Runner, transport, notes: list[str], names: list[str]) -> tuple[Reviewed | None, str | None]:
    """The review of the pull request this commit came from (None: no check), or a refusal.

    Every apply is checked — a push, the scheduled follow-up, a manual run — since each
    applies the commit's definitions; ``allow-plan-change: true`` skips the check."""
    if runner.flag("ALLOW_PLAN_CHANGE"):
        notes.append("`allow-plan-change` is true: applying the current plan without comparing it with a reviewed one.")
        return None, None
    api = api_from(runner, transport)
    if api is None:
        return None, ("Refusing to apply: there is no GitHub token to find the reviewed plan with; nothing was changed. "
                      "Pass github-token (the default is the job's token, which needs `pull-requests: read`), "
                      "or set allow-plan-change: true.")
    sha = runner.sha
    try:
        reviewed = reviewed_plan(api, sha, marker_for(runner, names), runner.trusted_commenter)
    except GitHubError as exc:
        return None, (f"Refusing to apply: could not read the reviewed plan ({exc}); nothing was changed. "
                      "Give the job `pull-requests: read`, or set allow-plan-change: true to apply anyway.")
    finally:
        api.close()
    if reviewed.number is None:
        notes.append(f"No pull request found for commit `{sha[:7]}` (a direct push): applied the plan as it is now.")
        return None, None
    from .comment import ignored_note

    note = ignored_note(reviewed.ignored, runner.trusted_commenter)
    if note:
        notes.append(note)
    if not reviewed.has_plan:
        return None, (f"Refusing to apply: #{reviewed.number} carries no reviewed voicebot-sync plan for "
                      f"{code(scope_for(runner, names))}; nothing was changed. Run the plan check on pull requests "
                      "(with the same path, config and environment), or set allow-plan-change: true.")
    return reviewed, None


def reviewed_note(number: int, section: Section, plan) -> str:
    fingerprint = f"`{(section.fingerprint or '')[:19]}…`"
    if plan.plan_fingerprint == section.fingerprint:
        return f"Reviewed on #{number}: this is exactly the reviewed plan ({fingerprint})."
    if not plan.changes:
        return f"Reviewed on #{number} ({fingerprint}): nothing of it is left to apply."
    return (f"Reviewed on #{number} ({fingerprint}): {len(plan.changes)} of its {len(section.changes or [])} changes "
            "remain (the others were applied already); every one of them was reviewed.")


def step_apply(runner: Runner, transport=None) -> int:
    """Apply what was reviewed, in every environment: with the reviewed change hashes ``commands.apply``
    makes its own plan (one list request) and refuses any change not among them; a subset passes."""
    from ..apply.stop import StopSignal

    envs = environments(runner)
    names = [e for e in envs if e]
    notes: list[str] = []
    reviewed, refusal = reviewed_changes(runner, transport, notes, names)
    if refusal:
        runner.summary("\n\n".join(["### voicebot-sync apply refused", *notes, refusal]))
        runner.error(refusal, title="voicebot-sync apply")
        return _outputs(runner, EXIT["error"], [])
    stop = StopSignal()
    plans: dict[Any, str] = {}
    try:
        with stop.handling_signals():
            results = run_each(envs, lambda env: _apply_one(runner, env, envs, reviewed, stop, plans))
    except KeyboardInterrupt:  # a second signal between environments' applies (each returns its own)
        runner.error("Apply interrupted at once (a second signal): run plan to see what remains",
                     title="voicebot-sync apply")
        _report(runner, [], envs, reviewed, notes, plans)
        return _outputs(runner, EXIT["interrupted"], [])
    code_ = _report(runner, results, envs, reviewed, notes, plans)
    _outputs(runner, code_, results)
    if code_ == EXIT["incomplete"]:
        remaining = sum(len(r.report.remaining) for _, r, _ in results if r is not None and r.report is not None)
        runner.error(f"Apply stopped before finishing ({remaining} remaining): run it again",
                     title="voicebot-sync apply", level="warning")
        if not runner.flag("FAIL_ON_INCOMPLETE"):
            return EXIT["ok"]
    return code_


def _apply_one(runner: Runner, env, envs, reviewed: Reviewed | None, stop, plans: dict):
    from ..commands.apply import ApplyOptions, apply
    from ..core.schedule import parse_duration
    from ..output.progress import LineEvents, Prefixed

    prefix = prefix_of(env, envs)
    settings = settings_for(runner, env)
    events = log_events(runner, prefix)
    suffix = f"-{env}" if len(envs) > 1 else ""
    workdir = runner.workdir()
    plans[env] = out = os.path.join(workdir, f"plan{suffix}.json")
    budget = runner.env.get("VS_MAX_DURATION")
    options = ApplyOptions(out_file=out, force=runner.flag("FORCE"),
                           max_duration=parse_duration(budget) if budget else None)
    section = reviewed.section(env if len(envs) > 1 else None) if reviewed is not None else None
    if section is not None and not section.has_plan:
        raise StalePlan(f"#{reviewed.number}'s plan comment has no reviewed plan for environment {env}; "
                        "nothing was changed")
    if section is not None and section.changes is not None:
        options.reviewed = set(section.changes)  # handed over as values, never a file to read back
        options.reviewed_from = f"the reviewed plan (on #{reviewed.number})"
    elif section is not None:
        # A plan too big for its change hashes: require exactly the reviewed plan. Checked on the plan that
        # apply makes under the account's lock, so one list request serves the check and the apply.
        def exactly_the_reviewed(current) -> None:
            if current.plan_fingerprint != section.fingerprint:
                raise StalePlan(f"the plan (`{current.plan_fingerprint[:19]}…`) is not the plan reviewed on "
                                f"#{reviewed.number} (`{section.fingerprint[:19]}…`); the remote or the definitions "
                                "changed after review; nothing was changed")

        options.check_plan = exactly_the_reviewed
    progress = LineEvents(Prefixed(runner.err, prefix) if prefix else runner.err)
    return apply(settings, options, events, progress=progress, stop=stop)


def _load(path: str | None):
    from ..core.plan import Plan

    try:
        return Plan.load(path) if path and os.path.exists(path) else None
    except Exception:  # noqa: BLE001 - only for showing it
        return None


def _report(runner: Runner, results, envs, reviewed: Reviewed | None, notes: list[str], plans: dict) -> int:
    """The summary (one section per environment), the annotations, and the step's exit code."""
    several = len(envs) > 1
    codes, sections, heads = [], [], set()
    for env, result, exc in results:
        tag = f" ({env})" if several else ""
        if exc is not None:
            refused = isinstance(exc, REFUSALS)
            heads.add("refused" if refused else "failed")
            codes.append(exit_code(exc))
            if refused:
                lines = _refusal_lines(runner, exc, tag, reviewed, plans.get(env), len(envs))
            else:
                lines = ["Apply failed before it reported a result (a refusal changes nothing):",
                         describe_failure(runner, exc, "apply", env if several else None)]
        else:
            code_, lines = _result_lines(runner, result, tag, reviewed, env if several else None)
            codes.append(code_)
        sections.append((env, lines))
    code_ = worst(codes)
    head = "refused" if heads == {"refused"} and not several else ("failed" if "failed" in heads and not several else "")
    text = [f"### voicebot-sync apply{' ' + head if head else ''}", *notes]
    for env, lines in sections:
        text += ([f"#### {md_text(env)}"] if several else []) + lines
    runner.summary("\n\n".join(text))
    return code_


def _refusal_lines(runner: Runner, exc: Exception, tag: str, reviewed: Reviewed | None, plan_path: str | None,
                   share: int) -> list[str]:
    """A refused environment: an annotation, and the summary's why, what to do, and the plan it would have applied."""
    runner.error(f"Refusing to apply{tag}: {exc}", title="voicebot-sync apply")
    hint = ("Review the plan, then set `force: true` to apply it anyway." if isinstance(exc, UnsafePlan)
            else AGAIN if reviewed is not None else "")
    lines = [f"**Refusing to apply{md_text(tag)}** (nothing was changed):",
             md_code_block(f"{exc}", "text"), *([hint] if hint else [])]
    plan = _load(plan_path)
    if plan is not None:
        lines.append(summary_markdown(plan, None, title=f"The plan it would have applied{tag}", share=share))
    return lines


def _result_lines(runner: Runner, result, tag: str, reviewed: Reviewed | None,
                  section: str | None) -> tuple[int, list[str]]:
    """An environment that ran: its exit code (annotated unless merely incomplete), and its summary lines."""
    from ..output.progress import describe_outcome, summary_lines

    plan, report = result.plan, result.report
    try:
        result.raise_for_outcome()
        code_ = EXIT["ok"]
    except VoicebotSyncError as outcome:
        code_ = exit_code(outcome)
        if outcome.exit_code != EXIT["incomplete"]:
            runner.error(f"{outcome}{tag}", title="voicebot-sync apply")
    lines: list[str] = []
    if reviewed is not None:
        lines.append(reviewed_note(reviewed.number, reviewed.section(section), plan))
    if not plan.has_changes:
        # The plan's own summary: unmanaged workflows are never hidden behind "matches".
        lines.append("**No changes.** The remote matches the definitions." if not plan.unmanaged
                     else md_text(plan.summary_line()))
    elif report is not None:
        lines.append(md_code_block("\n".join(summary_lines(report)), "text"))
        done = [o for o in report.outcomes if o.status != "failed"]
        if done:
            lines.append(f"<details><summary>Done ({len(done)})</summary>\n\n"
                         + md_code_block("\n".join(describe_outcome(o) for o in done), "text") + "\n\n</details>")
    return code_, lines


def _outputs(runner: Runner, code_: int, results) -> int:
    reports = [r.report for _, r, _ in results if r is not None and r.report is not None]
    done = [r for _, r, _ in results if r is not None]
    runner.set_output("exit-code", code_)
    runner.set_output("complete", bool(results) and code_ == EXIT["ok"] and all(r.complete for r in reports))
    runner.set_output("changes", any(r.plan.has_changes for r in done))
    for status, output in (("created", "create"), ("updated", "update"), ("deleted", "delete")):
        runner.set_output(output, sum(r.count(status) for r in reports))
    runner.set_output("failed", sum(len(r.failed) + len(r.uncertain) for r in reports))
    runner.set_output("remaining", sum(len(r.remaining) for r in reports))
    if len(done) == 1:
        path = os.path.join(runner.workdir(), "applied.json")
        done[0].plan.dump(path)
        runner.set_output("plan-file", path)
        runner.set_output("plan-fingerprint", done[0].plan.plan_fingerprint)
    elif done:
        runner.set_output("plan-fingerprint", " ".join(f"{env}={r.plan.plan_fingerprint}"
                                                       for env, r, _ in results if r is not None))
    return code_
