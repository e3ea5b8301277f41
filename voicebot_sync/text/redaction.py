"""Secrets never leave the process: one redaction for everything that is written.

The key is registered here the moment it is read (before it is checked, so even
the error that refuses it cannot repeat it). ``redact`` then removes, from any
text: every registered secret in every form a reader decodes back to it (plain,
URL-encoded, JSON-escaped, HTML- and Markdown-escaped, ``repr``), its ``Bearer`` form,
any ``Authorization`` header value, and credentials inside URLs (``user:pass@``
and key-like query parameters). Every output door (``doors.py``) calls it, so a
new sink cannot forget it. Server-supplied text is redacted as it enters
(``redact_answer``, in the API client), before anything escapes, serialises or
cuts it: a cut key or an escaped one no longer matches any pattern.
"""

from __future__ import annotations

import hashlib
import html
import json
import re
import threading
from typing import Any
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
    forms = {f for f in encoded_forms(value) | encoded_forms(value.strip()) if len(f) >= MIN_SECRET_LENGTH}
    with _lock:
        if forms <= _secrets:
            return
        _secrets.update(forms)
        ordered = sorted(_secrets, key=len, reverse=True)
        _pattern = re.compile("|".join(re.escape(s) for s in ordered))


def encoded_forms(value: str) -> set[str]:
    r"""``value`` as every sink we write may spell it, and every reader decodes back to it:
    plain, URL-encoded, JSON-escaped (``\"``, ``\\``, ``\/``), ``repr``, HTML entities and
    the Markdown door's entities (``sk&#95;live``, which GitHub renders as ``sk_live``)."""
    from .escaping import md_text  # the Markdown door's own spelling, whatever it becomes

    as_json = json.dumps(value)[1:-1]
    forms = {value, quote(value, safe=""), quote_plus(value), repr(value)[1:-1], as_json,
             as_json.replace("/", "\\/"), json.dumps(value, ensure_ascii=False)[1:-1],
             value.encode("utf-8", "backslashreplace").decode("ascii", "backslashreplace"),
             html.escape(value, quote=True), html.escape(value, quote=False), md_text(value)}
    return forms


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


def has_secrets() -> bool:
    return _pattern is not None


# A \u escape of a printable ASCII character: the only way a JSON body can spell a key
# (printable ASCII, config refuses anything else) that the raw text does not show.
_ASCII_ESCAPE = re.compile(rb"\\u00[2-7][0-9a-fA-F]")


def redact_answer(text: str) -> str:
    """A server's answer as it enters, before it is decoded: registered secrets removed in
    every spelling the body can hold them (the data-file rule: nothing else is touched, so a
    message that merely looks like a credential stays the user's text)."""
    return redact(text, generic=False) if _pattern is not None else text


def answer_needs_walk(content: bytes) -> bool:
    """True when the decoded answer may still spell a secret that its raw body hid in escapes."""
    return _pattern is not None and _ASCII_ESCAPE.search(content) is not None


def redact_value(value: Any) -> Any:
    """Every string inside a decoded JSON value redacted (registered secrets only), iteratively."""
    if _pattern is None:
        return value
    if isinstance(value, str):
        return redact(value, generic=False)
    root = [value]
    stack: list[Any] = [root]
    while stack:
        node = stack.pop()
        keys = range(len(node)) if isinstance(node, list) else list(node)
        for k in keys:
            item = node[k]
            if isinstance(item, str):
                node[k] = redact(item, generic=False)
            elif isinstance(item, (list, dict)):
                stack.append(item)
    return root[0]


def fingerprint(value: str) -> str:
    """A short, non-reversible name for a key: for ledgers, locks and journals, never the key."""
    return hashlib.sha256(("voicebot-sync:" + value).encode("utf-8", "surrogatepass")).hexdigest()[:16]
