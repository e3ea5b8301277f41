"""Durations (``90s``, ``5h30m``) and rate-limit specs (``6/1m,60/1h``, ``off``)."""

from __future__ import annotations

import re

from ..errors import ConfigError
from ..text.escaping import short

_UNITS = {"s": 1.0, "m": 60.0, "h": 3600.0}
_PART = re.compile(r"([0-9]+(?:\.[0-9]+)?)([smh])")

DEFAULT_RATE_LIMIT = "6/1m,60/1h"

MAX_DURATION = 366 * 86400.0  # a year: longer is a typo, and huge floats break the maths
MAX_COUNT = 1_000_000  # requests in one window

Window = tuple[int, float]  # (requests allowed, window length in seconds)


def parse_duration(text: str) -> float:
    """``5h30m`` -> 19800.0; a sum of numbers each with the unit s, m or h."""
    spec = str(text).strip().replace(" ", "")
    if not spec or _PART.sub("", spec):
        raise ConfigError(f"invalid duration {short(text)}: use a number with s, m or h, such as 90s or 5h30m")
    seconds = sum(float(n) * _UNITS[u] for n, u in _PART.findall(spec))
    if not seconds < MAX_DURATION:  # also catches inf from a thousand-digit number
        raise ConfigError(f"invalid duration {short(text)}: at most {MAX_DURATION / 86400:g} days")
    return seconds


def parse_rate_limit(text: str | None) -> list[Window]:
    """``6/1m,60/1h`` -> [(6, 60.0), (60, 3600.0)]; ``off`` (or empty) -> []."""
    spec = (text or "").strip()
    if spec.lower() in ("", "off", "none"):
        return []
    windows: list[Window] = []
    for part in spec.split(","):
        count, sep, duration = part.strip().partition("/")
        count = count.strip()
        if not sep or not count.isascii() or not count.isdigit() or int(count[:9] or 0) < 1:
            raise ConfigError(
                f"invalid rate limit {short(part.strip())} in {short(text)}: use COUNT/DURATION, such as 6/1m,60/1h, or off"
            )
        if len(count) > 7 or int(count) > MAX_COUNT:
            raise ConfigError(f"invalid rate limit {short(part.strip())}: at most {MAX_COUNT} requests in a window")
        seconds = parse_duration(duration)
        if seconds <= 0:
            raise ConfigError(f"invalid rate limit {short(part.strip())}: the window must be longer than 0s")
        windows.append((int(count), seconds))
    return sorted(windows, key=lambda w: w[1])


def format_window(window: Window) -> str:
    count, seconds = window
    for unit, size in (("h", 3600), ("m", 60)):
        if seconds >= size and seconds % size == 0:
            return f"{count}/{int(seconds // size)}{unit}"
    return f"{count}/{seconds:g}s"


WEEK = 7 * 24 * 3600.0


def format_seconds(seconds: float) -> str:
    """3725 -> '1h2m5s'; for humans reading waits and estimates. Bounded words whatever the number:
    a wait past a week (a server's absurd Retry-After, an infinite estimate) is "over a week"."""
    if not isinstance(seconds, (int, float)) or seconds != seconds:
        return "an unknown time"
    if seconds > WEEK:
        return "over a week"
    total = int(round(max(seconds, 0)))
    if total < 60:
        return f"{total}s"
    hours, rest = divmod(total, 3600)
    minutes, secs = divmod(rest, 60)
    out = f"{hours}h" if hours else ""
    if minutes or (hours and secs):
        out += f"{minutes}m"
    if secs:
        out += f"{secs}s"
    return out


# -- the pure schedule maths: the one place that computes least time and ETAs -----------------


def earliest_starts(n: int, windows, starts=(), *, now: float = 0.0, blocked_until: float = 0.0) -> list[float]:
    """Start times, relative to ``now``, of the next ``n`` requests when every window of
    ``windows`` must have room and ``starts`` are the requests already made (absolute times)."""
    windows = sorted(windows, key=lambda w: w[1])
    log = list(starts)
    out = []
    t = now
    for _ in range(n):
        t = max([t, blocked_until] + [log[-count] + length for count, length in windows if len(log) >= count])
        log.append(t)
        out.append(t - now)
    return out


def least_time(requests: int, windows) -> float:
    """When the last of ``requests`` may start at the earliest, the first starting now
    with the whole budget free (4 requests at 6/1m,60/1h: 0; 7: 60; 61: 3600)."""
    if requests <= 0:
        return 0.0
    return earliest_starts(requests, windows)[-1]
