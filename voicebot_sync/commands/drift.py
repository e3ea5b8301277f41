"""``drift``: what was changed on the remote outside git, for a scheduled job."""

from __future__ import annotations

from typing import Any

from ..state.applied import AppliedRecord, mark_missing
from ..output.drift import drift_report
from .apply import lock_url
from ..core.events import Events
from .common import client_for, load, plan_against


def drift(settings, events: Events | None = None, *, transport=None) -> dict[str, Any]:
    """The drift report (``drift_report``'s dict) of ``settings``' definitions against the remote."""
    events = events or Events()
    definitions, _ = load(settings, events)
    with client_for(settings, events, transport=transport, read_only=True) as client:
        the_plan = plan_against(client, definitions, api_url=settings.api_url, windows=settings.windows,
                                prune=False, scope=settings.scope, unkept=settings.unkept_fields)
    report = drift_report(the_plan)
    report["env"] = settings.env
    # Missing workflows told apart by what apply recorded here (applied.py): deleted, or never applied.
    record = AppliedRecord.for_account(lock_url(settings), settings.env)
    if record.problem:
        events.note(f"warning: {record.problem}")
    mark_missing(report, record)
    return report
