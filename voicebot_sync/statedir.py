"""Where the tool keeps its own files: ``.voicebot-sync/`` in the working directory.

Journal, locks, the budget ledger, crash logs and the local emulator's state all
live here (``VOICEBOT_SYNC_STATE_DIR`` moves it, for tests and odd runners). Names
of files that belong to an account use a fingerprint, never the key.
"""

from __future__ import annotations

import os

from .redaction import fingerprint

STATE_DIR = ".voicebot-sync"


def state_dir(*parts: str, create: bool = True) -> str:
    """A directory under the state directory (created when ``create``)."""
    base = os.environ.get("VOICEBOT_SYNC_STATE_DIR") or STATE_DIR
    path = os.path.join(base, *parts)
    if create:
        os.makedirs(path, exist_ok=True)
    return path


def account_id(api_url: str, api_key: str | None) -> str:
    """One account: the API URL and the key, as a fingerprint."""
    return fingerprint(f"{api_url}\n{api_key or ''}")
