"""The console entry: ``voicebot-sync`` and ``python -m voicebot_sync`` run ``main``.

One error handler around the whole command line, as pre-commit's ``main`` does, and
not inside the click group (``cli.app.ErrorHandler``, which also puts the doors on
stdout and stderr for the run): every outcome is one line and a code from
``errors.EXIT``. Expected failures (our error tree, usage errors) print ``error: …``
and exit with their code (usage: 1); a second Ctrl-C exits 130; anything else is a
bug: one line naming a crash log under the state folder, exit 70. Tests invoke the
group itself (click's ``CliRunner``): it runs behind the same handler but lets a bug
propagate, so a bug fails the test instead of becoming an exit code.

Heavy imports (httpx, jsonschema, deepdiff) happen inside the commands that need
them; ``--version`` imports not even click.
"""

from __future__ import annotations

import contextlib
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


def run(command: object, argv: Sequence[str] | None = None, *, prog_name: str = PROG,
        on_bug: Callable[[BaseException], int] | None = None) -> int:
    """``command`` (a click command) on ``argv`` behind the one error handler; the exit code.
    ``on_bug`` turns an unexpected exception into an exit code (default: a crash log and 70)."""
    from .cli.app import ErrorHandler

    return ErrorHandler(command, on_bug).main(None if argv is None else list(argv), prog_name, standalone_mode=False)


def _version() -> int:
    # The one answer that needs neither click nor the doors: start-up is a feature (benchmarks/startup.py).
    # Word for word what the group's --version prints (tests/test_main.py checks).
    from . import __version__

    try:
        sys.stdout.write(f"{PROG}, version {__version__}\n")
        sys.stdout.flush()
    except BrokenPipeError:  # the reader went away (`| head`); Python would complain again at exit
        with contextlib.suppress(OSError, ValueError):
            os.dup2(os.open(os.devnull, os.O_WRONLY), sys.__stdout__.fileno())
    return 0


if __name__ == "__main__":
    sys.exit(main())
