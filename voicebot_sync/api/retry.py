"""Backoff for transient faults: exponential, capped, with full jitter."""

from __future__ import annotations

import random
from dataclasses import dataclass, field

from ..core.schedule import format_seconds
from ..errors import ConnectionFailed, ServerError


@dataclass
class RetryPolicy:
    """How often and how patiently a transient fault (network, 5xx) is retried."""

    max_retries: int = 5
    base: float = 1.0
    cap: float = 60.0
    # A 429 is never a failure by itself, but a server that answers nothing else is.
    max_rate_limited: int = 12
    # The longest Retry-After worth waiting for: the longest rate window plus a margin.
    max_retry_after: float = 3600.0 + 60.0
    # The longest total wait one request may spend on 429s (None: as long as the answers ask);
    # read-only commands bound it, so a server that refuses everything is given up on in time.
    max_wait: float | None = None
    rng: random.Random = field(default_factory=random.Random, repr=False)

    def backoff(self, attempt: int) -> float:
        """Seconds to wait before retry number ``attempt`` (1-based): full jitter in [b/2, b]."""
        ceiling = min(self.cap, self.base * (2 ** (attempt - 1)))
        return ceiling / 2 + self.rng.random() * ceiling / 2


def backoff_reason(exc: Exception) -> str:
    """Why a wait is held, in a person's words (a status line shows it; never a class name)."""
    if isinstance(exc, ServerError):
        return f"retrying after a server error{f' (HTTP {exc.status})' if exc.status else ''}"
    if isinstance(exc, ConnectionFailed):
        return "retrying after the connection failed"
    return "retrying after a failed request"


def refused_429(limited: int, waited: float, retry_after: float | None) -> str:
    """What the server did, in a person's words: a stop over 429s names it, not a guessed cause."""
    asked = f", the last with Retry-After {format_seconds(retry_after)}" if retry_after is not None \
        else ", without Retry-After"
    return (f"the server answered 429 (too many requests) to {limited} request{'s' if limited != 1 else ''} in a "
            f"row over {format_seconds(waited)}{asked}: the key's quota is spent there (by this or other runs), or "
            "the server refuses everything")
