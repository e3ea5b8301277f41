"""What earlier runs spent with a key: a small JSON file per key fingerprint.

The server counts requests per key, not per process, so a run that starts
right after another must know what that one sent. The ledger keeps, per key
fingerprint (never the key), the wall-clock times (``time.time()``) of the
requests sent recently and the time until which the server told us to wait
(a 429 ``Retry-After``)::

    .voicebot-sync/ledger/<fingerprint>.json
    {"version": 1, "starts": [1700000000.25, ...], "blocked_until": 0.0,
     "blocked_reason": "", "unknown_before": 0.0}

Every read-modify-write holds a ``filelock.FileLock`` on ``<file>.lock`` and
ends in an atomic replace (a temporary file in the same directory, then
``os.replace``), so several processes may write at once and a reader never
sees half a file.

It never claims more budget than it can prove free. A missing file means
nothing was spent. A file that cannot be trusted (not JSON, the wrong shape,
times in the future, unreadable, a lock that cannot be had) yields a state
with ``trusted=False`` and ``unknown_before=now``: the history before now is
unknown, so a limiter must assume every window was full just before now. The
next successful write replaces such a file and carries ``unknown_before``
forward, so a run that reads the repaired file assumes no less than the one
that found it broken.
"""

from __future__ import annotations

import hashlib
import json
import math
import os
import re
import tempfile
import time
from dataclasses import dataclass
from typing import Any, Callable

from filelock import FileLock, Timeout

from ..text.safejson import loads

DEFAULT_DIRECTORY = os.path.join(".voicebot-sync", "ledger")
VERSION = 1
# Bounded size: more than any window's count needs (the API allows 60 an hour).
MAX_ENTRIES = 1000
# Entries are dropped once they are older than this on every write. Longer than
# any window a process may use (a limiter raises it to its longest window), so
# a process configured with short windows never drops what another one needs.
DEFAULT_KEEP_SECONDS = 24 * 3600.0
# Wall clocks step (NTP): a start this little in the future is kept as it is
# (which only holds back more); further in the future the file is not trusted.
FUTURE_TOLERANCE = 60.0
# A Retry-After further away than this is taken for corruption, not advice.
MAX_BLOCK_SECONDS = 24 * 3600.0
# A ledger holds at most MAX_ENTRIES numbers; anything much larger is not one.
MAX_FILE_BYTES = 256 * 1024
DEFAULT_LOCK_TIMEOUT = 10.0

_FINGERPRINT = re.compile(r"^[0-9a-f]{8,64}$")


class LedgerError(Exception):
    """A ledger could not be written (the lock, the disk): the run goes on, the next run may not see it."""


@dataclass(frozen=True)
class LedgerState:
    """What a ledger proves about a key, in wall-clock seconds.

    ``starts``: sorted wall times of requests sent (started, or answered once settled).
    ``blocked_until``: no request may start before this (0: none).
    ``unknown_before``: the history before this time is unknown, so assume every
    window was full just before it (0: the history is complete).
    ``trusted``: False when the file could not be read; ``problem`` says why.
    """

    starts: tuple[float, ...] = ()
    blocked_until: float = 0.0
    blocked_reason: str = ""
    unknown_before: float = 0.0
    trusted: bool = True
    problem: str = ""


class Ledger:
    """One key's ledger file; every method is safe with other processes writing at once."""

    def __init__(
        self,
        directory: str | os.PathLike[str],
        fingerprint: str,
        *,
        wall: Callable[[], float] = time.time,
        keep_seconds: float = DEFAULT_KEEP_SECONDS,
        max_entries: int = MAX_ENTRIES,
        lock_timeout: float = DEFAULT_LOCK_TIMEOUT,
    ):
        if not isinstance(fingerprint, str) or not _FINGERPRINT.match(fingerprint):
            # A fingerprint is hex (redaction.fingerprint); never a key, never a path.
            raise ValueError("a ledger is named by a key fingerprint (hex), not by a key or a path")
        self.directory = os.fspath(directory)
        self.fingerprint = fingerprint
        self.wall = wall
        self.keep_seconds = float(keep_seconds)
        self.max_entries = int(max_entries)
        self.lock_timeout = lock_timeout
        self.path = os.path.join(self.directory, f"{fingerprint}.json")
        self.lock_path = self.path + ".lock"
        # When this object found the file untrusted, and the file's digest then
        # (None: it has not, or the file has been read fine since).
        self._distrusted: tuple[float, str | None] | None = None

    def __repr__(self) -> str:
        return f"Ledger({self.path!r})"

    # -- reading -----------------------------------------------------------------

    def set_aside(self) -> str | None:
        """Move a file that cannot be read as a ledger to ``<file>.bad`` (a locked or missing one stays);
        returns where it went. For read-only commands, which rely on the server's 429s instead."""
        state, _ = self._read(self.wall())
        if state.trusted or not os.path.exists(self.path):
            return None
        try:
            os.replace(self.path, self.path + ".bad")
        except OSError:
            return None
        return self.path + ".bad"

    def load(self) -> LedgerState:
        """The state as far as it can be proven; never raises."""
        now = self.wall()
        digest = None
        try:
            with self._lock():
                state, digest = self._read(now)
        except Timeout:
            state = self._untrusted(now, f"ledger {self.path} is locked by another process")
        except OSError as exc:
            state = self._untrusted(now, f"cannot lock ledger {self.path}: {exc.strerror or exc}")
        if state.trusted:
            self._distrusted = None
        elif self._distrusted is None or self._distrusted[1] != digest:
            self._distrusted = (now, digest)
        return state

    # -- writing -----------------------------------------------------------------

    def record(self, start_wall: float) -> None:
        """Add a request that started (or will be counted) at ``start_wall``."""
        self._update(lambda starts, block: (starts + [float(start_wall)], block))

    def reserve(self, windows, start_wall: float) -> float:
        """Record a request at ``start_wall`` if every window has room in the ledger; else the wait.

        Read, decide and write under the one lock, so processes running at the same
        time (a plan and an apply on one key) never take the same slot: 0.0 means
        recorded; a positive number is how long until the ledger has room."""
        wait = 0.0

        def change(starts: list[float], block):
            nonlocal wait
            starts = sorted(starts)
            until = block[0]
            free_at = max([until] + [starts[-count] + length for count, length in windows if len(starts) >= count])
            if free_at > start_wall:
                wait = free_at - start_wall
                return starts, block
            return starts + [float(start_wall)], block

        self._update(change)
        return wait

    def settle(self, old_wall: float, new_wall: float) -> None:
        """Move the entry recorded at ``old_wall`` to ``new_wall`` (never earlier).

        When that entry is gone (pruned, or the file was replaced), ``new_wall``
        is added: counting a request twice holds back more, never less."""

        def change(starts: list[float], block):
            new = max(float(old_wall), float(new_wall))
            try:
                starts[starts.index(float(old_wall))] = new
            except ValueError:
                starts.append(new)
            return starts, block

        self._update(change)

    def block_until(self, wall: float, reason: str = "") -> None:
        """No request (of any process) may start before ``wall``; a later block wins."""

        def change(starts, block):
            until, why = block
            if float(wall) > until:
                until, why = float(wall), reason
            return starts, (until, why)

        self._update(change)

    def prune(self, older_than_seconds: float | None = None) -> None:
        """Drop entries older than ``older_than_seconds`` (default ``keep_seconds``) and all
        but the newest ``max_entries``. Every write does this with ``keep_seconds``."""
        self._update(lambda starts, block: (starts, block), keep=older_than_seconds)

    # -- machinery ---------------------------------------------------------------

    def _lock(self) -> FileLock:
        return FileLock(self.lock_path, timeout=self.lock_timeout)

    def _untrusted(self, now: float, problem: str) -> LedgerState:
        return LedgerState(unknown_before=now, trusted=False, problem=problem)

    def _read(self, now: float) -> tuple[LedgerState, str | None]:
        """The state, and the digest of the bytes read (None when nothing could be read)."""
        try:
            with open(self.path, "rb") as fh:
                raw = fh.read(MAX_FILE_BYTES + 1)
        except FileNotFoundError:
            return LedgerState(), None
        except OSError as exc:
            return self._untrusted(now, f"cannot read ledger {self.path}: {exc.strerror or exc}"), None
        digest = hashlib.sha256(raw).hexdigest()
        if len(raw) > MAX_FILE_BYTES:
            return self._untrusted(now, f"ledger {self.path} is too large to be a ledger"), digest
        try:
            data = loads(raw)
        except ValueError:
            return self._untrusted(now, f"ledger {self.path} is not valid JSON"), digest
        problem = _check(data, now)
        if problem:
            return self._untrusted(now, f"ledger {self.path} {problem}"), digest
        return LedgerState(
            starts=tuple(sorted(float(t) for t in data["starts"])),
            blocked_until=float(data.get("blocked_until", 0.0)),
            blocked_reason=str(data.get("blocked_reason", "")),
            unknown_before=float(data.get("unknown_before", 0.0)),
        ), digest

    def _update(self, change, keep: float | None = None) -> None:
        """Read, change, prune and atomically replace the file, under the lock."""
        try:
            os.makedirs(self.directory, exist_ok=True)
            with self._lock():
                now = self.wall()
                state, digest = self._read(now)
                unknown_before = state.unknown_before
                if not state.trusted:
                    # Replace the broken file, but keep what it meant: the history
                    # before it was found broken is unknown. When it is the very file
                    # this object found broken at load (nobody has written since, or
                    # it would have been replaced), that was when; otherwise now.
                    unknown_before = now
                    if self._distrusted is not None and digest is not None and self._distrusted[1] == digest:
                        unknown_before = self._distrusted[0]
                starts, (until, why) = change(list(state.starts), (state.blocked_until, state.blocked_reason))
                horizon = now - (self.keep_seconds if keep is None else max(float(keep), 0.0))
                starts = sorted(t for t in starts if t > horizon)[-self.max_entries:] if self.max_entries > 0 else []
                if until <= now:
                    until, why = 0.0, ""
                if unknown_before <= horizon:
                    unknown_before = 0.0
                self._write({
                    "version": VERSION,
                    "starts": starts,
                    "blocked_until": until,
                    "blocked_reason": why[:200],
                    "unknown_before": unknown_before,
                })
        except Timeout as exc:
            raise LedgerError(f"ledger {self.path} is locked by another process") from exc
        except OSError as exc:
            raise LedgerError(f"cannot write ledger {self.path}: {exc.strerror or exc}") from exc
        # Written and trusted from now on.
        self._distrusted = None

    def _write(self, data: dict[str, Any]) -> None:
        fd, tmp = tempfile.mkstemp(prefix=f".{self.fingerprint}.", suffix=".tmp", dir=self.directory)
        try:
            with os.fdopen(fd, "w", encoding="utf-8") as fh:
                json.dump(data, fh, separators=(",", ":"))
                fh.flush()
                os.fsync(fh.fileno())
            os.replace(tmp, self.path)
        except BaseException:
            try:
                os.unlink(tmp)
            except OSError:
                pass
            raise


def _number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value) and value >= 0


def _check(data: Any, now: float) -> str:
    """Why ``data`` is not a ledger this version can trust ('' when it is)."""
    if not isinstance(data, dict):
        return "is not a JSON object"
    if data.get("version") != VERSION:
        return f"has version {data.get('version')!r}, not {VERSION}"
    starts = data.get("starts")
    if not isinstance(starts, list) or not all(_number(t) for t in starts):
        return "has no list of request times"
    if any(t > now + FUTURE_TOLERANCE for t in starts):
        return "holds request times in the future"
    for name, limit in (("blocked_until", MAX_BLOCK_SECONDS), ("unknown_before", FUTURE_TOLERANCE)):
        if name in data:
            if not _number(data[name]):
                return f"has an invalid {name}"
            if data[name] > now + limit:
                return f"has {name} too far in the future"
    if not isinstance(data.get("blocked_reason", ""), str):
        return "has an invalid blocked_reason"
    return ""


def ledger_for(api_key: str | None, directory: str | os.PathLike[str] | None = None, **kwargs: Any) -> Ledger | None:
    """The ledger of ``api_key`` (named by its fingerprint), or None without a key.

    ``directory`` defaults to ``ledger/`` under the state directory (``statedir.py``:
    ``.voicebot-sync/``, or ``VOICEBOT_SYNC_STATE_DIR``). The server counts per key,
    so the name is the key's fingerprint alone: every API URL used with one key
    shares its ledger, which can only hold back more."""
    if not api_key:
        return None
    from ..text.redaction import fingerprint

    if directory is None:
        from .statedir import state_dir

        directory = state_dir("ledger", create=False)
    return Ledger(directory, fingerprint(api_key), **kwargs)
