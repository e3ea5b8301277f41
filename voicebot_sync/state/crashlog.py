"""A bug's traceback goes to a log file, never to the screen: one place for the CLI and the Action."""

from __future__ import annotations

import datetime
import os
import tempfile
import traceback

from .. import __version__
from ..text.sinks import write_text
from .statedir import state_dir


def write_crash_log(exc: BaseException) -> str:
    """Write ``exc``'s traceback (redacted, like every file) to ``.voicebot-sync/logs/crash-*.log``
    (or the temporary folder); returns the words that say where, for the one line on screen."""
    text = "".join(traceback.format_exception(type(exc), exc, exc.__traceback__))
    stamp = datetime.datetime.now(datetime.timezone.utc).strftime("%Y%m%dT%H%M%S")
    for folder in (lambda: state_dir("logs"), tempfile.gettempdir):
        try:
            path = os.path.join(folder(), f"crash-{stamp}-{os.getpid()}.log")
            write_text(path, f"voicebot-sync {__version__}\n{text}")
            return f"details in {path}"
        except (OSError, ValueError, Exception):  # noqa: BLE001 - a log that cannot be written is said so
            continue
    return "no log could be written"


def crash_line(exc: BaseException) -> str:
    """The one line a bug shows: its type, the first line of its message (bounded), and the log."""
    first = str(exc).splitlines()[0][:200] if str(exc) else ""
    return f"unexpected error: {type(exc).__name__}: {first}; {write_crash_log(exc)} (please report it)"
