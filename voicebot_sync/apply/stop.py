"""A stop request (SIGINT, SIGTERM, a deadline) that waits can notice.

The first signal asks the run to stop starting operations; a wait in progress
ends at once. While the outcome of a write is being checked, waits are not
interrupted: a POST must never be left unknown. A second signal stops at once.
"""

from __future__ import annotations

import signal
import threading
import time
from contextlib import contextmanager
from typing import Callable, Iterator


class StopRequested(Exception):
    """Raised out of a wait when a stop was requested; nothing was sent for that wait."""


class SecondSignal(KeyboardInterrupt):
    """The second SIGINT/SIGTERM: stop at once (exit 130). Whatever was in flight is unknown."""


class StopSignal:
    """Set by a signal handler (or a test); read between operations and inside waits."""

    def __init__(self, on_tick: Callable[[float], None] | None = None) -> None:
        # Called about every 0.2 s of a wait with the seconds left: a status line that ticks.
        self.on_tick = on_tick
        self.deadline: float | None = None  # time.monotonic() past which no wait may end
        self._event = threading.Event()
        self.reason = ""
        self.signals = 0
        self._guarded = 0

    @property
    def requested(self) -> bool:
        return self._event.is_set()

    def request(self, reason: str) -> None:
        if not self._event.is_set():
            self.reason = reason
        self._event.set()

    def sleep(self, seconds: float) -> None:
        """Sleep, unless a stop is requested; then raise StopRequested (outside a guard).

        A wait that would end past ``deadline`` (--max-duration) is not started at all:
        a Retry-After of an hour never holds a run that has ten seconds left."""
        if self._guarded:
            time.sleep(seconds)
            return
        if self.deadline is not None and time.monotonic() + seconds > self.deadline:
            self.request("time budget (--max-duration) would run out during a wait")
            raise StopRequested(self.reason)
        deadline = time.monotonic() + seconds
        while True:
            left = deadline - time.monotonic()
            if left <= 0:
                return
            if self.on_tick is not None:
                self.on_tick(left)
            # Short slices: the main thread must get back to Python to see a signal.
            if self._event.wait(min(left, 0.2)):
                raise StopRequested(self.reason)

    def check(self) -> None:
        if self.requested and not self._guarded:
            raise StopRequested(self.reason)

    @contextmanager
    def guard(self) -> Iterator[None]:
        """Waits inside are not interrupted: used while checking a write whose answer was lost."""
        self._guarded += 1
        try:
            yield
        finally:
            self._guarded -= 1

    @contextmanager
    def handling_signals(self, on_first: Callable[[], None] | None = None) -> Iterator["StopSignal"]:
        """First SIGINT/SIGTERM: stop cleanly (``on_first`` says so at once). Second: KeyboardInterrupt, at once."""

        def handler(signum, frame):
            self.signals += 1
            if self.signals > 1:
                raise SecondSignal
            self.request(f"{signal.Signals(signum).name} received")
            if on_first is not None:
                try:
                    on_first()
                except Exception:  # saying so must never break the stop itself
                    pass

        if threading.current_thread() is not threading.main_thread():
            yield self
            return
        previous = {s: signal.signal(s, handler) for s in (signal.SIGINT, signal.SIGTERM)}
        try:
            yield self
        finally:
            for s, h in previous.items():
                signal.signal(s, h)
