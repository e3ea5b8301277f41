"""``plan``: validate, list the remote once, and say what apply would do."""

from __future__ import annotations

from ..core import rulecheck
from ..errors import TooMuchChange, UnsafePlan
from ..core.plan import Plan
from ..output.markdown import markdown_previews
from ..core.events import Events
from .common import check_prune_scope, client_for, load, plan_definitions


def plan(settings, events: Events | None = None, *, transport=None) -> Plan:
    """The plan for ``settings``; refuses --prune with narrower paths; never writes."""
    events = events or Events()
    check_prune_scope(settings)
    definitions, skipped = load(settings, events)
    findings = rulecheck.check(definitions, settings)  # an error rule stops here, before any request
    with client_for(settings, events, transport=transport, read_only=True) as client:
        result = plan_definitions(client, settings, definitions, skipped, findings)
    result = result.with_display(preview_maker=lambda: markdown_previews(definitions))
    return result.with_(refusal=apply_would_refuse(result, settings))


def apply_would_refuse(result: Plan, settings) -> str | None:
    """Why the share guards would refuse the apply (the numbers and --force), or None: plan only warns."""
    try:
        if settings.prune or result.of("delete"):
            result.raise_if_empty_prune(" ".join(settings.workflows))
        result.raise_if_unsafe(settings.guards)
    except (TooMuchChange, UnsafePlan) as refusal:
        return str(refusal)
    return None
