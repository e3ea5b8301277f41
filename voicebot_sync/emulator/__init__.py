"""A faithful local Voicebot workflow API, for tests, demos and offline CI.

``core`` holds the state and the rules (and the faults it can be told to show);
``server`` puts it on the wire. It shares nothing with ``api/`` but the wire
format, so each checks the other.
"""

from __future__ import annotations

from typing import Any

# Imported on first use (PEP 562): `voicebot-sync --help` builds the emulator's options from
# FAULT_OPTIONS without paying for the server, threads and file locks.
_FROM = {"FAULT_OPTIONS": ".options", "LIST_SHAPES": ".options", "RETRY_AFTER_FORMATS": ".options",
         "Emulator": ".core", "Response": ".core", "local_transport": ".server", "main_serve": ".server",
         "make_wsgi_app": ".server", "running": ".server", "serve": ".server"}
__all__ = sorted(_FROM)


def __getattr__(name: str) -> Any:
    if name not in _FROM:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    from importlib import import_module

    return getattr(import_module(_FROM[name], __name__), name)
