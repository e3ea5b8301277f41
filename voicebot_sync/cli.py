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
    ApplyFailed,
    ConfigError,
    Incomplete,
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


def config_options(f):
    f = click.option("--env", "env_name", envvar="VOICEBOT_ENV", help="An environment of the config file.  [env: VOICEBOT_ENV]")(f)
    f = click.option("--config", "config_file", envvar="VOICEBOT_SYNC_CONFIG", type=click.Path(dir_okay=False),
                     help="Config file.  [env: VOICEBOT_SYNC_CONFIG; default: voicebot-sync.yaml if present]")(f)
    return f


def _settings(need_key: bool = False, **given):
    """Resolved settings; only options the user actually gave are passed on (click resolved envvars
    already, but config.load_settings must know the true source, so it re-reads the environment)."""
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
    return load_settings(cli, os.environ, os.getcwd(), need_key=need_key)


class _Loaded(list):
    """Definitions, plus the files discovery passed over (hidden, editor leftovers, links read once)."""

    skipped: list[str] = []


def _definitions(settings):
    from .definitions import load_definitions_with_notes
    from .escaping import visible

    try:
        definitions, notes = load_definitions_with_notes(settings.workflows, env=settings.env, scope=settings.scope)
    except ValidationError as exc:
        for note in getattr(exc, "notes", []):
            click.echo(f"note: {visible(note)}", err=True)
        raise
    loaded = _Loaded(definitions)
    loaded.skipped = list(notes)
    if notes and settings.prune:
        # With --prune, anything not read is said before the plan: its workflows would look unmanaged.
        for note in notes:
            click.echo(f"note: {visible(note)}", err=True)
    return loaded


def _connection(settings):
    from .commands.common import Connection

    return Connection(settings.api_url, settings.api_key, settings.windows, settings.max_retries, settings.timeout)


def _verbose_printer(record) -> None:
    status = record.status if record.status is not None else "no answer"
    click.echo(f"  {record.method} {record.path} -> {status} ({record.seconds * 1000:.0f} ms)", err=True)


def _client(settings, *, verbose: bool, stop=None, on_wait=None, log=None):
    from .commands.common import make_client

    hooks = [h for h in ((_verbose_printer if verbose else None), log) if h]

    def on_request(record):
        for hook in hooks:
            hook(record)

    def on_retry(text: str, wait: float) -> None:
        from .durations import format_seconds

        click.echo(f"retrying in {format_seconds(wait)}: {text}", err=True)

    return make_client(_connection(settings), stop=stop, on_wait=on_wait, on_request=on_request, on_retry=on_retry)


def paths_argument(f):
    return click.argument("paths", nargs=-1, type=click.Path())(f)


# -- commands --------------------------------------------------------------------


@click.group(cls=VoicebotCli, context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100})
@click.version_option(__version__, "--version", prog_name="voicebot-sync")
def main() -> None:
    """Keep Voicebot workflows in git and make the API match.

    Typical use: `validate` in a pre-commit hook, `plan` in pull-request checks,
    `apply` on merge. Try it with no server and no key: --api-url local.
    """


@main.command()
@paths_argument
@config_options
def validate(paths, config_file, env_name):
    """Check definition files offline: schema, templates, duplicate names and ids."""
    settings = _settings(paths=paths, config_file=config_file, env_name=env_name)
    definitions = _definitions(settings)
    from .escaping import visible

    for note in definitions.skipped:
        click.echo(f"note: {visible(note)}", err=True)
    files = len({d.source for d in definitions})
    click.echo(f"{len(definitions)} definition{'s' if len(definitions) != 1 else ''} in {files} file{'s' if files != 1 else ''}: valid.")


def _render_plan(plan, fmt: str, settings) -> str:
    from .render import render_json, render_markdown, render_text

    if fmt == "json":
        return render_json(plan)
    if fmt == "markdown":
        return render_markdown(plan, rate_limit=settings.rate_limit)
    return render_text(plan, rate_limit=settings.rate_limit, color=_color(sys.stdout))


@main.command()
@paths_argument
@click.option("--prune", is_flag=True, help="Plan to delete remote workflows that no definition matches.")
@click.option("--format", "fmt", type=click.Choice(["text", "json", "markdown"]), default="text", show_default=True)
@click.option("--out", "out_file", type=click.Path(dir_okay=False), help="Save the plan as JSON for `apply --plan`.")
@click.option("--detailed-exitcode", is_flag=True, help="Exit 0 with no changes, 2 with changes, 1 on error.")
@connection_options
def plan(paths, prune, fmt, out_file, detailed_exitcode, api_url, api_key, rate_limit, insecure, verbose, config_file, env_name):
    """Show what apply would do (lists the remote with one request)."""
    from .commands.common import check_prune_scope, plan_against

    settings = _settings(need_key=True, paths=paths, prune=prune, api_url=api_url, api_key=api_key,
                         rate_limit=rate_limit, insecure=insecure, config_file=config_file, env_name=env_name)
    check_prune_scope(settings)
    definitions = _definitions(settings)
    with _client(settings, verbose=verbose, on_wait=_wait_printer()) as client:
        the_plan = plan_against(client, definitions, api_url=settings.api_url, windows=settings.windows,
                                prune=settings.prune, scope=settings.scope)
    the_plan.env = settings.env
    _note_skipped(the_plan, definitions, settings)
    if out_file:
        the_plan.dump(out_file)
    click.echo(_render_plan(the_plan, fmt, settings), nl=False)
    if out_file and fmt == "text":
        click.echo(f"Saved the plan to {out_file}: apply it with `voicebot-sync apply --plan {out_file}`.")
    if detailed_exitcode and the_plan.has_changes:
        sys.exit(EXIT_CHANGES)


def _wait_printer(threshold: float = 5.0):
    """plan, drift, export: a line for every wait a person would otherwise take for a hang."""
    from .durations import format_seconds
    from .escaping import visible

    def on_wait(seconds: float, why: str) -> None:
        if seconds >= threshold:
            click.echo(f"waiting {format_seconds(seconds)}: {visible(why)}", err=True)

    return on_wait


def _note_skipped(the_plan, definitions, settings) -> None:
    """Files discovery passed over (hidden, editor leftovers) are named in the plan's notes."""
    skipped = getattr(definitions, "skipped", None) or []
    if skipped:
        shown = ", ".join(skipped[:5]) + (" ..." if len(skipped) > 5 else "")
        the_plan.notes.append(f"{len(skipped)} path{'s' if len(skipped) != 1 else ''} not read: {shown}")


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
          settle_time, api_url, api_key, rate_limit, insecure, verbose, config_file, env_name):
    """Make the remote match the definitions: creates, then updates, then deletes."""
    import time

    from .durations import parse_duration
    from .escaping import visible
    from .executor import Executor
    from .journal import Journal
    from .lock import account_lock
    from .progress import RequestLog, events_for
    from .stop import StopSignal
    from .commands.common import check_prune_scope, check_safety, plan_against, reload_saved_plan

    if plan_file:
        # A saved plan is applied exactly as it was made: nothing may reshape it.
        ctx = click.get_current_context()
        given = [f"--{p.replace('_', '-')}" if p != "paths" else "PATH arguments"
                 for p in ("paths", "prune", "env_name") if _from_command_line(ctx, p) and ctx.params.get(p)]
        if given:
            raise UsageError(f"apply --plan applies the saved plan exactly: {', '.join(g.replace('env-name', 'env') for g in given)} "
                             "cannot change it (the plan records its environment); make a new plan instead")
    settings = _settings(need_key=True, paths=paths, prune=prune, api_url=api_url, api_key=api_key,
                         rate_limit=rate_limit, insecure=insecure, config_file=config_file, env_name=env_name,
                         settle_time=settle_time, env_from_plan=_plan_env(plan_file) if plan_file else None)
    if not plan_file:
        check_prune_scope(settings)
    budget = parse_duration(max_duration) if max_duration else None
    wait_for_lock = parse_duration(lock_timeout) if str(lock_timeout).strip() not in ("0", "0s") else 0.0
    started = time.monotonic()
    out = sys.stderr if fmt == "json" else sys.stdout
    events = events_for(out, terminal=out.isatty() and fmt != "json")
    stop = StopSignal()
    log = RequestLog(log_file) if log_file else None
    report = None
    lock_url = settings.api_url if not settings.local else "local:" + os.path.abspath(".")
    try:
        # One writer per account: the lock is taken before the remote is read, so a
        # second apply plans against what the first one left.
        with account_lock(lock_url, settings.api_key, timeout=wait_for_lock,
                          on_wait=lambda text: click.echo(text, err=True)), \
                _client(settings, verbose=verbose, stop=stop, on_wait=lambda s, w: events.wait(s, w), log=log) as client:
            journal = Journal.for_account(lock_url, settings.api_key)
            if journal.problem:
                click.echo(f"warning: {journal.problem}", err=True)
            if plan_file:
                the_plan = reload_saved_plan(client, plan_file, api_url=settings.api_url, scope=settings.scope)
                source = plan_file
                yes = True  # like Terraform: a saved plan was reviewed when it was made
            else:
                definitions = _definitions(settings)
                the_plan = plan_against(client, definitions, api_url=settings.api_url, windows=settings.windows,
                                        prune=settings.prune, scope=settings.scope)
                the_plan.env = settings.env
                source = " ".join(settings.workflows)
            creating = {c.name for c in the_plan.of("create")}
            for entry in journal.settle_pending(the_plan.remote_names, time.time(), settings.settle_time):
                if entry.name in creating:
                    click.echo(f"note: an earlier create of \"{visible(entry.name)}\" lost its answer; apply looks "
                               "for it before creating it again", err=True)
            if out_file:
                the_plan.dump(out_file)
            if reviewed_file:
                from .commands.common import reviewed_changes

                the_plan.check_reviewed(reviewed_changes(reviewed_file), f"the reviewed plan ({reviewed_file})")
            check_safety(the_plan, guards=settings.guards, force=force,
                         prune=settings.prune or bool(the_plan.of("delete")), source=source)
            if not the_plan.has_changes:
                if fmt == "json":
                    click.echo(json.dumps(_empty_report(the_plan, client)))
                else:
                    click.echo("No changes. The remote matches the definitions.")
                return
            if fmt != "json":
                from .render import render_text

                click.echo(render_text(the_plan, rate_limit=settings.rate_limit, color=_color(sys.stdout)), nl=False)
            _confirm(the_plan, yes)
            deadline = started + budget if budget is not None else None
            executor = Executor(client, events=events, stop=stop, deadline=deadline, journal=journal,
                                settle=settings.settle_time)
            # Signals are ours only while changes are made: before, Ctrl-C simply ends the command.
            with stop.handling_signals(on_first=lambda: _first_stop_line(events, executor)):
                try:
                    report = executor.run(the_plan)
                except KeyboardInterrupt:
                    report = getattr(executor, "last_report", None)
                    raise
    finally:
        if log:
            log.close()
        if report is not None and fmt == "json":
            click.echo(json.dumps(report.to_json(), indent=2))
    if report.failed or report.uncertain:
        bad = len(report.failed) + len(report.uncertain)
        raise ApplyFailed(f"{bad} of {report.total} operations failed or are uncertain (see above); "
                          "run apply again: it checks uncertain creates before repeating them", report)
    if report.remaining:
        raise Incomplete(f"stopped with {len(report.remaining)} of {report.total} operations not started ({report.stopped}); run apply again to finish", report)


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


def _empty_report(plan, client) -> dict:
    from .executor import Report

    report = Report(total=0, requests=client.sent, rate_limited=client.rate_limited, retries=client.retries,
                    plan_fingerprint=plan.plan_fingerprint)
    return report.to_json()


def _confirm(plan, yes: bool) -> None:
    if yes:
        return
    if not sys.stdin.isatty():
        raise Refused("not applying: no terminal to confirm on; pass --yes to apply without a question")
    if not click.confirm(f"Apply these {len(plan.changes)} changes?", default=False):
        raise Refused("not applied: nothing was changed")


@main.command()
@click.option("--out-dir", required=True, type=click.Path(file_okay=False), help="Where to write one YAML file per workflow.")
@click.option("--with-ids", is_flag=True, help="Pin each file to its remote workflow with `id:` (renames become updates).")
@click.option("--force", is_flag=True, help="Write into a directory that already holds definitions (overwriting files).")
@connection_options
def export(out_dir, with_ids, force, api_url, api_key, rate_limit, insecure, verbose, config_file, env_name):
    """Write the remote workflows as definition files (a plan of them shows no changes)."""
    from .commands.common import export_remote

    settings = _settings(need_key=True, api_url=api_url, api_key=api_key, rate_limit=rate_limit, insecure=insecure,
                         config_file=config_file, env_name=env_name)
    with _client(settings, verbose=verbose, on_wait=_wait_printer()) as client:
        written = export_remote(client, out_dir, scope=settings.scope, with_ids=with_ids, force=force)
    names: dict[str, list[str]] = {}
    for path, w in written:
        click.echo(f"wrote {path}")
        names.setdefault(str(w.get("name")), []).append(str(w["id"]))
    click.echo(f"Exported {len(written)} workflow{'s' if len(written) != 1 else ''} to {out_dir}.")
    for name, ids in names.items():
        if len(ids) > 1:
            click.echo(f"warning: {len(ids)} remote workflows are named {name!r} ({', '.join(ids)}): "
                       "names must be unique in the repo; rename one remotely or keep one file", err=True)


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
def drift(paths, fmt, out_file, api_url, api_key, rate_limit, insecure, verbose, config_file, env_name):
    """Report remote changes made outside git (exit 2 when there is drift), for scheduled jobs."""
    from .drift import drift_report, render_drift_markdown, render_drift_text
    from .commands.common import plan_against

    settings = _settings(need_key=True, paths=paths, api_url=api_url, api_key=api_key, rate_limit=rate_limit,
                         insecure=insecure, config_file=config_file, env_name=env_name)
    definitions = _definitions(settings)
    with _client(settings, verbose=verbose, on_wait=_wait_printer()) as client:
        the_plan = plan_against(client, definitions, api_url=settings.api_url, windows=settings.windows,
                                prune=False, scope=settings.scope)
    report = drift_report(the_plan)
    text = {"json": lambda r: json.dumps(r, indent=2, ensure_ascii=False) + "\n",
            "markdown": render_drift_markdown, "text": render_drift_text}[fmt](report)
    click.echo(text, nl=False)
    if out_file:
        from .doors import write_text

        write_text(out_file, text)
    if report["drift"]:
        sys.exit(EXIT_CHANGES)


@main.command()
@click.argument("file", type=click.Path(dir_okay=False))
@click.option("--name", "workflow", help="Which workflow of a multi-document file (default: the first).")
@click.option("--set", "assignments", multiple=True, metavar="PARAM=VALUE", help="A placeholder's value (repeatable); others use their `example`.")
@config_options
def render(file, workflow, assignments, config_file, env_name):
    """Print a workflow's message filled in, and its length against the 1000-character limit."""
    from .errors import ValidationError as Invalid
    from .model import MAX_MESSAGE_LENGTH
    from .commands.common import parse_assignments
    from .template import example_values, render as fill

    settings = _settings(config_file=config_file, env_name=env_name)
    from .definitions import load_definitions

    definitions = load_definitions([file], env=settings.env)
    chosen = [d for d in definitions if workflow in (None, d.name)]
    if not chosen:
        raise ConfigError(f"no workflow named {workflow!r} in {file}")
    d = chosen[0]
    values = {**example_values(d.parameters or {}), **parse_assignments(assignments)}
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
    """Write a definition skeleton that passes validate."""
    from .export import slugify

    path = os.path.join(directory, slugify(name) + ".yaml")
    if os.path.exists(path):
        raise ConfigError(f"{path} exists already: choose another name or edit that file")
    os.makedirs(directory, exist_ok=True)
    with open(path, "w", encoding="utf-8") as fh:
        fh.write(skeleton(name, workflow_type))
    click.echo(f"wrote {path}: edit the message, then run `voicebot-sync validate {directory}`")


def skeleton(name: str, workflow_type: str) -> str:
    from .export import HEADER

    return (
        HEADER
        +
        f"name: {json.dumps(name, ensure_ascii=False)}\n"
        "description: What this call is for, in one line.\n"
        f"workflow_type: {workflow_type}\n"
        "message: |\n"
        "  Hello [name], this is a message from your clinic about [topic].\n"
        "parameters:\n"
        "  name:\n"
        "    description: The patient's first name.\n"
        "    max_length: 40\n"
        "    example: Ada\n"
        "  topic:\n"
        "    description: What the call is about.\n"
        "    max_length: 80\n"
        "    example: your appointment on Monday\n"
    )


@main.command()
@connection_options
def budget(api_url, api_key, rate_limit, insecure, verbose, config_file, env_name):
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
@connection_options
def show_config(paths, api_url, api_key, rate_limit, insecure, verbose, config_file, env_name):
    """Print the resolved settings and where each came from (the key only as set/unset)."""
    settings = _settings(paths=paths, api_url=api_url, api_key=api_key, rate_limit=rate_limit, insecure=insecure,
                         config_file=config_file, env_name=env_name)
    rows = settings.describe()
    width = max(len(r[0]) for r in rows)
    for name, value, source in rows:
        click.echo(f"{name.ljust(width)}  {value}  ({source})")


if __name__ == "__main__":  # pragma: no cover
    main()
