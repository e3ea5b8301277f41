"""The doors through which text leaves the process: one per kind of sink.

* ``SafeStream`` wraps stdout and stderr for the whole run (``install``): every
  write is redacted, every control character that is not one of our own few
  terminal sequences is shown instead of emitted, and on GitHub Actions no line
  can begin a workflow command unless it is written through ``command``.
* ``write_text`` / ``open_text`` write files (plans, reports, exports, logs,
  summaries): redacted, atomically replaced where a reader may be looking.

Outside text should still be escaped where it is formatted (``escaping.py``);
these doors make sure that a sink that forgot cannot leak a key or a control
sequence.
"""

from __future__ import annotations

import contextlib
import io
import os
import re
import sys
import threading
from typing import IO, Iterator

from ..errors import FileError
from .escaping import actions_line, unsafe_pattern, visible
from .redaction import redact

# Our own terminal sequences: the colours render.py uses and the status line's
# "return and clear the line". Anything else is shown, never sent to the terminal.
_OWN_SEQUENCE = re.compile(r"\x1b\[(?:0|1|2|22|31|32|33|36|39)m|\r\x1b\[2K")
_CONTROL = unsafe_pattern(allowed="\t\n")


# The status line on screen (statusline.StatusLine), while there is one: every other write makes room.
_live = None


def live_line(status, *, only=None) -> None:
    """Install (or, with None, remove and clear) the status line that writes to stdout and stderr make
    room for; ``only``: remove it only if it is that one."""
    global _live
    if status is None and _live is not None and (only is None or _live is only):
        previous, _live = _live, None
        if only is None:
            previous.clear()
        return
    if status is not None:
        _live = status


def _scrub(text: str) -> str:
    """Redact, then show every control character that is not one of our own sequences."""
    text = redact(text)
    if not _CONTROL.search(text):
        return text
    out = []
    pos = 0
    for m in _OWN_SEQUENCE.finditer(text):
        out.append(_CONTROL.sub(lambda c: visible(c.group()), text[pos : m.start()]))
        out.append(m.group())
        pos = m.end()
    out.append(_CONTROL.sub(lambda c: visible(c.group()), text[pos:]))
    return "".join(out)


class SafeStream(io.TextIOBase):
    """A text stream that redacts and escapes everything written through it."""

    def __init__(self, raw: IO[str], *, actions: bool = False):
        self.raw = raw
        self.actions = actions
        self._at_line_start = True
        # Environments run in threads and share the streams: one write (its scrub, the line-start state
        # that keeps outside text from beginning a workflow command, the status line's room) at a time.
        self._lock = threading.RLock()

    # click.echo uses a stream as is when it has these (see click._compat).
    @property
    def encoding(self) -> str:  # type: ignore[override]
        return getattr(self.raw, "encoding", None) or "utf-8"

    @property
    def errors(self) -> str:  # type: ignore[override]
        return getattr(self.raw, "errors", None) or "strict"

    def isatty(self) -> bool:
        return bool(getattr(self.raw, "isatty", lambda: False)())

    def fileno(self) -> int:
        return self.raw.fileno()

    def writable(self) -> bool:
        return True

    def flush(self) -> None:
        with contextlib.suppress(ValueError):
            self.raw.flush()

    def write(self, text: str) -> int:
        if not isinstance(text, str):
            text = text.decode("utf-8", "replace") if isinstance(text, (bytes, bytearray)) else str(text)
        with self._lock:
            return self._write(text)

    def _write(self, text: str) -> int:
        safe = _scrub(text)
        if self.actions:
            safe = self._no_commands(safe)
        live = _live
        if live is None:
            self.raw.write(safe)
            return len(text)
        live.hide()  # never glued to the end of the status line
        self.raw.write(safe)
        if safe.endswith("\n"):
            self.flush()
            live.redraw()
        return len(text)

    def _no_commands(self, text: str) -> str:
        lines = text.split("\n")
        out = []
        for i, line in enumerate(lines):
            if i > 0 or self._at_line_start:
                line = actions_line(line)
            out.append(line)
        self._at_line_start = text.endswith("\n")
        return "\n".join(out)

    def command(self, line: str) -> None:
        """One of our own workflow commands (its data already escaped by the caller): redacted only."""
        with self._lock:
            if not self._at_line_start:
                self.raw.write("\n")
            self.raw.write(redact(line.replace("\n", " ")) + "\n")
            self._at_line_start = True
        self.flush()


def install(*, actions: bool | None = None) -> tuple[IO[str], IO[str]]:
    """Put ``SafeStream`` doors on stdout and stderr; returns the previous streams."""
    if actions is None:
        actions = os.environ.get("GITHUB_ACTIONS") == "true"
    previous = (sys.stdout, sys.stderr)
    if not isinstance(sys.stdout, SafeStream):
        sys.stdout = SafeStream(sys.stdout, actions=actions)
    if not isinstance(sys.stderr, SafeStream):
        sys.stderr = SafeStream(sys.stderr, actions=actions)
    return previous


def workflow_command(line: str, *, stream: IO[str] | None = None) -> None:
    """Write one of our own workflow commands (``::error file=…::…``, one line, redacted) past the
    line check, to ``stream`` (stdout by default: where the runner reads them)."""
    stream = sys.stdout if stream is None else stream
    if isinstance(stream, SafeStream):
        stream.command(line)
    else:
        stream.write(redact(line.replace("\n", " ")) + "\n")
        stream.flush()


def write_text(path: str, text: str, *, mode: str = "w", data: bool = False) -> None:
    """Write a file the tool produces (plan, report, export, summary): redacted.

    ``mode="w"`` replaces the file atomically, so a reader never sees half of it.
    ``data=True`` (plans, exports, state) removes only registered secrets, so the
    user's own text round-trips exactly."""
    try:
        _write(path, redact(text, generic=not data), mode)
    except OSError as exc:
        raise FileError.from_os_error(exc, path) from exc


def _write(path: str, text: str, mode: str) -> None:
    if mode == "a":
        with open(path, "a", encoding="utf-8", errors="backslashreplace") as fh:
            fh.write(text)
        return
    import tempfile  # not at start-up: most commands never write a file

    folder = os.path.dirname(os.path.abspath(path))
    fd, tmp = tempfile.mkstemp(prefix=".voicebot-sync-", suffix=".tmp", dir=folder)
    try:
        # A lone surrogate from outside is written as its JSON escape (\ud800), which a JSON
        # reader decodes back: the file round-trips and writing it never fails.
        with os.fdopen(fd, "w", encoding="utf-8", errors="backslashreplace") as fh:
            fh.write(text)
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise


class RedactingFile(io.TextIOBase):
    """An append-only text file whose every write is redacted (``--log-file``)."""

    def __init__(self, path: str):
        try:
            self._fh = open(path, "a", encoding="utf-8", errors="backslashreplace")
        except OSError as exc:
            raise FileError.from_os_error(exc, path) from exc

    def write(self, text: str) -> int:
        self._fh.write(redact(text))
        return len(text)

    def flush(self) -> None:
        self._fh.flush()

    def close(self) -> None:
        self._fh.close()


@contextlib.contextmanager
def open_text(path: str) -> Iterator[RedactingFile]:
    fh = RedactingFile(path)
    try:
        yield fh
    finally:
        fh.close()
