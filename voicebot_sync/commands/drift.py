"""``drift``: what was changed on the remote outside git, for a scheduled job."""

from __future__ import annotations

from typing import Any

from ..drift import drift_report
from .common import Hooks, client_for, load, plan_against


def drift(settings, hooks: Hooks | None = None) -> dict[str, Any]:
    """The drift report (``drift_report``'s dict) of ``settings``' definitions against the remote."""
    hooks = hooks or Hooks()
    definitions, _ = load(settings, hooks)
    with client_for(settings, hooks) as client:
        the_plan = plan_against(client, definitions, api_url=settings.api_url, windows=settings.windows,
                                prune=False, scope=settings.scope, unkept=settings.unkept_fields)
    report = drift_report(the_plan)
    report["env"] = settings.env
    return report
