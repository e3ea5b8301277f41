"""Plans as text, Terraform-like, for terminals and CI logs (colour only when asked for)."""

from __future__ import annotations

from typing import Any, Callable

from ..text.escaping import visible
from ..core.plan import Change, Plan
from .changes import SYMBOL, WORD_DIFF_FIELDS, budget_line, is_multiline, message_diff, shown_value, word_diff
from .ruleview import spoken_phrase, text_lines as rule_lines
from .textdiff import WORD_DIFF_FROM, word_diff_lines

_SGR = {"red": 31, "green": 32, "yellow": 33}
_COLOURS = {"create": "green", "update": "yellow", "delete": "red"}

Styled = Callable[[str, str], str]  # styled(text, colour)


def _where(change: Change) -> str:
    if not change.source:
        return ""
    source = visible(change.source)
    return f"  ({source}:{change.line})" if change.line else f"  ({source})"


def _title(change: Change) -> str:
    ident = f" (id {visible(change.id)})" if change.id else ""
    return f"{SYMBOL[change.action]} {change.action} \"{visible(change.name)}\"{ident}"


def _spoken_lines(change: Change, estimate: Any) -> list[str]:
    """How long a created or changed message takes to say, as a comment line under its title."""
    said = spoken_phrase(change, estimate) if change.action != "delete" else None
    return [f"      # {said}"] if said else []


def _long_text_diff(field: str, before: Any, after: Any) -> list[tuple[str, str]] | None:
    """The word diff the Markdown view shows, for a long text whose change the terminal would print whole."""
    if field not in WORD_DIFF_FIELDS or not (isinstance(before, str) and isinstance(after, str)):
        return None
    if max(len(before), len(after)) <= WORD_DIFF_FROM:
        return None
    return word_diff(before, after)


def render_text(plan: Plan, *, rate_limit: str | None = None, color: bool = False) -> str:
    """Terraform-like plan for terminals and CI logs."""
    styled = _styler(color)
    out = [f"Remote: {visible(plan.api_url)} ({plan.remote_count} workflow{'s' if plan.remote_count != 1 else ''})"]
    out.extend(f"Note: {visible(note)}" for note in plan.notes)
    out.extend(rule_lines(plan.rule_findings))
    out.append("")
    for change in plan.changes:
        out.extend(_change_lines(change, styled, plan.display.spoken_for(change)))
    if plan.changes:
        out.append("")
    out.extend(_unmanaged_lines(plan))
    out.append(plan.summary_line())
    out.append(budget_line(plan, rate_limit))
    if plan.refusal:
        out.append(styled(f"Warning: apply would refuse this plan: {visible(plan.refusal)}", "yellow"))
    return "\n".join(out) + "\n"


def _styler(color: bool) -> Styled:
    """``styled(text, colour)``: the text in that colour when ``color`` is on, else the text as it is."""

    def styled(text: str, colour: str) -> str:
        if not color:
            return text
        # The few SGR colours the output doors let through (doors._OWN_SEQUENCE); no click here.
        return f"\x1b[{_SGR[colour]}m{text}\x1b[0m"

    return styled


def _change_lines(change: Change, styled: Styled, estimate: Any = None) -> list[str]:
    """One change: its title and source, how long it takes to say, then its fields (create) or their changes."""
    out = [styled(f"  {_title(change)}", _COLOURS[change.action]) + _where(change)]
    out.extend(_spoken_lines(change, estimate))
    if change.action == "create":
        for field, value in (change.after or {}).items():
            out.extend(_created_field(field, value))
    elif change.action == "update":
        for field, after in (change.after or {}).items():
            out.extend(_updated_field(field, (change.before or {}).get(field), after, styled))
    return out


def _created_field(field: str, value: Any) -> list[str]:
    if is_multiline(field, value):
        return [f"      {field}: |"] + [f"        {visible(line)}" for line in value.splitlines()]
    return [f"      {field}: {shown_value(value)}"]


def _updated_field(field: str, before: Any, after: Any, styled: Styled) -> list[str]:
    """A changed field: the changed words of a long text, the line diff of a multi-line one, else before -> after."""
    words = _long_text_diff(field, before, after)
    if words is not None:
        return ([f"      {field}: (changed words: [-removed-] {{+added+}})"]
                + ["        " + line for line in word_diff_lines(words, styled)])
    if isinstance(before, str) and isinstance(after, str) and is_multiline(field, before, after):
        out = [f"      {field}:"]
        for line in message_diff(before, after):
            colour = {"+": "green", "-": "red"}.get(line[:1])
            line = visible(line)
            out.append("        " + (styled(line, colour) if colour else line))
        return out
    return [f"      {field}: {shown_value(before)} -> {shown_value(after)}"]


def _unmanaged_lines(plan: Plan) -> list[str]:
    if not plan.unmanaged:
        return []
    return (["Unmanaged remote workflows (no definition; left alone, --prune deletes them):"]
            + [f"  ? \"{visible(w['name'])}\" (id {visible(w['id'])})"
               + (f", a duplicate of id {visible(w['duplicate_of'])}" if w.get("duplicate_of") else "")
               for w in plan.unmanaged]
            + [""])
