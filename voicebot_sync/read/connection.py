"""The connection checks: an API URL the key may travel to, a key that can be a header, and what counts as
this machine (loopback). Settings run them on what they resolved; the faces reuse ``is_loopback``."""

from __future__ import annotations

import ipaddress
from urllib.parse import urlsplit

from ..errors import ConfigError
from ..text.escaping import short
from ..text.redaction import QUERY_SECRET, redact

LOCAL_API_URL = "local"  # the built-in emulator, in-process; state in .voicebot-sync/local-api.json under the cwd
DEFAULT_KEY_ENV = "VOICEBOT_API_KEY"


def check_api_url(url: str, *, insecure: bool = False) -> str:
    """``local``, https, or http to loopback; http elsewhere needs --insecure (the key would travel in clear).

    Returns the URL without a trailing slash; raises ConfigError otherwise."""
    url = str(url).strip().rstrip("/")
    if url == LOCAL_API_URL:
        return url
    try:
        parts = urlsplit(url)
        parts.port  # noqa: B018 - parses the port: a bad one raises here, not at the first request
        (parts.hostname or "").encode("idna")
    except (ValueError, UnicodeError):
        raise ConfigError(f"invalid API URL {short(redact(url), 80)}: use https://HOST/PATH, or 'local' for the "
                          "built-in emulator") from None
    scheme = parts.scheme.lower()
    if scheme not in ("http", "https") or not parts.hostname:
        raise ConfigError(f"invalid API URL {url!r}: use https://HOST/PATH, or 'local' for the built-in emulator")
    if parts.username is not None or parts.password is not None:
        raise ConfigError(f"the API URL {redact(url)} carries credentials: remove them and set the key in "
                          f"{DEFAULT_KEY_ENV} (or api_key_env)")
    if QUERY_SECRET.search("?" + parts.query) or parts.fragment:
        raise ConfigError(f"the API URL {redact(url)} carries a query or fragment: give only https://HOST/PATH, "
                          f"and the key in {DEFAULT_KEY_ENV}")
    if scheme == "http" and not insecure and not is_loopback(parts.hostname):
        raise ConfigError(f"refusing plain http:// to {parts.hostname}: the key would travel in clear; "
                          "use https://, or pass --insecure")
    return url


def is_loopback(host: str | None) -> bool:
    """An IP-literal loopback address (127.0.0.0/8, ::1) or the exact name ``localhost``.

    Other names that merely look local (``evil.localhost``) can resolve anywhere."""
    if not host:
        return False
    host = host.lower().strip("[]")
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def check_api_key(key: str, source: str) -> str:
    """The key without surrounding whitespace; refused (never repeated) when it could not be a header.

    A pasted secret often ends in a newline or CR; anything else outside
    printable ASCII (inner spaces, controls, curly quotes) means a wrong paste."""
    stripped = key.strip()
    if not stripped:
        raise ConfigError(f"the API key from {source} is empty (only whitespace)")
    if len(stripped) < 3:
        raise ConfigError(f"the API key from {source} is too short to be a key ({len(stripped)} characters): "
                          "it was not used; copy the key again (nothing was sent)")
    for position, ch in enumerate(stripped, 1):
        if not "\x21" <= ch <= "\x7e":
            kind = ("whitespace" if ch.isspace() else "a control character" if ord(ch) < 0x20 or 0x7F <= ord(ch) < 0xA0
                    else "a non-ASCII character")
            raise ConfigError(f"the API key from {source} contains {kind} (U+{ord(ch):04X}) at position {position} "
                              f"of {len(stripped)}: it was not used; copy the key again (nothing was sent)")
    return stripped
