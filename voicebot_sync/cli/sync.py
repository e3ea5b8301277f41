"""plan, apply, drift, export: the commands that talk to the API (faces over ``commands/``)."""

from __future__ import annotations

import json
import sys

import click

from ..errors import EXIT, Refused, UsageError, VoicebotSyncError
from .app import EXIT_CHANGES, main
# Light (re and the error tree): the one runner over environments, shared with the Action.
from ..commands.environments import each_environment as _each_environment
from ..errors import exit_code_of as _code_of, worst
from .options import (
    _color,
    _environments,
    _from_command_line,
    _events,
    _plan_env,
    _report_failure,
    _settings,
    _with_max_wait,
    connection_options,
    max_wait_option,
    paths_argument,
)


def _render_plan(plan, fmt: str, settings) -> str:
    from ..output.markdown import render_markdown
    from ..output.render import render_json
    from ..output.text import render_text

    if fmt == "json":
        return render_json(plan)
    if fmt == "markdown":
        title = f"voicebot-sync plan ({plan.env})" if plan.env else "voicebot-sync plan"
        examples, limits = plan.previews()
        return render_markdown(plan, rate_limit=settings.rate_limit, title=title, examples=examples, limits=limits)
    return render_text(plan, rate_limit=settings.rate_limit, color=_color(sys.stdout))


@main.command()
@paths_argument
@click.option("--prune", is_flag=True, help="Plan to delete remote workflows that no definition matches.")
@click.option("--format", "fmt", type=click.Choice(["text", "json", "markdown"]), default="text", show_default=True)
@click.option("--out", "out_file", type=click.Path(dir_okay=False), help="Save the plan as JSON for `apply --plan`.")
@click.option("--detailed-exitcode", is_flag=True, help="Exit 0 with no changes, 2 with changes, 1 on error.")
@max_wait_option
@connection_options
def plan(paths, prune, fmt, out_file, detailed_exitcode, max_wait, api_url, api_key, rate_limit, insecure, verbose,
         config_file, env_name, all_envs, no_config):
    """Show what apply would do (lists the remote with one request)."""
    from ..commands.plan import plan as make

    given = dict(paths=paths, prune=prune, api_url=api_url, api_key=api_key, rate_limit=rate_limit,
                 insecure=insecure, config_file=config_file)
    envs = _environments(env_name, all_envs, config_file)
    if envs:
        if out_file:
            raise UsageError("--out saves one plan: give one --env")
        return _plan_environments(envs, given, fmt, detailed_exitcode, verbose, max_wait)
    settings = _with_max_wait(_settings(need_key=True, env_name=env_name, **given), max_wait)
    the_plan = make(settings, _events(verbose=verbose))
    if out_file:
        the_plan.dump(out_file)
    click.echo(_render_plan(the_plan, fmt, settings), nl=False)
    if out_file and fmt == "text":
        click.echo(f"Saved the plan to {out_file}: apply it with `voicebot-sync apply --plan {out_file}`.")
    if detailed_exitcode and the_plan.has_changes:
        sys.exit(EXIT_CHANGES)


def _plan_environments(envs, given, fmt, detailed_exitcode, verbose, max_wait) -> None:
    from ..commands.plan import plan as make
    from ..text.escaping import visible

    settings_of = {env: _with_max_wait(_settings(need_key=True, env=env, **given), max_wait) for env in envs}
    results = _each_environment(envs, lambda env: make(settings_of[env], _events(verbose=verbose, prefix=f"[{env}] ")))
    codes = []
    documents = {}
    for env, the_plan, exc in results:
        if exc is not None:
            _report_failure(env, exc)
            codes.append(_code_of(exc))
            continue
        codes.append(EXIT_CHANGES if detailed_exitcode and the_plan.has_changes else EXIT["ok"])
        if fmt == "json":
            documents[env] = the_plan.to_json()
        elif fmt == "markdown":
            click.echo(_render_plan(the_plan, fmt, settings_of[env]))
        else:
            click.echo(f"== environment {visible(env)} ==")
            click.echo(_render_plan(the_plan, fmt, settings_of[env]))
    if fmt == "json":
        click.echo(json.dumps({"format_version": 1, "environments": documents}, indent=2, ensure_ascii=False))
    elif fmt == "text":
        parts = [f"{visible(env)}: {p.summary_line() if p else 'failed'}" for env, p, _ in results]
        click.echo("Environments: " + "; ".join(parts))
    code = worst(codes)
    if code:
        sys.exit(code)


@main.command()
@paths_argument
@click.option("--prune", is_flag=True, help="Delete remote workflows that no definition matches.")
@click.option("--yes", "-y", is_flag=True, help="Apply without asking (required without a terminal).")
@click.option("--plan", "plan_file", type=click.Path(dir_okay=False),
              help="Apply exactly this saved plan (asks like any apply: --yes in CI); refused if the remote changed.")
@click.option("--force", is_flag=True, help="Apply past the delete/update share guards.")
@click.option("--reviewed", "reviewed_file", type=click.Path(dir_okay=False),
              help="Refuse any change not in this reviewed plan (a plan JSON, or change fingerprints one per line).")
@click.option("--out", "out_file", type=click.Path(dir_okay=False), help="Save the plan it is about to apply as JSON.")
@click.option("--max-duration", help="Start no operation that could not begin within this time (e.g. 5h30m); exit 3 if stopped.")
@click.option("--log-file", type=click.Path(dir_okay=False), help="Append one JSON line per request (never the key).")
@click.option("--format", "fmt", type=click.Choice(["text", "json"]), default="text", show_default=True,
              help="json: the result report as one JSON object on stdout (progress goes to stderr).")
@click.option("--lock-timeout", default="10m", show_default=True,
              help="How long to wait for another apply against the same account to finish (0: refuse at once).")
@click.option("--settle-time", type=click.FloatRange(0, 600),
              help="Seconds a list may lag behind writes: a lost create is looked for this long before it is sent again.  [default: 10]")
@connection_options
def apply(paths, prune, yes, plan_file, force, reviewed_file, out_file, max_duration, log_file, fmt, lock_timeout,
          settle_time, api_url, api_key, rate_limit, insecure, verbose, config_file, env_name, all_envs, no_config):
    """Make the remote match the definitions: creates, then updates, then deletes."""
    from ..commands.apply import ApplyOptions
    from ..core.schedule import parse_duration
    from ..output.progress import RequestLog

    envs = _environments(env_name, all_envs, config_file)
    if plan_file:
        # A saved plan is applied exactly as it was made: nothing may reshape it.
        ctx = click.get_current_context()
        given = [name for param, name in (("paths", "PATH arguments"), ("prune", "--prune"), ("env_name", "--env"),
                                          ("all_envs", "--all-environments"))
                 if _from_command_line(ctx, param) and ctx.params.get(param)]
        if given:
            raise UsageError(f"apply --plan applies the saved plan exactly: {', '.join(given)} cannot change it "
                             "(the plan records its environment); make a new plan instead")
    from ..commands.common import reviewed_changes
    from ..core.plan import Plan

    options = ApplyOptions(
        saved=Plan.load(plan_file) if plan_file else None, saved_from=plan_file or "the saved plan",
        reviewed=reviewed_changes(reviewed_file) if reviewed_file else None,
        reviewed_from=f"the reviewed plan ({reviewed_file})", out_file=out_file, force=force,
        max_duration=parse_duration(max_duration) if max_duration else None,
        lock_wait=parse_duration(lock_timeout) if str(lock_timeout).strip() not in ("0", "0s") else 0.0,
    )
    given = dict(paths=paths, prune=prune, api_url=api_url, api_key=api_key, rate_limit=rate_limit,
                 insecure=insecure, config_file=config_file, settle_time=settle_time)
    log = RequestLog(log_file) if log_file else None
    try:
        if envs:
            if out_file:
                raise UsageError("--out saves one plan: give one --env")
            return _apply_environments(envs, given, options, yes, fmt, verbose, log)
        settings = _settings(need_key=True, env_name=env_name, env_from_plan=_plan_env(plan_file) if plan_file else None,
                             **given)
        _apply_one(settings, options, yes, fmt, verbose, log)
    finally:
        if log:
            log.close()


def _apply_one(settings, options, yes: bool, fmt: str, verbose: bool, log) -> None:
    from ..commands.apply import apply as run
    from ..output.progress import events_for
    from ..output.text import render_text

    out = sys.stderr if fmt == "json" else sys.stdout
    events = events_for(out, terminal=out.isatty() and fmt != "json")

    def confirm(the_plan) -> None:
        if fmt != "json":
            click.echo(render_text(the_plan, rate_limit=settings.rate_limit, color=_color(sys.stdout)), nl=False)
        _confirm(the_plan, yes)

    from ..apply.stop import StopSignal

    result = run(settings, options, _events(verbose=verbose, log=log), progress=events, confirm=confirm,
                 stop=StopSignal(on_tick=events.tick), stop_hint="press Ctrl-C again to stop at once")
    if fmt == "json" and result.report is not None:
        click.echo(json.dumps({"format_version": 1, **result.report.to_json()}, indent=2))
    if not result.plan.has_changes and fmt != "json":
        # The view plan shows: unmanaged workflows and the --prune hint are never hidden.
        click.echo(render_text(result.plan, rate_limit=settings.rate_limit, color=_color(sys.stdout)), nl=False)
    result.raise_for_outcome()


def _apply_environments(envs, given, options, yes: bool, fmt: str, verbose: bool, log) -> None:
    """Several environments at once: each its own lock, journal, client and budget; one combined report."""
    from ..commands.apply import apply as run
    from ..text.escaping import visible
    from ..output.progress import LineEvents, Prefixed
    from ..output.text import render_text
    from ..apply.stop import StopSignal

    if not yes and options.saved is None:
        raise Refused("several environments are applied without a question per environment: review their plans "
                      "with `voicebot-sync plan --env ...`, then pass --yes")
    settings_of = {env: _settings(need_key=True, env=env, **given) for env in envs}
    out = sys.stderr if fmt == "json" else sys.stdout
    stop = StopSignal()

    def work(env):
        prefix = f"[{env}] "
        stream = Prefixed(out, prefix)
        events = LineEvents(stream)

        def show(the_plan) -> None:
            # Each environment's plan, as one environment shows it (--yes skips only the question).
            if fmt != "json":
                stream.write(render_text(the_plan, rate_limit=settings_of[env].rate_limit))
                stream.flush()

        result = run(settings_of[env], options, _events(verbose=verbose, log=log, prefix=prefix), progress=events,
                     stop=stop, confirm=show)
        if not result.plan.has_changes:
            show(result.plan)
        return result

    with stop.handling_signals():
        results = _each_environment(envs, work)
    codes, documents, parts = [], {}, []
    for env, result, exc in results:
        if exc is not None:
            _report_failure(env, exc)
            codes.append(_code_of(exc))
            parts.append(f"{visible(env)}: failed")
            continue
        try:
            result.raise_for_outcome()
            codes.append(EXIT["ok"])
        except VoicebotSyncError as outcome:
            codes.append(outcome.exit_code)
            click.echo(f"error: [{visible(env)}] {outcome}", err=True)
        report = result.report
        documents[env] = report.to_json() if report else None
        parts.append(f"{visible(env)}: " + ("no changes" if not result.plan.has_changes else
                                            ("complete" if report.complete else "not finished")))
    if fmt == "json":
        click.echo(json.dumps({"format_version": 1, "environments": documents}, indent=2))
    else:
        click.echo("Environments: " + "; ".join(parts))
    code = worst(codes)
    if code:
        sys.exit(code)


def _confirm(plan, yes: bool) -> None:
    if yes:
        return
    if not sys.stdin.isatty():
        raise Refused("not applying: no terminal to confirm on; pass --yes to apply without a question")
    try:
        answer = click.confirm(f"Apply these {len(plan.changes)} changes?", default=False)
    except click.Abort:
        raise Refused("not applied: interrupted at the question; nothing was changed") from None
    if not answer:
        raise Refused("not applied: nothing was changed")


@main.command()
@click.option("--out-dir", required=True, type=click.Path(file_okay=False), help="Where to write one YAML file per workflow.")
@click.option("--with-ids", is_flag=True, help="Pin each file to its remote workflow with `id:` (renames become updates).")
@click.option("--force", is_flag=True, help="Write into a directory that already holds definitions (overwriting files).")
@max_wait_option
@connection_options
def export(out_dir, with_ids, force, max_wait, api_url, api_key, rate_limit, insecure, verbose, config_file, env_name,
           no_config):
    """Write the remote workflows as definition files (a plan of them shows no changes)."""
    from ..commands.export import export as run
    from ..text.escaping import visible

    settings = _with_max_wait(_settings(need_key=True, api_url=api_url, api_key=api_key, rate_limit=rate_limit,
                                        insecure=insecure, config_file=config_file, env_name=env_name), max_wait)
    written = run(settings, out_dir, with_ids=with_ids, force=force, events=_events(verbose=verbose))
    names: dict[str, list[str]] = {}
    for path, w in written:
        click.echo(f"wrote {visible(path)}")
        names.setdefault(str(w.get("name")), []).append(str(w["id"]))
    click.echo(f"Exported {len(written)} workflow{'s' if len(written) != 1 else ''} to {out_dir}.")
    from ..text.escaping import unsafe_characters

    for path, w in written:
        texts = [str(w.get("name") or "")] + [str(w.get(f) or "").replace("\n", "").replace("\t", "")
                                               for f in ("description", "message")]
        if any(unsafe_characters(text) for text in texts):
            # Written all the same: a file left out would make --prune delete the workflow.
            click.echo(f"warning: {visible(path)}: the remote workflow holds control or bidi characters that "
                       "validate refuses; rename or edit it (remotely or in the file) before a plan of it can run",
                       err=True)
    for name, ids in names.items():
        if len(ids) > 1:
            click.echo(f"warning: {len(ids)} remote workflows are named {visible(name)!r} ({', '.join(ids)}): "
                       "names must be unique in the repo; if they are identical, plan adopts one and --prune "
                       "deletes the others; otherwise keep one file, pin it with id:, and delete the rest", err=True)



@main.command()
@paths_argument
@click.option("--format", "fmt", type=click.Choice(["text", "json", "markdown"]), default="text", show_default=True)
@click.option("--out", "out_file", type=click.Path(dir_okay=False), help="Also write the report to this file (for an issue body).")
@max_wait_option
@connection_options
def drift(paths, fmt, out_file, max_wait, api_url, api_key, rate_limit, insecure, verbose, config_file, env_name,
          all_envs, no_config):
    """Report remote changes made outside git (exit 2 when there is drift), for scheduled jobs."""
    from ..commands.drift import drift as run
    from ..text.sinks import write_text
    from ..output.drift import render_drift_markdown, render_drift_text

    given = dict(paths=paths, api_url=api_url, api_key=api_key, rate_limit=rate_limit, insecure=insecure,
                 config_file=config_file)
    envs = _environments(env_name, all_envs, config_file)
    renderers = {"json": lambda r: json.dumps({"format_version": 1, **r}, indent=2, ensure_ascii=False) + "\n",
                 "markdown": render_drift_markdown, "text": render_drift_text}
    if envs:
        settings_of = {env: _with_max_wait(_settings(need_key=True, env=env, **given), max_wait) for env in envs}
        results = _each_environment(envs, lambda env: run(settings_of[env], _events(verbose=verbose, prefix=f"[{env}] ")))
        codes, parts, documents = [], [], {}
        for env, report, exc in results:
            if exc is not None:
                _report_failure(env, exc)
                codes.append(_code_of(exc))
                continue
            codes.append(EXIT_CHANGES if report["drift"] else EXIT["ok"])
            documents[env] = report
            if fmt != "json":
                parts.append((f"== environment {env} ==\n" if fmt == "text" else "") + renderers[fmt](report))
        text = (json.dumps({"format_version": 1, "environments": documents}, indent=2, ensure_ascii=False) + "\n"
                if fmt == "json" else "\n".join(parts))
        code = worst(codes)
    else:
        report = run(_with_max_wait(_settings(need_key=True, env_name=env_name, **given), max_wait),
                     _events(verbose=verbose))
        text = renderers[fmt](report)
        code = EXIT_CHANGES if report["drift"] else EXIT["ok"]
    click.echo(text, nl=False)
    if out_file:
        write_text(out_file, text)
    if code:
        sys.exit(code)


