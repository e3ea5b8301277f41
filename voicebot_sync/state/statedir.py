"""Where the tool keeps its own files: ``.voicebot-sync/`` in the working directory.

Journal, locks, the budget ledger, crash logs and the local emulator's state all
live here (``VOICEBOT_SYNC_STATE_DIR`` moves it, for tests and odd runners). Names
of files that belong to an account use a fingerprint, never the key.
"""

from __future__ import annotations

import os

from ..text.redaction import fingerprint

STATE_DIR = ".voicebot-sync"


def state_dir(*parts: str, create: bool = True) -> str:
    """A directory under the state directory (created when ``create``)."""
    base = os.environ.get("VOICEBOT_SYNC_STATE_DIR") or STATE_DIR
    path = os.path.join(base, *parts)
    if create:
        os.makedirs(path, exist_ok=True)
    return path


def canonical_path(path: str) -> str:
    """One spelling of a URL path: repeated slashes merged (nginx does by default), dot segments
    resolved, percent-escapes of unreserved characters decoded and the others in upper case,
    no trailing slash: ``//voicebot/./v1/`` and ``/voicebot/v1`` are one path."""
    import posixpath
    import re
    from urllib.parse import quote, unquote

    def escape(m):
        char = unquote(m.group())
        return char if re.fullmatch(r"[A-Za-z0-9._~-]", char) else m.group().upper()

    path = re.sub(r"%[0-9A-Fa-f]{2}", escape, path)
    path = re.sub(r"/{2,}", "/", path)
    if path:
        path = posixpath.normpath(path)
        path = "" if path in (".", "/") else path
        path = "/" + path.lstrip("/") if path else ""
    return quote(path, safe="/%:@!$&'()*+,;=-._~").rstrip("/")


def canonical_url(api_url: str) -> str:
    """One spelling per server: scheme and host in lower case, no default port, loopback names as one,
    the path in one spelling (``canonical_path``): ``https://API.example:443//v1/`` and
    ``https://api.example/v1`` are one account."""
    from urllib.parse import urlsplit

    try:
        parts = urlsplit(api_url.strip())
        host = (parts.hostname or "").lower().rstrip(".")
        port = parts.port
    except ValueError:
        return api_url.strip().rstrip("/")
    if not parts.scheme:
        return api_url.strip().rstrip("/")
    if host in ("localhost", "::1") or host.startswith("127."):
        host = "loopback"
    default = {"http": 80, "https": 443}.get(parts.scheme.lower())
    netloc = host if port in (None, default) else f"{host}:{port}"
    return f"{parts.scheme.lower()}://{netloc}{canonical_path(parts.path)}"


def account_id(api_url: str, api_key: str | None) -> str:
    """One account: the API URL (canonical) and the key, as a fingerprint. ``api_key=None`` names the
    server's account whatever the key: the write lock, so two keys of one account (a key rotation)
    never write at once."""
    return fingerprint(f"{canonical_url(api_url)}\n{api_key or ''}")
