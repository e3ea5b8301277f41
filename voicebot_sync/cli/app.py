"""The command line's one door: the group, its error handler, and the exit-code mapping.

Every outcome is one line and a code from ``errors.EXIT``: expected failures
print ``error: …``; a bug prints one line naming a log file (exit 70).
Heavy imports (httpx, jsonschema, deepdiff) happen inside the commands that need
them, so ``--help`` and ``--version`` start at once.
"""

from __future__ import annotations

import os
import sys

import click

from .. import __version__
from ..errors import EXIT, ValidationError, VoicebotSyncError

EXIT_CHANGES = EXIT["changes"]

class VoicebotCli(click.Group):
    """The group. ``voicebot_sync.main`` runs it inside the ErrorHandler (and nothing in here catches
    anything); run standalone, click's way (as ``CliRunner`` does), it goes through the same handler,
    except that a bug propagates: a test that meets one fails."""

    def main(self, args=None, prog_name=None, complete_var=None, standalone_mode=True, **extra):
        if not standalone_mode:
            return super().main(args, prog_name, complete_var, standalone_mode=False, **extra)
        return ErrorHandler(self, on_bug=_propagate).main(args, prog_name, complete_var, **extra)


def _propagate(exc: BaseException) -> int:
    raise exc


class ErrorHandler:
    """The one error handler for the whole tool, around a command (``voicebot_sync.main`` puts it around
    the group): every outcome is one line and a code from ``errors.EXIT``.

    Expected failures (our tree, usage errors) print ``error: …`` and exit 1 (or
    their own code); anything else is a bug for ``on_bug``: by default one line naming a
    log file that holds the traceback, exit 70. Output leaves only through the doors
    (``doors.install``): redacted, and escaped for the terminal or the Actions log.
    ``main`` has click's signature, so ``CliRunner`` can invoke a handled command."""

    def __init__(self, command, on_bug=None):
        self.command, self.on_bug = command, on_bug or _internal_error
        self.name = command.name  # what CliRunner names the program after

    def main(self, args=None, prog_name=None, complete_var=None, standalone_mode=True, **extra):
        from ..text import sinks

        previous = sinks.install()
        try:
            code = self._run(args, prog_name, complete_var, **extra)
        finally:
            sinks.live_line(None)  # a status line left by an error is cleared before the shell prompt
            with _quiet_pipe():
                sys.stdout.flush()
            sys.stdout, sys.stderr = previous
        if standalone_mode:
            sys.exit(code)
        return code

    def _run(self, args, prog_name, complete_var, **extra) -> int:
        try:
            result = self.command.main(args, prog_name, complete_var, standalone_mode=False, **extra)
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
            # click turns a KeyboardInterrupt into Abort: ours (a second signal during apply's writes)
            # is exit 130, with a last line that agrees with the report printed above it.
            cause = exc.__cause__ or exc.__context__
            if isinstance(cause, KeyboardInterrupt) and type(cause).__name__ == "SecondSignal":
                _error(_interrupted())
                return EXIT["interrupted"]
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
            _error(_interrupted())
            return EXIT["interrupted"]
        except SystemExit as exc:
            return exc.code if isinstance(exc.code, int) else EXIT["error"]
        except Exception as exc:  # a bug: one line here, the traceback in a log
            return self.on_bug(exc)


def _interrupted() -> str:
    """A stop at once outside apply's writes (apply returns its own interrupted result)."""
    from ..apply.report import interrupted_line

    return interrupted_line(None)


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
    from ..state.crashlog import crash_line

    _error(crash_line(exc))
    return EXIT["internal"]


def _print_problems(exc: ValidationError) -> None:
    from ..text.sinks import workflow_command
    from ..text.escaping import actions_command, visible

    github = os.environ.get("GITHUB_ACTIONS") == "true"
    for problem in exc.problems:
        where = f"{problem.file}:{problem.line}" if problem.line else problem.file
        # Problems go to stderr, so stdout holds only the document (`--format json | jq` never breaks).
        click.echo(visible(f"{where}: {problem.message}"), err=True)
        if github:
            workflow_command(actions_command("error", problem.message, file=problem.file, line=problem.line))
    from ..core.rules import shown
    from ..output.ruleview import text_lines

    for line in text_lines(shown(getattr(exc, "findings", None) or [])):  # team-rule warnings and waivers
        click.echo(line, err=True)





@click.group(cls=VoicebotCli, context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100})
@click.version_option(__version__, "--version", prog_name="voicebot-sync")
def main() -> None:
    """Keep Voicebot workflows in git and make the API match.

    Typical use: `validate` in a pre-commit hook, `plan` in pull-request checks,
    `apply` on merge. Try it with no server and no key: --api-url local.
    Shell completion: eval "$(_VOICEBOT_SYNC_COMPLETE=bash_source voicebot-sync)".
    """


