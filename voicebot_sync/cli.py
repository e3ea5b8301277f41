"""The command line: options -> one library call -> rendering -> exit code.

Heavy imports (httpx, jsonschema, deepdiff) happen inside the commands that need
them, so ``--help`` and ``--version`` start at once.
"""

from __future__ import annotations

import json
import os
import sys
from typing import Any

import click

from . import __version__
from .errors import (
    EXIT,
    ConfigError,
    Problem,
    Refused,
    UsageError,
    ValidationError,
    VoicebotSyncError,
)

EXIT_CHANGES = EXIT["changes"]


class VoicebotCli(click.Group):
    """One error handler for the whole tool: every outcome is one line and a code from ``errors.EXIT``.

    Expected failures (our tree, usage errors) print ``error: …`` and exit 1 (or
    their own code); anything else is a bug: one line naming a log file that holds
    the traceback, exit 70. Output leaves only through the doors (``doors.install``):
    redacted, and escaped for the terminal or the Actions log."""

    def main(self, args=None, prog_name=None, complete_var=None, standalone_mode=True, **extra):
        from . import doors

        previous = doors.install()
        try:
            code = self._run(args, prog_name, complete_var, **extra)
        finally:
            with _quiet_pipe():
                sys.stdout.flush()
            sys.stdout, sys.stderr = previous
        if standalone_mode:
            sys.exit(code)
        return code

    def _run(self, args, prog_name, complete_var, **extra) -> int:
        try:
            result = super().main(args, prog_name, complete_var, standalone_mode=False, **extra)
            return result if isinstance(result, int) else EXIT["ok"]
        except click.exceptions.Exit as exc:
            return exc.exit_code
        except click.UsageError as exc:
            hint = " (see --help)"
            if exc.ctx is not None:
                hint = f" (see {exc.ctx.command_path} --help)"
            _error(f"{exc.format_message()}{hint}")
            return EXIT["error"]
        except click.Abort:
            _error("aborted: nothing was changed")
            return EXIT["error"]
        except ValidationError as exc:
            _print_problems(exc)
            _error(str(exc))
            return exc.exit_code
        except VoicebotSyncError as exc:
            _error(str(exc))
            return exc.exit_code
        except (BrokenPipeError, click.exceptions.ClickException) as exc:
            if isinstance(exc, click.exceptions.ClickException):
                _error(exc.format_message())
                return EXIT["error"]
            _silence_stdout()  # the reader went away (`| head`): nothing more to say
            return EXIT["ok"]
        except KeyboardInterrupt:
            _error("interrupted: stopped at once; run plan to see what remains")
            return EXIT["interrupted"]
        except SystemExit as exc:
            return exc.code if isinstance(exc.code, int) else EXIT["error"]
        except Exception as exc:  # a bug: one line here, the traceback in a log
            return _internal_error(exc)


def _error(line: str) -> None:
    with _quiet_pipe():
        click.echo(f"error: {line}", err=True)


def _quiet_pipe():
    import contextlib

    return contextlib.suppress(BrokenPipeError, ValueError, OSError)


def _silence_stdout() -> None:
    # Python would complain about the broken pipe again at exit.
    with _quiet_pipe():
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.__stdout__.fileno())


def _internal_error(exc: BaseException) -> int:
    import datetime
    import traceback

    from .doors import write_text
    from .statedir import state_dir

    text = "".join(traceback.format_exception(type(exc), exc, exc.__traceback__))
    stamp = datetime.datetime.now(datetime.timezone.utc).strftime("%Y%m%dT%H%M%S")
    where = "no log could be written"
    for folder in (lambda: state_dir("logs"), lambda: __import__("tempfile").gettempdir()):
        try:
            path = os.path.join(folder(), f"crash-{stamp}-{os.getpid()}.log")
            write_text(path, f"voicebot-sync {__version__}\n{text}")
            where = f"details in {path}"
            break
        except OSError:
            continue
    _error(f"unexpected error: {type(exc).__name__}: {str(exc).splitlines()[0][:200] if str(exc) else ''}; "
           f"{where} (please report it)")
    return EXIT["internal"]


def _print_problems(exc: ValidationError) -> None:
    from .doors import workflow_command
    from .escaping import actions_data, actions_property, visible

    github = os.environ.get("GITHUB_ACTIONS") == "true"
    for problem in exc.problems:
        where = f"{problem.file}:{problem.line}" if problem.line else problem.file
        click.echo(visible(f"{where}: {problem.message}"))
        if github:
            line = f",line={problem.line}" if problem.line else ""
            workflow_command(f"::error file={actions_property(problem.file)}{line}::{actions_data(problem.message)}")


# -- shared options --------------------------------------------------------------


def connection_options(f):
    """--api-url, --api-key, --rate-limit, --config, --env, --insecure, -v on every command that talks to the API."""
    options = [
        click.option("--api-url", envvar="VOICEBOT_API_URL", help="API base URL, or 'local' for the built-in emulator.  [env: VOICEBOT_API_URL; default: https://voicebot.intron.health/voicebot/v1]"),
        click.option("--api-key", envvar="VOICEBOT_API_KEY", help="API key (prefer the environment variable).  [env: VOICEBOT_API_KEY]"),
        click.option("--rate-limit", envvar="VOICEBOT_RATE_LIMIT", help="COUNT/DURATION[,...] or off.  [env: VOICEBOT_RATE_LIMIT; default: 6/1m,60/1h]"),
        click.option("--insecure", is_flag=True, default=None, help="Allow http:// to a host other than loopback (the key travels in clear)."),
        click.option("-v", "--verbose", is_flag=True, help="Print each request's method, path, status and time (never the key)."),
    ]
    for option in reversed(options):
        f = option(f)
    return config_options(f)


def _no_color(ctx, param, value):
    if value:
        ctx.find_root().meta["no_color"] = True
    return value


def config_options(f):
    f = click.option("--env", "env_name", envvar="VOICEBOT_ENV",
                     help="An environment of the config file, or several: staging,production.  [env: VOICEBOT_ENV]")(f)
    f = click.option("--all-environments", "all_envs", is_flag=True,
                     help="Every environment of the config file, each with its own key and budget, at once.")(f)
    f = click.option("--config", "config_file", envvar="VOICEBOT_SYNC_CONFIG", type=click.Path(dir_okay=False),
                     help="Config file.  [env: VOICEBOT_SYNC_CONFIG; default: voicebot-sync.yaml if present]")(f)
    f = click.option("--no-config", is_flag=True, help="Read no config file, not even voicebot-sync.yaml.")(f)
    f = click.option("--no-color", is_flag=True, expose_value=False, callback=_no_color, is_eager=True,
                     help="No colours (also NO_COLOR=1 or TERM=dumb).")(f)
    return f


def _settings(need_key: bool = False, env: str | None | bool = False, **given):
    """Resolved settings; only options the user actually gave are passed on (click resolved envvars
    already, but config.load_settings must know the true source, so it re-reads the environment).
    ``env`` (when not False) selects one environment of several."""
    from .config import load_settings

    ctx = click.get_current_context()
    cli: dict[str, Any] = {}
    names = {"api_url": "api_url", "api_key": "api_key", "rate_limit": "rate_limit", "config_file": "config",
             "env_name": "env", "paths": "paths", "prune": "prune", "insecure": "insecure", "settle_time": "settle_time"}
    for param, key in names.items():
        if param not in given:
            continue
        source = ctx.get_parameter_source(param)
        if source == click.core.ParameterSource.COMMANDLINE:
            value = given[param]
            if key == "paths":
                value = list(value) or None
            if key in ("prune", "insecure") and not value:
                continue
            if value is not None:
                cli[key] = value
    if given.get("env_from_plan") and "env" not in cli:
        cli["env"] = given["env_from_plan"]
    environ = os.environ
    if env is not False:
        cli["env"] = env
        environ = {k: v for k, v in os.environ.items() if k != "VOICEBOT_ENV"}
    if ctx.params.get("no_config"):
        cli["no_config"] = True
    return load_settings(cli, environ, os.getcwd(), need_key=need_key)


def _environments(env_name: str | None, all_envs: bool, config_file: str | None) -> list[str] | None:
    """Several environments (``--env a,b`` or ``--all-environments``), or None for the one-environment case."""
    if not all_envs and not (env_name and "," in env_name):
        return None
    if all_envs and env_name and _from_command_line(click.get_current_context(), "env_name"):
        raise UsageError("--all-environments and --env cannot go together")
    if all_envs:
        from .config import config_environments

        names = config_environments(config_file, os.environ, os.getcwd())
        if not names:
            raise UsageError("--all-environments: the config file defines no environments")
        return names
    names = [n.strip() for n in env_name.split(",")]
    if any(not n for n in names) or len(set(names)) != len(names):
        raise UsageError(f"--env {env_name!r}: give distinct names separated by commas, such as staging,production")
    return names


_SEVERITY = [EXIT["ok"], EXIT["changes"], EXIT["incomplete"], EXIT["error"], EXIT["interrupted"], EXIT["internal"]]


def worst(codes) -> int:
    """The exit code of several environments: the most serious of theirs."""
    return max(codes, key=_SEVERITY.index, default=EXIT["ok"])


def _each_environment(envs: list[str], work) -> list[tuple[str, Any, BaseException | None]]:
    """Run ``work(env)`` for every environment at once (each its own client, limiter and ledger)."""
    from concurrent.futures import ThreadPoolExecutor

    def guarded(env):
        try:
            return env, work(env), None
        except VoicebotSyncError as exc:
            return env, None, exc

    with ThreadPoolExecutor(max_workers=len(envs)) as pool:
        return list(pool.map(guarded, envs))


def _code_of(exc: BaseException | None) -> int:
    if exc is None:
        return EXIT["ok"]
    return getattr(exc, "exit_code", EXIT["error"])


def _report_failure(env: str, exc: BaseException) -> None:
    from .escaping import visible

    if isinstance(exc, ValidationError):
        _print_problems(exc)
    click.echo(f"error: [{visible(env)}] {exc}", err=True)


def _hooks(*, verbose: bool = False, log=None, prefix: str = ""):
    """How commands talk to this face: notes and retries on stderr, -v request lines, --log-file."""
    from .commands.common import Hooks
    from .durations import format_seconds
    from .escaping import visible

    hooks = [h for h in ((_verbose_printer(prefix) if verbose else None), log) if h]

    def request(record):
        for hook in hooks:
            hook(record)

    def retry(text: str, wait: float) -> None:
        click.echo(f"{prefix}retrying in {format_seconds(wait)}: {visible(text)}", err=True)

    return Hooks(note=lambda text: click.echo(prefix + visible(text), err=True), wait=_wait_printer(prefix=prefix),
                 request=request if hooks else None, retry=retry)


def _verbose_printer(prefix: str = ""):
    def show(record) -> None:
        status = record.status if record.status is not None else "no answer"
        click.echo(f"{prefix}  {record.method} {record.path} -> {status} ({record.seconds * 1000:.0f} ms)", err=True)

    return show


def _wait_printer(threshold: float = 5.0, prefix: str = ""):
    """A line for every wait a person would otherwise take for a hang."""
    from .durations import format_seconds
    from .escaping import visible

    def on_wait(seconds: float, why: str) -> None:
        if seconds >= threshold:
            click.echo(f"{prefix}waiting {format_seconds(seconds)}: {visible(why)}", err=True)

    return on_wait


def paths_argument(f):
    return click.argument("paths", nargs=-1, type=click.Path())(f)


# -- commands --------------------------------------------------------------------


@click.group(cls=VoicebotCli, context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100})
@click.version_option(__version__, "--version", prog_name="voicebot-sync")
def main() -> None:
    """Keep Voicebot workflows in git and make the API match.

    Typical use: `validate` in a pre-commit hook, `plan` in pull-request checks,
    `apply` on merge. Try it with no server and no key: --api-url local.
    Shell completion: eval "$(_VOICEBOT_SYNC_COMPLETE=bash_source voicebot-sync)".
    """


@main.command()
@paths_argument
@click.option("--format", "fmt", type=click.Choice(["text", "json"]), default="text", show_default=True)
@config_options
def validate(paths, fmt, config_file, env_name, all_envs, no_config):
    """Check definition files offline: schema, templates, duplicate names and ids, every environment's overrides."""
    from .commands.validate import validate as run
    from .config import config_environments
    from .escaping import visible

    envs = _environments(env_name, all_envs, config_file)
    settings = _settings(paths=paths, config_file=config_file, env_name=env_name if not envs else None)
    environments = None if no_config else config_environments(config_file, os.environ, os.getcwd())
    if envs:
        result = None
        for env in envs:
            result = run(_settings(paths=paths, config_file=config_file, env=env), environments)
    else:
        result = run(settings, environments)
    for note in result.skipped:
        click.echo(f"note: {visible(note)}", err=True)
    if fmt == "json":
        click.echo(json.dumps({"format_version": 1, "valid": True, "definitions": result.definitions,
                               "files": result.files, "environments": result.environments,
                               "skipped": result.skipped}, indent=2, ensure_ascii=False))
        return
    envs_checked = f" (and under {', '.join(result.environments)})" if result.environments else ""
    click.echo(f"{result.definitions} definition{'s' if result.definitions != 1 else ''} in {result.files} "
               f"file{'s' if result.files != 1 else ''}: valid{envs_checked}.")


def _render_plan(plan, fmt: str, settings) -> str:
    from .render import render_json, render_markdown, render_text

    if fmt == "json":
        return render_json(plan)
    if fmt == "markdown":
        title = f"voicebot-sync plan ({plan.env})" if plan.env else "voicebot-sync plan"
        return render_markdown(plan, rate_limit=settings.rate_limit, title=title)
    return render_text(plan, rate_limit=settings.rate_limit, color=_color(sys.stdout))


@main.command()
@paths_argument
@click.option("--prune", is_flag=True, help="Plan to delete remote workflows that no definition matches.")
@click.option("--format", "fmt", type=click.Choice(["text", "json", "markdown"]), default="text", show_default=True)
@click.option("--out", "out_file", type=click.Path(dir_okay=False), help="Save the plan as JSON for `apply --plan`.")
@click.option("--detailed-exitcode", is_flag=True, help="Exit 0 with no changes, 2 with changes, 1 on error.")
@connection_options
def plan(paths, prune, fmt, out_file, detailed_exitcode, api_url, api_key, rate_limit, insecure, verbose, config_file,
         env_name, all_envs, no_config):
    """Show what apply would do (lists the remote with one request)."""
    from .commands.plan import plan as make

    given = dict(paths=paths, prune=prune, api_url=api_url, api_key=api_key, rate_limit=rate_limit,
                 insecure=insecure, config_file=config_file)
    envs = _environments(env_name, all_envs, config_file)
    if envs:
        if out_file:
            raise UsageError("--out saves one plan: give one --env")
        return _plan_environments(envs, given, fmt, detailed_exitcode, verbose)
    settings = _settings(need_key=True, env_name=env_name, **given)
    the_plan = make(settings, _hooks(verbose=verbose))
    if out_file:
        the_plan.dump(out_file)
    click.echo(_render_plan(the_plan, fmt, settings), nl=False)
    if out_file and fmt == "text":
        click.echo(f"Saved the plan to {out_file}: apply it with `voicebot-sync apply --plan {out_file}`.")
    if detailed_exitcode and the_plan.has_changes:
        sys.exit(EXIT_CHANGES)


def _plan_environments(envs, given, fmt, detailed_exitcode, verbose) -> None:
    from .commands.plan import plan as make
    from .escaping import visible

    settings_of = {env: _settings(need_key=True, env=env, **given) for env in envs}
    results = _each_environment(envs, lambda env: make(settings_of[env], _hooks(verbose=verbose, prefix=f"[{env}] ")))
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
              help="Apply exactly this saved plan, without asking; refused if the remote changed.")
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
    from .commands.apply import ApplyOptions
    from .durations import parse_duration
    from .progress import RequestLog

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
    options = ApplyOptions(
        plan_file=plan_file, reviewed_file=reviewed_file, out_file=out_file, force=force,
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
        _apply_one(settings, options, yes or bool(plan_file), fmt, verbose, log)
    finally:
        if log:
            log.close()


def _apply_one(settings, options, yes: bool, fmt: str, verbose: bool, log) -> None:
    from .commands.apply import apply as run
    from .progress import events_for
    from .render import render_text

    out = sys.stderr if fmt == "json" else sys.stdout
    events = events_for(out, terminal=out.isatty() and fmt != "json")

    def confirm(the_plan) -> None:
        if fmt != "json":
            click.echo(render_text(the_plan, rate_limit=settings.rate_limit, color=_color(sys.stdout)), nl=False)
        _confirm(the_plan, yes)

    from .stop import StopSignal

    result = None
    try:
        result = run(settings, options, _hooks(verbose=verbose, log=log), events=events, confirm=confirm,
                     stop=StopSignal(on_tick=events.tick),
                     on_stop_requested=lambda executor: _first_stop_line(events, executor))
    except KeyboardInterrupt as exc:
        result = getattr(exc, "result", None)
        raise
    finally:
        if result is not None and fmt == "json" and result.report is not None:
            click.echo(json.dumps({"format_version": 1, **result.report.to_json()}, indent=2))
    if not result.plan.has_changes and fmt != "json":
        click.echo("No changes. The remote matches the definitions.")
    result.raise_for_outcome()


def _apply_environments(envs, given, options, yes: bool, fmt: str, verbose: bool, log) -> None:
    """Several environments at once: each its own lock, journal, client and budget; one combined report."""
    from .commands.apply import apply as run
    from .escaping import visible
    from .progress import LineEvents
    from .stop import StopSignal

    if not yes and not options.plan_file:
        raise Refused("several environments are applied without a question per environment: review their plans "
                      "with `voicebot-sync plan --env ...`, then pass --yes")
    settings_of = {env: _settings(need_key=True, env=env, **given) for env in envs}
    out = sys.stderr if fmt == "json" else sys.stdout
    stop = StopSignal()

    def work(env):
        prefix = f"[{env}] "
        events = LineEvents(_Prefixed(out, prefix))
        return run(settings_of[env], options, _hooks(verbose=verbose, log=log, prefix=prefix), events=events, stop=stop)

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


class _Prefixed:
    """A stream that starts every line with ``prefix`` (one environment's progress among several)."""

    def __init__(self, out, prefix: str):
        self.out, self.prefix = out, prefix

    def write(self, text: str) -> int:
        lines = text.split("\n")
        self.out.write("\n".join((self.prefix + line) if line else line for line in lines))
        return len(text)

    def flush(self) -> None:
        self.out.flush()

    def isatty(self) -> bool:
        return False


def _color(stream) -> bool:
    """Colour only on a terminal, and never with NO_COLOR (no-color.org), TERM=dumb or --no-color."""
    if os.environ.get("NO_COLOR") or os.environ.get("TERM") == "dumb":
        return False
    ctx = click.get_current_context(silent=True)
    if ctx is not None and ctx.find_root().meta.get("no_color"):
        return False
    return stream.isatty()


def _from_command_line(ctx, param: str) -> bool:
    return ctx.get_parameter_source(param) == click.core.ParameterSource.COMMANDLINE


def _plan_env(path: str) -> str | None:
    try:
        with open(path, encoding="utf-8") as fh:
            data = json.load(fh)
        env = data.get("env") if isinstance(data, dict) else None
        return env if isinstance(env, str) and env else None
    except (OSError, ValueError, RecursionError):
        return None  # Plan.load says what is wrong with it, with the right error


def _first_stop_line(events, executor) -> None:
    """The first Ctrl-C: say at once what happens next."""
    what = executor.in_flight
    if what is not None:
        events.note(f"stopping after the request in flight ({what.action} \"{what.name}\") is answered and checked; "
                    "press Ctrl-C again to stop at once")
    else:
        events.note("stopping: no new operation will start; press Ctrl-C again to stop at once")


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
@connection_options
def export(out_dir, with_ids, force, api_url, api_key, rate_limit, insecure, verbose, config_file, env_name, all_envs,
           no_config):
    """Write the remote workflows as definition files (a plan of them shows no changes)."""
    from .commands.export import export as run
    from .escaping import visible

    settings = _settings(need_key=True, api_url=api_url, api_key=api_key, rate_limit=rate_limit, insecure=insecure,
                         config_file=config_file, env_name=env_name)
    written = run(settings, out_dir, with_ids=with_ids, force=force, hooks=_hooks(verbose=verbose))
    names: dict[str, list[str]] = {}
    for path, w in written:
        click.echo(f"wrote {visible(path)}")
        names.setdefault(str(w.get("name")), []).append(str(w["id"]))
    click.echo(f"Exported {len(written)} workflow{'s' if len(written) != 1 else ''} to {out_dir}.")
    for name, ids in names.items():
        if len(ids) > 1:
            click.echo(f"warning: {len(ids)} remote workflows are named {visible(name)!r} ({', '.join(ids)}): "
                       "names must be unique in the repo; if they are identical, plan adopts one and --prune "
                       "deletes the others; otherwise keep one file, pin it with id:, and delete the rest", err=True)


def fault_options(f):
    """The emulator's fault and quirk options, generated from its own table (emulator.FAULT_OPTIONS)."""
    from .emulator import FAULT_OPTIONS

    for name, kind, default, text in reversed(FAULT_OPTIONS):
        flag = "--" + name.replace("_", "-")
        if kind is bool:
            f = click.option(flag, name, is_flag=True, default=False, help=text)(f)
        elif isinstance(kind, tuple) and all(isinstance(k, str) for k in kind):
            f = click.option(flag, name, type=click.Choice(list(kind)), default=default, show_default=True, help=text)(f)
        elif kind is tuple:
            f = click.option(flag, name, default=",".join(default), help=text)(f)
        else:
            f = click.option(flag, name, type=kind, default=default, show_default=default is not None, help=text)(f)
    return f


@main.command()
@click.option("--host", default="127.0.0.1", show_default=True,
              help="Address to listen on; keep loopback unless the emulator has keys (--api-key).")
@click.option("--port", default=8080, show_default=True, type=int)
@click.option("--api-key", "api_keys", multiple=True, help="An accepted key (repeatable); none: no key required.")
@click.option("--data", "data_file", type=click.Path(dir_okay=False), help="Persist workflows in this JSON file.")
@click.option("--rate-limit", default="6/1m,60/1h", show_default=True, help="The quota to enforce per key, or off.")
@fault_options
def emulator(host, port, api_keys, data_file, rate_limit, **faults):
    """Serve the Voicebot workflow API locally, for demos, tests and offline CI.

    The fault and quirk options make it misbehave on purpose (lost answers, lagging
    lists, pagination, 429s, HTML pages, trickling answers), so a client's recovery
    paths can be tried against it."""
    from .config import is_loopback
    from .durations import parse_rate_limit
    from .emulator import main_serve
    from .errors import FileError

    if not api_keys and not is_loopback(host):
        click.echo(f"warning: serving on {host} without keys: anyone who can reach it can change its workflows; "
                   "pass --api-key, or keep --host 127.0.0.1", err=True)
    try:
        main_serve(host, port, list(api_keys), data_file, parse_rate_limit(rate_limit), **faults)
    except OSError as exc:
        raise FileError.from_os_error(exc, f"{host}:{port}") from exc
    except ValueError as exc:
        raise UsageError(str(exc)) from exc


@main.command()
@paths_argument
@click.option("--format", "fmt", type=click.Choice(["text", "json", "markdown"]), default="text", show_default=True)
@click.option("--out", "out_file", type=click.Path(dir_okay=False), help="Also write the report to this file (for an issue body).")
@connection_options
def drift(paths, fmt, out_file, api_url, api_key, rate_limit, insecure, verbose, config_file, env_name, all_envs,
          no_config):
    """Report remote changes made outside git (exit 2 when there is drift), for scheduled jobs."""
    from .commands.drift import drift as run
    from .doors import write_text
    from .drift import render_drift_markdown, render_drift_text

    given = dict(paths=paths, api_url=api_url, api_key=api_key, rate_limit=rate_limit, insecure=insecure,
                 config_file=config_file)
    envs = _environments(env_name, all_envs, config_file)
    renderers = {"json": lambda r: json.dumps({"format_version": 1, **r}, indent=2, ensure_ascii=False) + "\n",
                 "markdown": render_drift_markdown, "text": render_drift_text}
    if envs:
        settings_of = {env: _settings(need_key=True, env=env, **given) for env in envs}
        results = _each_environment(envs, lambda env: run(settings_of[env], _hooks(verbose=verbose, prefix=f"[{env}] ")))
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
        report = run(_settings(need_key=True, env_name=env_name, **given), _hooks(verbose=verbose))
        text = renderers[fmt](report)
        code = EXIT_CHANGES if report["drift"] else EXIT["ok"]
    click.echo(text, nl=False)
    if out_file:
        write_text(out_file, text)
    if code:
        sys.exit(code)


@main.command()
@click.argument("file", type=click.Path(dir_okay=False))
@click.option("--name", "workflow", help="Which workflow of a multi-document file (default: the first).")
@click.option("--set", "assignments", multiple=True, metavar="PARAM=VALUE", help="A placeholder's value (repeatable); others use their `example`.")
@config_options
def render(file, workflow, assignments, config_file, env_name, all_envs, no_config):
    """Print a workflow's message filled in, and its length against the 1000-character limit."""
    from .errors import ValidationError as Invalid
    from .model import MAX_MESSAGE_LENGTH
    from .commands.common import parse_assignments
    from .template import example_values, placeholders, render as fill

    settings = _settings(config_file=config_file, env_name=env_name)
    from .definitions import load_definitions

    definitions = load_definitions([file], env=settings.env)
    chosen = [d for d in definitions if workflow in (None, d.name)]
    if not chosen:
        raise ConfigError(f"no workflow named {workflow!r} in {file}")
    d = chosen[0]
    given = parse_assignments(assignments)
    known = placeholders(d.desired()["message"])
    for name in given:
        if name not in known:
            import difflib

            close = difflib.get_close_matches(name, known, n=1)
            hint = f" (did you mean '{close[0]}'?)" if close else f" (its placeholders: {', '.join(known) or 'none'})"
            raise UsageError(f"--set {name}: the message has no placeholder [{name}]{hint}")
    values = {**example_values(d.parameters or {}), **given}
    try:
        text = fill(d.desired()["message"], values)
    except ValueError as exc:
        raise ConfigError(f"{exc}: pass --set NAME=VALUE or give the parameter an example") from exc
    click.echo(text)
    click.echo(f"-- {len(text)} characters (limit {MAX_MESSAGE_LENGTH})", err=True)
    if len(text) > MAX_MESSAGE_LENGTH:
        raise Invalid([Problem(d.source, d.key_lines.get("message", d.line),
                               f"filled-in message is {len(text)} characters; the limit is {MAX_MESSAGE_LENGTH}")])


@main.command()
@click.option("--config", "which", flag_value="config", help="The config file's schema instead.")
@click.option("--workflow", "which", flag_value="workflow", default=True, help="The workflow definition schema (default).")
def schema(which):
    """Print the JSON Schema of definition files (or of the config file), for editors."""
    from importlib.resources import files

    click.echo(files("voicebot_sync").joinpath("schemas", f"{which}.schema.json").read_text(encoding="utf-8"), nl=False)


@main.command()
@click.argument("name")
@click.option("--dir", "directory", default="workflows", show_default=True, type=click.Path(file_okay=False))
@click.option("--type", "workflow_type", type=click.Choice(["ROBOCALL", "CONVERSATION"]), default="ROBOCALL", show_default=True)
def new(name, directory, workflow_type):
    """Write a definition skeleton that passes validate (never a second definition of a name)."""
    from .escaping import visible
    from .scaffold import defined_names, new_definition

    settings = _settings()
    known = defined_names(list(dict.fromkeys([*settings.workflows, directory])))
    path = new_definition(name, directory, workflow_type, known)
    click.echo(f"wrote {visible(path)}: edit the message, then run `voicebot-sync validate {directory}`")


@main.command()
@click.option("--force", is_flag=True, help="Overwrite files that differ from what init would write.")
def init(force):
    """Start a repository: voicebot-sync.yaml, workflows/, the JSON Schemas (for editors, offline),
    a pre-commit hook and VS Code settings."""
    from .scaffold import init_repo

    written = init_repo(os.getcwd(), force=force)
    for path in written:
        click.echo(f"wrote {path}")
    click.echo("Nothing to write: the repository is set up already." if not written else
               "Next: edit workflows/, then `voicebot-sync validate` and `voicebot-sync plan --api-url local`.")


@main.command()
@connection_options
def budget(api_url, api_key, rate_limit, insecure, verbose, config_file, env_name, all_envs, no_config):
    """Show what is left of the rate limit for the key in use, from the ledger every command keeps."""
    import time

    from .api.ledger import ledger_for
    from .api.ratelimit import budget_status

    settings = _settings(need_key=True, api_url=api_url, api_key=api_key, rate_limit=rate_limit, insecure=insecure,
                         config_file=config_file, env_name=env_name)
    if settings.local or not settings.windows:
        click.echo(f"No rate limit for {settings.api_url if not settings.local else 'the local emulator'}: "
                   "requests may start at once.")
        return
    ledger = ledger_for(settings.api_key)
    status = budget_status(settings.windows, ledger.load(), time.time())
    env = f" (environment {settings.env})" if settings.env else ""
    click.echo(f"Key {ledger.path.rsplit('/', 1)[-1][:-5]}{env} at {settings.api_url}: {status.describe()}")
    if not status.trusted:
        click.echo(f"warning: {status.problem}; a busy window is assumed", err=True)


@main.command("config")
@paths_argument
@click.option("--format", "fmt", type=click.Choice(["text", "json"]), default="text", show_default=True)
@connection_options
def show_config(paths, fmt, api_url, api_key, rate_limit, insecure, verbose, config_file, env_name, all_envs, no_config):
    """Print the resolved settings and where each came from (the key only as set/unset)."""
    settings = _settings(paths=paths, api_url=api_url, api_key=api_key, rate_limit=rate_limit, insecure=insecure,
                         config_file=config_file, env_name=env_name)
    rows = settings.describe()
    if fmt == "json":
        click.echo(json.dumps({"format_version": 1, "settings": {name: {"value": value, "source": source}
                                                                 for name, value, source in rows}}, indent=2))
        return
    width = max(len(r[0]) for r in rows)
    for name, value, source in rows:
        click.echo(f"{name.ljust(width)}  {value}  ({source})")


if __name__ == "__main__":  # pragma: no cover
    main()
