"""The console entry: ``voicebot-sync`` and ``python -m voicebot_sync`` run ``main``.

One error handler around the whole command line, as pre-commit's ``main`` does,
and not inside the click group: every outcome is one line and a code from
``errors.EXIT``. Expected failures (our error tree, usage errors) print
``error: …`` and exit with their code (usage: 1); Ctrl-C exits 130; anything
else is a bug: one line naming a crash log under the state folder, exit 70.
Tests run the group through ``run`` with ``on_bug`` re-raising, so a bug fails the
test instead of becoming an exit code.

Heavy imports (httpx, jsonschema, deepdiff) happen inside the commands that need
them, so ``--help`` and ``--version`` start at once.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Callable, Sequence

PROG = "voicebot-sync"


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line on ``argv`` (default: ``sys.argv[1:]``) and return the exit code."""
    if (sys.argv[1:] if argv is None else list(argv)) == ["--version"]:
        return _version()
    from .cli import main as cli

    return run(cli, argv)


def _version() -> int:
    # The one answer that needs neither click nor the doors: start-up is a feature (benchmarks/startup.py).
    # Word for word what the group's --version prints (tests/test_main.py checks).
    from . import __version__

    try:
        sys.stdout.write(f"{PROG}, version {__version__}\n")
        sys.stdout.flush()
    except BrokenPipeError:
        _silence_stdout()
    return 0


def run(command: object, argv: Sequence[str] | None = None, *, prog_name: str = PROG,
        on_bug: Callable[[BaseException], int] | None = None) -> int:
    """``command`` (a click command) on ``argv`` behind the one error handler; the exit code.

    Output leaves only through the doors (``doors.install``, restored afterwards): redacted,
    and escaped for the terminal or the Actions log. ``on_bug`` turns an unexpected exception
    into an exit code (default: a crash log and 70); tests pass one that re-raises."""
    from . import doors

    previous = doors.install()
    try:
        return _handled(command, None if argv is None else list(argv), prog_name, on_bug or crash_log)
    finally:
        with _quiet_pipe():
            sys.stdout.flush()
        sys.stdout, sys.stderr = previous


def _handled(command: object, argv: list[str] | None, prog_name: str, on_bug: Callable[[BaseException], int]) -> int:
    import click

    from .errors import EXIT, ValidationError, VoicebotSyncError

    try:
        result = command.main(argv, prog_name, standalone_mode=False)
        return result if isinstance(result, int) else EXIT["ok"]
    except click.exceptions.Exit as exc:
        return exc.exit_code
    except click.UsageError as exc:
        hint = " (see --help)"
        if exc.ctx is not None:
            hint = f" (see {exc.ctx.command_path} --help)"
        _error(f"{exc.format_message()}{hint}")
        return EXIT["error"]
    except click.Abort as exc:
        if isinstance(exc.__cause__, KeyboardInterrupt):  # click turns Ctrl-C inside a command into Abort
            return _interrupted()
        _error("aborted: nothing was changed")
        return EXIT["error"]
    except ValidationError as exc:
        from .cli.app import _print_problems

        _print_problems(exc)
        _error(str(exc))
        return exc.exit_code
    except VoicebotSyncError as exc:
        _error(str(exc))
        return exc.exit_code
    except click.exceptions.ClickException as exc:
        _error(exc.format_message())
        return EXIT["error"]
    except BrokenPipeError:
        _silence_stdout()  # the reader went away (`| head`): nothing more to say
        return EXIT["ok"]
    except KeyboardInterrupt:
        return _interrupted()
    except SystemExit as exc:
        return exc.code if isinstance(exc.code, int) else EXIT["error"]
    except Exception as exc:  # a bug
        return on_bug(exc)


def _interrupted() -> int:
    from .errors import EXIT

    _error("interrupted: stopped at once; run plan to see what remains")
    return EXIT["interrupted"]


def crash_log(exc: BaseException) -> int:
    """A bug: one line here, the traceback in a log under the state folder (or the temp folder); 70."""
    import datetime
    import traceback

    from . import __version__
    from .doors import write_text
    from .errors import EXIT
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


def _error(line: str) -> None:
    import click

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


if __name__ == "__main__":
    sys.exit(main())
