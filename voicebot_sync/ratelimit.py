"""A sliding-window log over several windows at once (``6/1m,60/1h``).

Every request of a run, the initial list and every retry included, is recorded
here before it is sent. A request starts as soon as every window has room, so a
run never waits longer than the limit requires and never sends more than it
allows. Clock and sleep are injected: tests move a fake clock instead of sleeping.
"""

from __future__ import annotations

import time
from collections import deque
from typing import Callable, Iterable

from .durations import Window, format_window

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
        """Wait until every window has room, record the start, and return the time waited."""
        waited = 0.0
        while True:
            wait, why = self.delay()
            if wait <= 0:
                break
            if self.on_wait:
                self.on_wait(wait, why)
            self.sleep(wait)
            waited += wait
        self.record()
        self.waited += waited
        return waited

    def record(self, at: float | None = None) -> None:
        """Count a request that started at ``at`` (now by default)."""
        self._log.append(self.clock() if at is None else at)
        self.recorded += 1

    def settle(self) -> None:
        """Move the newest entry to now, when its answer came back.

        The server counts a request when it arrives, which is after we recorded
        its start; counting from the answer instead is never earlier than the
        server's count, so jitter in the network cannot turn into a 429."""
        if self._log:
            self._log[-1] = max(self._log[-1], self.clock())

    def block_for(self, seconds: float, reason: str) -> None:
        """Start nothing for ``seconds`` (a server's Retry-After, a backoff)."""
        until = self.clock() + max(seconds, 0.0)
        if until > self._blocked_until:
            self._blocked_until, self._blocked_reason = until, reason

    def full_window_wait(self) -> float | None:
        """When our own log shows a full window, how long until it frees; else None."""
        wait, why = self.delay()
        return wait if wait > 0 and why.startswith("rate limit") else None

    def earliest_starts(self, n: int, now: float | None = None) -> list[float]:
        """Start times, relative to now, of the next ``n`` requests if none fails."""
        start = self.clock() if now is None else now
        twin = RateLimiter(self.windows, clock=lambda: start)
        twin._log.extend(self._log)
        twin._blocked_until = self._blocked_until
        starts = []
        t = start
        for _ in range(n):
            t += twin.delay(t)[0]
            twin.record(t)
            starts.append(t - start)
        return starts


def least_time(requests: int, windows: Iterable[Window]) -> float:
    """When the last of ``requests`` may start at the earliest, the first starting now
    with the whole budget free (4 requests at 6/1m,60/1h: 0; 7: 60; 61: 3600)."""
    if requests <= 0:
        return 0.0
    return RateLimiter(windows, clock=lambda: 0.0).earliest_starts(requests, now=0.0)[-1]
