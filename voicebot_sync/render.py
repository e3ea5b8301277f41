"""Plans as text, Markdown and JSON: one function per format, each given a finished Plan."""

from __future__ import annotations

import difflib
import json
from typing import Any

from .durations import format_seconds
from .escaping import md_code_block, md_text, visible
from .plan import Change, Plan
from .redaction import redact

SYMBOL = {"create": "+", "update": "~", "delete": "-"}
_SGR = {"red": 31, "green": 32, "yellow": 33}
MULTILINE_FIELDS = ("message", "description")


def _value(value: Any) -> str:
    # JSON escapes C0 controls; visible() also shows C1, bidi and invisible characters.
    return visible(json.dumps(value, ensure_ascii=False))


def message_diff(before: str, after: str) -> list[str]:
    """A line diff of two texts, without the ---/+++ header."""
    lines = list(difflib.unified_diff(before.splitlines(), after.splitlines(), lineterm="", n=2))
    return [line for line in lines[2:]] if lines else []


def _is_multiline(field: str, *values: Any) -> bool:
    return field in MULTILINE_FIELDS and any(isinstance(v, str) and "\n" in v for v in values)


def _where(change: Change) -> str:
    if not change.source:
        return ""
    source = visible(change.source)
    return f"  ({source}:{change.line})" if change.line else f"  ({source})"


def _title(change: Change) -> str:
    ident = f" (id {visible(change.id)})" if change.id else ""
    return f"{SYMBOL[change.action]} {change.action} \"{visible(change.name)}\"{ident}"


def _budget_line(plan: Plan, rate_limit: str | None) -> str:
    n = plan.requests
    if not plan.has_changes:
        return "Plan used 1 request; apply would need none."
    if rate_limit in ("off", "none", ""):
        return f"Apply needs {n} request{'s' if n != 1 else ''}; with no rate limit they can all start at once."
    limit = f"the rate limit {rate_limit}" if rate_limit else "the rate limit"
    return f"Apply needs {n} request{'s' if n != 1 else ''}; {limit} allows them in {format_seconds(plan.estimated_seconds)} at the least."


def render_text(plan: Plan, *, rate_limit: str | None = None, color: bool = False) -> str:
    """Terraform-like plan for terminals and CI logs."""
    out: list[str] = []

    def styled(text: str, colour: str) -> str:
        if not color:
            return text
        # The few SGR colours the output doors let through (doors._OWN_SEQUENCE); no click here.
        return f"\x1b[{_SGR[colour]}m{text}\x1b[0m"

    colours = {"create": "green", "update": "yellow", "delete": "red"}
    out.append(f"Remote: {visible(redact(plan.api_url))} ({plan.remote_count} workflow{'s' if plan.remote_count != 1 else ''})")
    for note in plan.notes:
        out.append(f"Note: {visible(note)}")
    out.append("")
    for change in plan.changes:
        out.append(styled(f"  {_title(change)}", colours[change.action]) + _where(change))
        if change.action == "create":
            for field, value in (change.after or {}).items():
                if _is_multiline(field, value):
                    out.append(f"      {field}: |")
                    out.extend(f"        {visible(line)}" for line in value.splitlines())
                else:
                    out.append(f"      {field}: {_value(value)}")
        elif change.action == "update":
            for field, after in (change.after or {}).items():
                before = (change.before or {}).get(field)
                if isinstance(before, str) and isinstance(after, str) and _is_multiline(field, before, after):
                    out.append(f"      {field}:")
                    for line in message_diff(before, after):
                        colour = {"+": "green", "-": "red"}.get(line[:1])
                        line = visible(line)
                        out.append("        " + (styled(line, colour) if colour else line))
                else:
                    out.append(f"      {field}: {_value(before)} -> {_value(after)}")
    if plan.changes:
        out.append("")
    if plan.unmanaged:
        out.append("Unmanaged remote workflows (no definition; left alone, --prune deletes them):")
        out.extend(f"  ? \"{visible(w['name'])}\" (id {visible(w['id'])})"
                   + (f", a duplicate of id {visible(w['duplicate_of'])}" if w.get("duplicate_of") else "")
                   for w in plan.unmanaged)
        out.append("")
    out.append(plan.summary_line())
    out.append(_budget_line(plan, rate_limit))
    return "\n".join(out) + "\n"


def _md_cell(text: Any) -> str:
    """Outside text in a table cell or a summary: literal, one line, no markup, no mention, no link."""
    return md_text(text)


def _md_fence(text: str, lang: str = "") -> str:
    return md_code_block(text, lang)


def render_markdown(plan: Plan, *, rate_limit: str | None = None, max_chars: int | None = None, title: str = "voicebot-sync plan") -> str:
    """A PR-ready plan: summary, a table of changes, message diffs in collapsible blocks.

    With ``max_chars``, whole blocks are dropped from the end (never half a code
    fence) and a pointer to the job summary takes their place."""
    s = plan.summary
    blocks = [
        f"### {title}\n\n**{plan.summary_line()}**\n",
        f"| create | update | delete | unchanged | unmanaged |\n|---:|---:|---:|---:|---:|\n"
        f"| {s['create']} | {s['update']} | {s['delete']} | {s['unchanged']} | {s['unmanaged']} |\n",
        _budget_line(plan, rate_limit) + "\n",
    ]
    if plan.changes:
        rows = ["| | action | workflow | id | fields | source |", "|---|---|---|---|---|---|"]
        for c in plan.changes:
            fields = ", ".join((c.after or {}).keys()) if c.action != "delete" else ""
            rows.append(
                f"| {SYMBOL[c.action]} | {c.action} | {_md_cell(c.name)} | {_md_cell(c.id or '')} | {_md_cell(fields)} | "
                f"{_md_cell(c.source or '')} |"
            )
        blocks.append("\n".join(rows) + "\n")
    if plan.unmanaged:
        blocks.append("**Unmanaged** (no definition; left alone, `--prune` deletes them): "
                      + ", ".join(md_text(w['name']) for w in plan.unmanaged) + "\n")
    blocks += [f"_Note: {md_text(note)}_\n" for note in plan.notes]
    for c in plan.changes:
        if c.action == "delete":
            continue
        blocks.append(
            f"<details><summary>{SYMBOL[c.action]} {c.action} <b>{_md_cell(c.name)}</b></summary>\n\n"
            f"{_md_change_block(c)}\n\n</details>\n"
        )
    text = "\n".join(blocks)
    if max_chars is None or len(text) <= max_chars:
        return text
    pointer = "\n_The plan is cut here to fit; the full plan is in the job summary._\n"
    kept: list[str] = []
    used = len(pointer)
    for block in blocks:
        if used + len(block) + 1 > max_chars:
            break
        kept.append(block)
        used += len(block) + 1
    return "\n".join(kept) + pointer


def _md_change_block(c: Change) -> str:
    if c.action == "create":
        return _md_fence("\n".join(f"{k}: {_value(v)}" for k, v in (c.after or {}).items()), "yaml")
    lines = []
    for field, after in (c.after or {}).items():
        before = (c.before or {}).get(field)
        if isinstance(before, str) and isinstance(after, str) and field in MULTILINE_FIELDS:
            lines.append(f"{field}:")
            lines.extend(message_diff(before, after) or [f"-{before}", f"+{after}"])
        else:
            lines.append(f"-{field}: {_value(before)}")
            lines.append(f"+{field}: {_value(after)}")
    return _md_fence("\n".join(lines), "diff")


def render_json(plan: Plan) -> str:
    return json.dumps(plan.to_json(), indent=2, ensure_ascii=False) + "\n"


RENDERERS = {"text": render_text, "markdown": render_markdown}
