"""``export``: the remote workflows as definition files (a plan of them shows no changes)."""

from __future__ import annotations

from typing import Any, Mapping

from ..core.events import Events
from .common import client_for, export_remote


def export(settings, out_dir: str, *, with_ids: bool = False, force: bool = False,
           events: Events | None = None, transport=None) -> list[tuple[str, Mapping[str, Any]]]:
    """Write one file per owned remote workflow into ``out_dir``; returns (path, workflow) pairs."""
    events = events or Events()
    with client_for(settings, events, transport=transport, read_only=True) as client:
        return export_remote(client, out_dir, scope=settings.scope, with_ids=with_ids, force=force)
