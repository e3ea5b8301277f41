"""The one live status line at the bottom of a terminal, and the rule for when there may be one.

A status line is redrawn in place (``\\r`` and "clear the line") only on a terminal that can do it:
a tty whose ``TERM`` is not ``dumb``; anywhere else progress is plain lines (``live_terminal``).
It is cut to the terminal's width, so it never wraps and leaves stale copies behind.

Every other line written while it is shown makes room for it first: the doors
(``doors.SafeStream``) clear it before any write to stdout or stderr and draw it again after
a complete line, so a retry or a note is never glued to the end of the status text. The
command's end clears it (``doors.live_line(None)`` in the CLI's one error handler).
"""

from __future__ import annotations

import os
import threading
import time
import unicodedata
from typing import Callable, TextIO

CLEAR = "\r\x1b[2K"  # return to the start of the line and clear it: one of the doors' own sequences
DEFAULT_COLUMNS = 80


def live_terminal(stream: TextIO) -> bool:
    """True when a status line may be redrawn in place on ``stream``: a terminal, and not ``TERM=dumb``."""
    try:
        tty = bool(stream.isatty())
    except (AttributeError, ValueError):
        return False
    return tty and os.environ.get("TERM") != "dumb"


def columns_of(stream: TextIO) -> int:
    """The width of the terminal behind ``stream``; else ``COLUMNS``; else 80."""
    try:
        return os.get_terminal_size(stream.fileno()).columns or DEFAULT_COLUMNS
    except (AttributeError, ValueError, OSError):  # not a terminal (io.UnsupportedOperation is both)
        pass
    try:
        return int(os.environ.get("COLUMNS", "")) or DEFAULT_COLUMNS
    except ValueError:
        return DEFAULT_COLUMNS


def _width(char: str) -> int:
    if unicodedata.combining(char):
        return 0
    return 2 if unicodedata.east_asian_width(char) in ("W", "F") else 1


def fit(text: str, columns: int) -> str:
    """``text`` cut to fit in ``columns - 1`` cells (the last cell stays free: some terminals wrap on it)."""
    room = max(columns - 1, 8)
    if sum(_width(c) for c in text) <= room:
        return text
    out, used = [], 0
    for char in text:
        w = _width(char)
        if used + w > room - 1:
            break
        out.append(char)
        used += w
    return "".join(out) + "…"


def fit_middle(head: str, middle: str, tail: str, columns: int) -> str:
    """``head + middle + tail`` in ``columns``, cutting the middle first (a wait's reason, a name), so that
    the counts at the start and the ETA at the end stay readable on a narrow terminal."""
    whole = head + middle + tail
    room = max(columns - 1, 8)
    used = sum(_width(c) for c in head + tail)
    if sum(_width(c) for c in whole) <= room or used + 2 > room:
        return fit(whole, columns)
    return head + fit(middle, room - used + 1) + tail


class StatusLine:
    """The live line on ``out``; ``line`` writes a finished line above it. Install it in the doors
    (``with status:``) so that every other write to stdout or stderr makes room for it too."""

    def __init__(self, out: TextIO, *, columns: Callable[[], int] | None = None):
        self.out = out
        self.columns = columns or (lambda: columns_of(out))
        self.text = ""
        self.shown = False
        self.until: float | None = None  # time.monotonic() after which the text is stale (a wait is over)
        self._lock = threading.RLock()

    def _write(self, text: str) -> None:
        from ..text.sinks import SafeStream, _scrub

        # Past the doors' own hook (it would call back here), but still redacted and escaped.
        raw = self.out.raw if isinstance(self.out, SafeStream) else self.out
        raw.write(_scrub(text))
        raw.flush()

    def show(self, text: str, *, until: float | None = None) -> None:
        """Draw ``text`` as the status line, in place of the one shown; ``until``: when it stops being true
        (after that, a line written below it does not bring it back)."""
        from ..text import sinks

        with self._lock:
            sinks.live_line(self)  # from now on, every other line makes room for it
            self.until = until
            self.text = fit(text, self.columns())
            self._write(CLEAR + self.text)
            self.shown = True

    def line(self, text: str) -> None:
        """A finished line above the status line (which is drawn again below it)."""
        with self._lock:
            self._write(CLEAR + text + "\n")
            self.shown = False
            self.redraw()

    def hide(self) -> None:
        """Clear the status line for a line written by someone else (the doors call this)."""
        with self._lock:
            if self.shown:
                self._write(CLEAR)
                self.shown = False

    def redraw(self) -> None:
        with self._lock:
            if self.until is not None and time.monotonic() >= self.until:
                self.text = ""  # the wait it told of is over: never shown again as if it were not
            if self.text and not self.shown:
                self._write(self.text)
                self.shown = True

    def clear(self) -> None:
        """No status line any more (and nothing for other lines to make room for)."""
        from ..text import sinks

        with self._lock:
            self.hide()
            self.text = ""
            sinks.live_line(None, only=self)
