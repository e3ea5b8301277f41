"""The action's steps validate, plan and drift, calling the commands in-process (``commands.*``),
and what every step shares: events into the log, one run per environment, typed errors into
annotations, summary text and exit codes (``errors.EXIT`` and each error's ``exit_code``)."""

from __future__ import annotations

import json
import os
from typing import Any, Sequence

from ..commands.environments import each_environment as run_each  # noqa: F401 - the steps' name for it
from ..errors import EXIT, ValidationError
from ..errors import exit_code_of as exit_code, worst  # noqa: F401 - shared with the CLI
from ..text.escaping import md_text, visible
from .comment import failure_body, marker_for, refusal_note, sections_body, upsert_comment
from .inputs import environments, settings_for, _settings_environ
from .rest import GitHubError, api_from
from .runner import DEFAULT_TRUSTED_COMMENTER, SUMMARY_LIMIT, Runner, annotation, code

def log_events(runner: Runner, prefix: str = ""):
    """Events (core.events) that put the command's notes, and its waits of 5 seconds or more, into the log."""
    from ..core.events import Events
    from ..output.progress import wait_line

    class Log(Events):
        def note(self, text: str) -> None:
            runner.note(prefix + visible(text))

        def wait(self, seconds: float, why: str) -> None:
            line = wait_line(seconds, why)
            if line:
                runner.note(prefix + line)

    return Log()


def prefix_of(env: str | None, envs: Sequence[str | None]) -> str:
    return f"[{env}] " if env and len(envs) > 1 else ""


def describe_failure(runner: Runner, exc: Exception, command: str, env: str | None = None, *, limit: int = 50,
                     level: str = "error") -> str:
    """Annotate a failure and describe it in Markdown: each validation problem becomes an annotation
    on its file and line (and a line of the log); anything else one annotation and one quoted line."""
    tag = f" ({env})" if env else ""
    parts = [f"> {md_text(str(exc) + tag)}"]
    if isinstance(exc, ValidationError):
        for p in exc.problems:
            runner.log(visible(f"{p.file}:{p.line}: {p.message}" if p.line else f"{p.file}: {p.message}"))
            runner.command(annotation("error", p.file, p.line, p.message))
        problems = [str(p) if p.line else f"{p.file}: {p.message}" for p in exc.problems]
        more = [f"- … and {len(problems) - limit} more (see the log)"] if len(problems) > limit else []
        parts.append("\n".join([*(f"- {code(p)}" for p in problems[:limit]), *more]))
        parts += rule_notes(runner, getattr(exc, "findings", None) or [])  # the warnings and waivers too
    else:
        runner.note(f"error: {tag.strip() + ' ' if tag else ''}{visible(exc)}")
        runner.error(str(exc), title=f"voicebot-sync {command}{tag}", level=level)
    if (runner.event_name.startswith("pull_request") and "API key" in str(exc)
            and not any(k.endswith("_KEY") and v for k, v in runner.env.items() if k.startswith("VOICEBOT_"))):
        parts.append("_Pull requests from forks get no secrets, so there is no API key to plan with._")
    return "\n\n".join(parts)


def rule_notes(runner: Runner, findings) -> list[str]:
    """Team-rule warnings as warning annotations, and every warning and waiver as one Markdown block."""
    from ..core.rules import shown
    from ..output.ruleview import markdown_block

    findings = shown(findings)
    for f in findings:
        if f.status == "broken":
            runner.command(annotation("warning", f.source, f.line, f.text()))
    block = markdown_block(findings)
    return [block] if block else []


def summary_markdown(plan, rate_limit: str | None, title: str = "voicebot-sync plan", share: int = 1) -> str:
    """The Markdown plan (render's own, cut by render on block boundaries) sized for a job summary."""
    from ..output.markdown import render_markdown

    limit = (SUMMARY_LIMIT - 10_000) // max(share, 1)  # room for the notes that follow it
    text, chars, cut = render_markdown(plan, rate_limit=rate_limit, title=title, **_previews(plan)), None, False
    while len(data := text.encode("utf-8", "backslashreplace")) > limit:
        chars = min(len(text), limit) * limit // len(data) - 1_000
        text, cut = render_markdown(plan, rate_limit=rate_limit, title=title, **_previews(plan), max_chars=max(chars, 1_000)), True
        if chars <= 1_000:
            break
    if cut:
        text += ("\n_The job summary holds only part of this plan: the full plan is in this step's log and in the "
                 "plan file (output `plan-file`)._\n")
    if plan.refusal:
        text += "\n" + refusal_note(plan) + "\n"
    return text


def title_for(command: str, env: str | None) -> str:
    return f"voicebot-sync {command} ({env})" if env else f"voicebot-sync {command}"


def plan_outputs(runner: Runner, plans: Sequence[tuple[str | None, Any]]) -> None:
    """changes/create/update/delete (summed over environments), plan-file and plan-fingerprint."""
    workdir = runner.workdir()
    if len(plans) == 1:
        env, plan = plans[0]
        path = os.path.join(workdir, "plan.json")
        plan.dump(path)
        fingerprint = plan.plan_fingerprint
    else:
        path = os.path.join(workdir, "plans.json")
        with open(path, "w", encoding="utf-8") as fh:
            json.dump({"format_version": 1, "environments": {env: p.to_json() for env, p in plans}}, fh, indent=2)
        fingerprint = " ".join(f"{env}={p.plan_fingerprint}" for env, p in plans)
    runner.set_output("changes", any(p.has_changes for _, p in plans))
    for action in ("create", "update", "delete"):
        runner.set_output(action, sum(p.summary[action] for _, p in plans))
    runner.set_output("plan-file", path)
    runner.set_output("plan-fingerprint", fingerprint)


# -- validate --------------------------------------------------------------------------


def step_validate(runner: Runner, transport=None) -> int:
    from ..commands.validate import validate
    from ..read.settings import config_environments

    envs = environments(runner)
    listed = [e for e in envs if e]

    def work(env):
        settings = settings_for(runner, env, need_key=False)
        known = config_environments(runner.env.get("VOICEBOT_SYNC_CONFIG"), _settings_environ(runner.env), os.getcwd())
        return validate(settings, known)

    results = run_each(envs, work)
    failed = [(env, exc) for env, _, exc in results if exc is not None]
    code_ = worst([exit_code(exc) for _, _, exc in results])
    runner.set_output("exit-code", code_)
    if failed:
        parts = [describe_failure(runner, exc, "validate", env if len(envs) > 1 else None, limit=200) for env, exc in failed]
        runner.summary("### voicebot-sync validate failed\n\n" + "\n\n".join(parts))
        return code_
    result = results[-1][1]
    for note in result.skipped:
        runner.note(f"note: {visible(note)}")
    under = result.environments or listed
    line = (f"{result.definitions} definition{'s' if result.definitions != 1 else ''} in {result.files} "
            f"file{'s' if result.files != 1 else ''}: valid")
    runner.log(line + (f" (and under {', '.join(visible(e) for e in under)})." if under else "."))
    runner.summary(f"### voicebot-sync validate\n\n{line}"
                   + (f" (and under {', '.join(md_text(e) for e in under)})." if under else ".")
                   + "".join("\n\n" + block for block in rule_notes(runner, result.findings)))
    return EXIT["ok"]


# -- plan ------------------------------------------------------------------------------


def make_plans(runner: Runner, envs: Sequence[str | None]):
    """Each environment's plan, in-process (``commands.plan``): [(env, (settings, plan) or None, error)]."""
    from ..commands.plan import plan

    def work(env):
        settings = settings_for(runner, env)
        return settings, plan(settings, log_events(runner, prefix_of(env, envs)))

    return run_each(envs, work)


def step_plan(runner: Runner, transport=None) -> int:
    """Plan every environment; the summary and one PR comment with a section per environment."""
    from ..output.text import render_text

    if runner.merge_group is not None:
        from .merge_queue import step_merge_group

        return step_merge_group(runner, transport)
    envs = environments(runner)
    results = make_plans(runner, envs)
    marker = marker_for(runner, [e for e in envs if e])
    comment = runner.pull_request_number if runner.flag("COMMENT", "true") else None
    failed = [(env, exc) for env, _, exc in results if exc is not None]
    if failed:
        code_ = worst([exit_code(exc) for _, exc in failed])
        runner.set_output("exit-code", code_)
        problems = "\n\n".join(describe_failure(runner, exc, "plan", env if len(envs) > 1 else None) for env, exc in failed)
        runner.summary(f"### voicebot-sync plan failed\n\n{problems}")
        for env, found, _ in results:
            if found is not None:
                settings, plan = found
                runner.summary(summary_markdown(plan, settings.rate_limit, title_for("plan", env), len(envs)))
        if comment:
            post(runner, transport, comment, failure_body(marker, problems, runner.run_url, runner.head_sha), marker)
        return code_
    plans = [(env, found[1]) for env, found, _ in results]
    rate_limit = results[0][1][0].rate_limit
    for env, (settings, plan), _ in results:
        if len(envs) > 1:
            runner.log(f"== environment {visible(env)} ==")
        runner.log(render_text(plan, rate_limit=settings.rate_limit))
        runner.summary(summary_markdown(plan, settings.rate_limit, title_for("plan", env), len(envs)))
        rule_notes(runner, plan.rule_findings)  # annotations; the Markdown plan lists them already
        if plan.refusal:
            runner.error(f"apply would refuse this plan: {plan.refusal}", title=title_for("plan", env), level="warning")
    runner.set_output("exit-code", EXIT["ok"])
    plan_outputs(runner, plans)
    if comment:
        sections = plans if len(envs) > 1 else [(None, plans[0][1])]
        post(runner, transport, comment, sections_body(sections, marker, rate_limit, runner.run_url, runner.head_sha),
             marker)
    return EXIT["ok"]


def post(runner: Runner, transport, number: int, body: str, marker: str) -> None:
    """Create or update the plan comment; say how it went in the summary and the log."""
    notes: list[str] = []
    note = comment_on(api_from(runner, transport), number, body, marker, runner.trusted_commenter, notes)
    for text in (*notes, note):
        runner.summary(text)
        runner.log(text)


def comment_on(api, number: int, body: str, marker: str, trusted: str = DEFAULT_TRUSTED_COMMENTER, notes: list[str] | None = None) -> str:
    if api is None:
        return "_No GitHub token: the plan was not posted on the pull request._"
    try:
        return f"_Plan comment {upsert_comment(api, number, body, marker, trusted, notes)} on #{number}._"
    except GitHubError as exc:
        if exc.status in (403, 404):
            # Forks get a read-only token; the plan is still in this summary.
            return (f"_This token may not comment on #{number} (HTTP {exc.status}, e.g. a pull request from a fork, or "
                    "no `pull-requests: write` permission): the plan is only in this summary._")
        return f"_Could not post the plan on #{number}: {md_text(exc)}_"
    finally:
        api.close()


# -- drift -----------------------------------------------------------------------------


def step_drift(runner: Runner, transport=None) -> int:
    """``drift`` for every environment: the Markdown report into the summary, output ``drift``; passes on
    drift (a warning annotation) unless ``fail-on-drift``, fails (its exit code) when a report could not be made."""
    from ..commands.drift import drift
    from ..output.drift import render_drift_markdown, render_drift_text

    envs = environments(runner)
    results = run_each(envs, lambda env: drift(settings_for(runner, env), log_events(runner, prefix_of(env, envs))))
    failed = [(env, exc) for env, _, exc in results if exc is not None]
    if failed:
        code_ = worst([exit_code(exc) for _, exc in failed])
        runner.set_output("exit-code", code_)
        problems = "\n\n".join(describe_failure(runner, exc, "drift", env if len(envs) > 1 else None) for env, exc in failed)
        runner.summary(f"### voicebot-sync drift failed\n\n{problems}")
        return code_
    found = any(report["drift"] for _, report, _ in results)
    runner.set_output("exit-code", EXIT["changes"] if found else EXIT["ok"])
    runner.set_output("drift", found)
    for env, report, _ in results:
        if len(envs) > 1:
            runner.log(f"== environment {visible(env)} ==")
        runner.log(render_drift_text(report))
        runner.summary(render_drift_markdown(report))
    if found:
        runner.error("Drift: the remote differs from the definitions (changed outside git); see the job summary",
                     title="voicebot-sync drift", level="warning")
        if runner.flag("FAIL_ON_DRIFT"):
            return EXIT["changes"]
    return EXIT["ok"]


def _previews(plan) -> dict:
    """Each created or changed message as a patient hears it (when the plan knows its definitions)."""
    examples, limits = plan.previews()
    return {"examples": examples, "limits": limits}
