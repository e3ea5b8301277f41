"""A sliding-window log over several windows at once (``6/1m,60/1h``).

Every request of a run, the initial list and every retry included, is recorded
here before it is sent. A request starts as soon as every window has room, so a
run never waits longer than the limit requires and never sends more than it
allows. Clock and sleep are injected: tests move a fake clock instead of sleeping.

With a ``Ledger`` (``ledger.py``) the limiter also starts from what earlier runs
spent with the same key: their requests and any 429 block, converted from wall
time to this limiter's clock. Every request it records, settles or is blocked
for is written back, so the next run starts from it in turn. A ledger that
cannot be read counts as a full window just spent, never as an empty one.
"""

from __future__ import annotations

import math
import time
from collections import deque
from dataclasses import dataclass
from typing import TYPE_CHECKING, Callable, Iterable

from ..core.schedule import Window, earliest_starts, format_seconds, format_window, least_time  # noqa: F401 - re-exported

if TYPE_CHECKING:
    from ..state.ledger import Ledger, LedgerState

WaitHook = Callable[[float, str], None]


class RateLimiter:
    """Grants request slots so that no window of ``windows`` is ever exceeded."""

    def __init__(
        self,
        windows: Iterable[Window],
        *,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] = time.sleep,
        on_wait: WaitHook | None = None,
        ledger: "Ledger | None" = None,
        read_only: bool = False,
    ):
        self.windows = sorted(windows, key=lambda w: w[1])
        self.clock = clock
        self.sleep = sleep
        self.on_wait = on_wait
        # Only the newest `count` starts matter for a window of `count` requests.
        self._log: deque[float] = deque(maxlen=max((c for c, _ in self.windows), default=1))
        self._blocked_until = 0.0
        self._blocked_reason = ""
        self.recorded = 0
        self.waited = 0.0
        self.ledger: Ledger | None = None
        # The wall time written to the ledger for the newest entry (what settle() moves).
        self._ledger_newest: float | None = None
        # The latest ledger problem (unreadable, unwritable), for a warning; None when fine.
        self.ledger_problem: str | None = None
        self.ledger_notice: str | None = None  # what a read-only command did with an unreadable ledger
        if ledger is not None:
            self.attach_ledger(ledger, read_only=read_only)

    # -- the ledger ----------------------------------------------------------------

    def attach_ledger(self, ledger: "Ledger", *, read_only: bool = False) -> "LedgerState":
        """Start from what the ledger proves was spent, and write every request to it from now on.

        ``read_only`` (plan, drift, export): a ledger that cannot be trusted is set aside, not waited
        on for a whole window; such a command spends one request or a few, and the server's 429s
        hold it back if the budget really is spent. Apply keeps the cautious reading."""
        longest = max((length for _, length in self.windows), default=0.0)
        # Never let this ledger drop what our longest window still needs.
        ledger.keep_seconds = max(ledger.keep_seconds, longest)
        self.ledger = ledger
        state = ledger.load()
        if not state.trusted and read_only:
            aside = ledger.set_aside()
            self.ledger_notice = (f"warning: {state.problem}; " + (f"kept as {aside} and " if aside else "")
                                  + "not waited on: a read-only command relies on the server's 429s")
            state = type(state)()
        elif not state.trusted:
            self.ledger_problem = state.problem
        self.seed(state, now=self.clock(), now_wall=ledger.wall())
        return state

    def seed(self, state: "LedgerState", *, now: float, now_wall: float) -> None:
        """Add a ledger's state (wall times) to the log (times of ``clock``), ``now`` being ``now_wall``."""
        shift = now - now_wall
        longest = max((length for _, length in self.windows), default=0.0)
        # A start in the future (the wall clock stepped back) happened by now at the latest.
        seen = [min(t + shift, now) for t in state.starts if t + shift > now - longest]
        if seen:
            self._log = deque(sorted([*self._log, *seen]), maxlen=self._log.maxlen)
        if state.blocked_until > now_wall:
            self._block_until(state.blocked_until + shift, state.blocked_reason or "server said 429 Retry-After")
        if state.unknown_before and longest:
            # The history before unknown_before is lost: assume every window was full just before it.
            why = "a ledger was unreadable: assuming the key's budget was just spent"
            if state.problem:
                why = f"{state.problem}: assuming the key's budget was just spent"
            self._block_until(state.unknown_before + shift + longest, why)

    def _block_until(self, until: float, reason: str) -> None:
        if until > self._blocked_until:
            self._blocked_until, self._blocked_reason = until, reason

    def _to_wall(self, at: float) -> float:
        assert self.ledger is not None
        return self.ledger.wall() - (self.clock() - at)

    def _write_ledger(self, write: Callable[["Ledger"], None]) -> None:
        from ..state.ledger import LedgerError

        if self.ledger is None:
            return
        try:
            write(self.ledger)
        except LedgerError as exc:
            # The run itself stays within the limit (its own log is in memory);
            # only the next run may not see this request. Say so, do not stop.
            self.ledger_problem = str(exc)

    def delay(self, now: float | None = None) -> tuple[float, str]:
        """Seconds until the next request may start, and why (the binding window)."""
        now = self.clock() if now is None else now
        wait, why = 0.0, ""
        for count, length in self.windows:
            if len(self._log) >= count:
                free_at = self._log[-count] + length
                if free_at - now > wait:
                    wait, why = free_at - now, f"rate limit {format_window((count, length))}"
        if self._blocked_until - now > wait:
            wait, why = self._blocked_until - now, self._blocked_reason
        return max(wait, 0.0), why

    def acquire(self) -> float:
        """Wait until every window has room, record the start, and return the time waited.

        With a ledger, the slot is also reserved in it (under its lock), so other
        processes spending the same key at the same time are counted too."""
        waited = 0.0
        while True:
            wait, why = self.delay()
            if wait <= 0 and self.ledger is not None and self.ledger_problem is None:
                wait = self._reserve_shared()
                why = "rate limit shared with another run of this key"
                if wait <= 0:
                    break
            elif wait <= 0:
                break
            if self.on_wait:
                self.on_wait(wait, why)
            self.sleep(wait)
            waited += wait
        if self.ledger is not None and self.ledger_problem is None:
            self._record_local()  # the ledger has it already
        else:
            self.record()
        self.waited += waited
        return waited

    def _reserve_shared(self) -> float:
        """0.0 when the ledger granted (and recorded) the slot now; else seconds to wait."""
        from ..state.ledger import LedgerError

        assert self.ledger is not None
        wall = self.ledger.wall()
        try:
            wait = self.ledger.reserve(self.windows, wall)
        except LedgerError as exc:
            self.ledger_problem = str(exc)
            return 0.0  # our own log decides from now on (record() below writes nothing more)
        if wait <= 0:
            self._ledger_newest = wall
        return wait

    def _record_local(self) -> None:
        self._log.append(self.clock())
        self.recorded += 1

    def record(self, at: float | None = None) -> None:
        """Count a request that started at ``at`` (now by default)."""
        at = self.clock() if at is None else at
        self._log.append(at)
        self.recorded += 1
        if self.ledger is not None:
            wall = self._to_wall(at)
            self._ledger_newest = wall
            self._write_ledger(lambda ledger: ledger.record(wall))

    def settle(self) -> None:
        """Move the newest entry to now, when its answer came back.

        The server counts a request when it arrives, which is after we recorded
        its start; counting from the answer instead is never earlier than the
        server's count, so jitter in the network cannot turn into a 429."""
        if self._log:
            self._log[-1] = max(self._log[-1], self.clock())
            if self.ledger is not None and self._ledger_newest is not None:
                old, new = self._ledger_newest, max(self._ledger_newest, self._to_wall(self._log[-1]))
                if new != old:
                    self._ledger_newest = new
                    self._write_ledger(lambda ledger: ledger.settle(old, new))

    def block_for(self, seconds: float, reason: str) -> None:
        """Start nothing for ``seconds`` (a server's Retry-After, a backoff)."""
        until = self.clock() + max(seconds, 0.0)
        if until > self._blocked_until:
            self._blocked_until, self._blocked_reason = until, reason
            if self.ledger is not None:
                # The next run (any process with this key) honours it too.
                wall = self._to_wall(until)
                self._write_ledger(lambda ledger: ledger.block_until(wall, reason))

    def full_window_wait(self) -> float | None:
        """When our own log shows a full window, how long until it frees; else None."""
        wait, why = self.delay()
        return wait if wait > 0 and why.startswith("rate limit") else None

    def earliest_starts(self, n: int, now: float | None = None) -> list[float]:
        """Start times, relative to now, of the next ``n`` requests if none fails (the ETA)."""
        start = self.clock() if now is None else now
        return earliest_starts(n, self.windows, self._log, now=start, blocked_until=self._blocked_until)


@dataclass(frozen=True)
class WindowBudget:
    """One window of a key's budget: how much of it is spent and when it frees."""

    window: Window
    used: int
    left: int
    next_free_in: float  # seconds until this window lets a request start (0: now)


@dataclass(frozen=True)
class BudgetStatus:
    """A key's budget as the ledger shows it (for the ``budget`` command)."""

    windows: list[WindowBudget]
    next_start_in: float  # seconds until the next request may start (0: now)
    reason: str  # what holds it back ('' when nothing does)
    trusted: bool = True
    problem: str = ""

    def describe(self) -> str:
        """``6/1m: 2 left; 60/1h: 41 left; next request may start now`` (or ``in 37s``)."""
        parts = [f"{format_window(w.window)}: {w.left} left" for w in self.windows]
        if self.next_start_in > 0:
            parts.append(f"next request may start in {format_seconds(math.ceil(self.next_start_in))} ({self.reason})")
        else:
            parts.append("next request may start now")
        return "; ".join(parts)


def budget_status(windows: Iterable[Window], state: "LedgerState", now_wall: float) -> BudgetStatus:
    """What ``state`` (a ledger's, in wall time) leaves of each window at ``now_wall``.

    Pure: the same arithmetic as a limiter seeded from that state, so what it
    says matches what the next run will do. An untrusted state shows every
    window full until its longest window has passed."""
    ordered = sorted(windows, key=lambda w: w[1])
    longest = max((length for _, length in ordered), default=0.0)
    limiter = RateLimiter(ordered, clock=lambda: now_wall)
    limiter.seed(state, now=now_wall, now_wall=now_wall)
    unknown_until = state.unknown_before + longest if state.unknown_before else 0.0
    log = list(limiter._log)
    rows = []
    for count, length in ordered:
        if unknown_until > now_wall:
            # Nothing is known before unknown_before: every window counts as full until the limiter's block ends.
            used, free_in = count, unknown_until - now_wall
        else:
            used = min(sum(1 for t in log if t > now_wall - length), count)
            free_in = max(log[-count] + length - now_wall, 0.0) if len(log) >= count else 0.0
        rows.append(WindowBudget((count, length), used, count - used, free_in))
    wait, why = limiter.delay(now_wall)
    return BudgetStatus(rows, wait, why, state.trusted, state.problem)
