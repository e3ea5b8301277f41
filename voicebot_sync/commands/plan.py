"""``plan``: validate, list the remote once, and say what apply would do."""

from __future__ import annotations

from ..core import rulecheck
from ..errors import TooMuchChange, UnsafePlan
from ..core.plan import Plan
from ..output.markdown import markdown_previews
from .common import Hooks, add_skipped_note, check_prune_scope, client_for, load, plan_against


def plan(settings, hooks: Hooks | None = None) -> Plan:
    """The plan for ``settings``; refuses --prune with narrower paths; never writes."""
    hooks = hooks or Hooks()
    check_prune_scope(settings)
    definitions, skipped = load(settings, hooks)
    findings = rulecheck.check(definitions, settings)  # an error rule stops here, before any request
    with client_for(settings, hooks, read_only=True) as client:
        result = plan_against(client, definitions, api_url=settings.api_url, windows=settings.windows,
                              prune=settings.prune, scope=settings.scope, unkept=settings.unkept_fields)
    result.env = settings.env
    result.preview_maker = lambda: markdown_previews(definitions)
    rulecheck.annotate(result, definitions, settings, findings)
    add_skipped_note(result, skipped)
    warn_if_apply_would_refuse(result, settings)
    return result


def warn_if_apply_would_refuse(result: Plan, settings) -> None:
    """The plan says when the share guards would refuse the apply: the numbers and --force."""
    try:
        if settings.prune or result.of("delete"):
            result.raise_if_empty_prune(" ".join(settings.workflows))
        result.raise_if_unsafe(settings.guards)
    except (TooMuchChange, UnsafePlan) as refusal:
        result.refusal = str(refusal)
