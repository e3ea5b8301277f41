"""Team rules in the commands: check loaded definitions, stop on an error rule, put the rest in the plan.

validate, plan and apply call ``check`` right after the definitions are read and before any
request: a broken ``error`` rule raises ValidationError (``FILE:LINE: rule NAME: message``).
``annotate`` gives a finished plan (a copy: plans are frozen) its warnings and waivers, and each create and update the
spoken length of its message (``after_spoken_seconds``).
"""

from __future__ import annotations

from typing import Any, Sequence

from . import rules, spoken


def ruleset_for(settings: Any, env: str | None = None) -> rules.RuleSet:
    """The rules (and speaking rates) in force for ``env`` (default: the settings' own environment)."""
    book = getattr(settings, "rules", None)
    if book is None:
        return rules.RuleSet()
    return book.select(env if env is not None else getattr(settings, "env", None))


def check(definitions: Sequence[Any], settings: Any, env: str | None = None, tag: str = "") -> list[rules.Finding]:
    """Every finding; raises ValidationError (carrying them all as ``findings``) when an error rule is broken."""
    found = rules.check(definitions, ruleset_for(settings, env))
    rules.raise_for_errors(found, tag)
    return found


def annotate(plan: Any, definitions: Sequence[Any], settings: Any, findings: Sequence[rules.Finding]) -> Any:
    """A copy of ``plan`` with its warnings and waivers, and each created or updated message's spoken length."""
    from dataclasses import replace

    speech = ruleset_for(settings).speech
    by_name = {d.name: d for d in definitions}
    changes, estimates = [], {}
    for change in plan.changes:
        d = by_name.get(change.name)
        estimate = None if change.action == "delete" or d is None else spoken.for_definition(d, speech)
        if estimate is not None:
            estimates[(change.action, change.name)] = estimate
            change = replace(change, after_spoken_seconds=estimate.after_seconds)
        changes.append(change)
    return plan.with_(changes=tuple(changes), rule_findings=tuple(rules.shown(findings))).with_display(spoken=estimates)
