"""Secrets never leave the process: one redaction for everything that is written.

The key is registered here the moment it is read (before it is checked, so even
the error that refuses it cannot repeat it). ``redact`` then removes, from any
text: every registered secret in its plain, URL-encoded and ``Bearer`` forms,
any ``Authorization`` header value, and credentials inside URLs (``user:pass@``
and key-like query parameters). Every output door (``doors.py``) calls it, so a
new sink cannot forget it; server-supplied text passes through it too.
"""

from __future__ import annotations

import hashlib
import re
import threading
from urllib.parse import quote, quote_plus

MASK = "***"
# Shorter values would mask ordinary words; keys are long random strings.
MIN_SECRET_LENGTH = 3  # config refuses shorter keys: nothing shorter can be masked without masking words

_lock = threading.Lock()
_secrets: set[str] = set()
_pattern: re.Pattern[str] | None = None

_AUTH_HEADER = re.compile(r"(?i)\b(authorization|proxy-authorization)(['\"]?\s*[:=]\s*['\"]?)([^\r\n'\",}]*)")
_BEARER = re.compile(r"(?i)\b(bearer|basic)(\s+)([A-Za-z0-9._~+/=\-:%]{3,})")
_URL_USERINFO = re.compile(r"(?i)\b([a-z][a-z0-9+.\-]*://)([^/\s@'\"<>]*@)")
QUERY_SECRET = re.compile(
    r"(?i)([?&;](?:api[_-]?key|apikey|key|token|access[_-]?token|auth|secret|password|passwd|pwd|sig|signature)=)([^&#\s'\"<>]*)"
)


def register_secret(value: str | None) -> None:
    """Mask ``value`` (and its encoded forms) in all text that leaves from now on."""
    global _pattern
    if not value:
        return
    forms = {value, value.strip(), quote(value, safe=""), quote_plus(value), repr(value)[1:-1],
             value.encode("utf-8", "backslashreplace").decode("ascii", "backslashreplace")}
    forms = {f for f in forms if len(f) >= MIN_SECRET_LENGTH}
    with _lock:
        if forms <= _secrets:
            return
        _secrets.update(forms)
        ordered = sorted(_secrets, key=len, reverse=True)
        _pattern = re.compile("|".join(re.escape(s) for s in ordered))


def forget_secrets() -> None:
    """Tests only: start again with nothing registered."""
    global _pattern
    with _lock:
        _secrets.clear()
        _pattern = None


def redact(text: str, *, generic: bool = True) -> str:
    """``text`` without registered secrets, Authorization values and URL credentials.

    ``generic=False`` removes only the registered secrets: for data files (saved
    plans, exports) whose content must round-trip exactly, where a message that
    merely looks like a credential (``?key=…``) is the user's own text."""
    if not text:
        return text
    pattern = _pattern
    if pattern is not None:
        text = pattern.sub(MASK, text)
    if not generic:
        return text
    text = _AUTH_HEADER.sub(lambda m: m.group(1) + m.group(2) + MASK, text)
    text = _BEARER.sub(lambda m: m.group(1) + m.group(2) + MASK, text)
    text = _URL_USERINFO.sub(lambda m: m.group(1) + MASK + "@", text)
    return QUERY_SECRET.sub(lambda m: m.group(1) + MASK, text)


def fingerprint(value: str) -> str:
    """A short, non-reversible name for a key: for ledgers, locks and journals, never the key."""
    return hashlib.sha256(("voicebot-sync:" + value).encode("utf-8", "surrogatepass")).hexdigest()[:16]
