"""The emulator's quota: sliding windows counted per key, as the real service counts them, and how a
429 says when to come back (``Retry-After`` in seconds, as an HTTP date, or not at all)."""

from __future__ import annotations

import email.utils
import math
import time
from collections import deque


class Quota:
    """Per key, the times of its recent requests; a request the windows refuse is not counted."""

    def __init__(self, windows: list[tuple[int, float]] | None):
        self.windows = sorted(windows or [], key=lambda w: w[1])
        self._logs: dict[str, deque[float]] = {}

    def refuse(self, key: str, now: float) -> tuple[float, tuple[int, float]] | None:
        """None when the request fits (it is recorded); else the wait and the (count, seconds) window that binds."""
        log = self._logs.setdefault(key, deque(maxlen=max(c for c, _ in self.windows)))
        wait, binding = 0.0, None
        for count, length in self.windows:
            if len(log) >= count and log[-count] + length - now > wait:
                wait, binding = log[-count] + length - now, (count, length)
        if binding is None:
            log.append(now)
            return None
        return wait, binding


def retry_headers(wait: float, form: str) -> dict[str, str]:
    """The Retry-After header for a wait of ``wait`` seconds, in the format ``form`` (RETRY_AFTER_FORMATS)."""
    headers = {}
    if form == "seconds":
        headers["Retry-After"] = str(max(1, math.ceil(wait)))
    elif form == "http-date":
        # Round up to a whole second: an HTTP date cannot say less.
        headers["Retry-After"] = email.utils.formatdate(math.ceil(time.time() + wait), usegmt=True)
    return headers
