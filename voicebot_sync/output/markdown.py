"""Plans as Markdown (PR comments, job summaries, ``--format markdown``): a summary, a table of changes
and one collapsible block per change, every outside text escaped for GitHub; cut to a size on blocks."""

from __future__ import annotations

from typing import Any, Mapping

from ..text.escaping import md_code, md_code_block, md_text
from ..core.model import MAX_MESSAGE_LENGTH
from ..core.plan import Change, Plan
from .changes import (MULTILINE_FIELDS, SYMBOL, WORD_DIFF_FIELDS, budget_line, is_multiline, message_diff, shown_value,
                      word_diff)
from .ruleview import markdown_block as rule_markdown, spoken_phrase
from .textdiff import layout
from ..core.template import PLACEHOLDER, example_values, max_filled_length, placeholders, render as fill

CELL_LIMIT = 200  # characters of outside text in a table cell or a summary line
_LINE_START = "-+0123456789"


def _md_unlink(escaped: str) -> str:
    """md_text output: mentions, references, autolinks and emoji codes are broken up there already."""
    return escaped


def _md_inline(text: Any) -> str:
    """Outside text inside a line of Markdown: literal, one line, no markup, mention, reference or link."""
    return _md_unlink(md_text(text))


def _clip(text: Any, limit: int = CELL_LIMIT) -> str:
    text = str(text)
    return text if len(text) <= limit else f"{text[:limit]}… ({len(text)} characters)"


def _md_cell(text: Any) -> str:
    """Outside text in a table cell or a summary: literal, one line, no markup, no mention, no link; long text clipped."""
    return _md_inline(_clip(text))


def _md_fence(text: str, lang: str = "") -> str:
    return md_code_block(text, lang)


def _md_line_start(line: str) -> str:
    """A rendered line that cannot begin a list, a heading underline or an indented code block."""
    stripped = line.lstrip(" ")
    lead = "&#32;" * (len(line) - len(stripped))
    if stripped[:1] and stripped[0] in _LINE_START:
        stripped = f"&#{ord(stripped[0])};" + stripped[1:]
    return lead + stripped


def _md_quote(lines: list[str]) -> str:
    """Rendered lines as one blockquote: hard breaks between lines, an empty line a new paragraph."""
    out = []
    for i, line in enumerate(lines):
        if not line:
            out.append(">")
            continue
        more = i + 1 < len(lines) and lines[i + 1] != ""
        out.append("> " + _md_line_start(line) + ("\\" if more else ""))
    while out and out[-1] == ">":
        out.pop()
    return "\n".join(out) if out else "> _(empty)_"


def _md_word_diff(items: list[tuple[str, str]]) -> list[str]:
    """Word-diff items as Markdown lines: removed words ~~struck~~, added words **bold**, all escaped."""
    return layout(items, _md_inline, lambda kind, text: {"-": f"~~{text}~~", "+": f"**{text}**"}.get(kind, text))


def _filled_segments(message: str, values: Mapping[str, Any]) -> list[str]:
    """The message filled in as rendered lines: example values as text, placeholders without one as `[name]`."""
    lines = []
    for line in message.split("\n"):
        parts, last = [], 0
        for m in PLACEHOLDER.finditer(line):
            parts.append(_md_inline(line[last:m.start()]))
            name = m.group(1)
            parts.append(_md_inline(values[name]) if name in values else md_code(f"[{name}]"))
            last = m.end()
        parts.append(_md_inline(line[last:]))
        lines.append("".join(parts))
    return lines


def message_preview(message: str, parameters: Mapping[str, Any] | None) -> tuple[str, int | None]:
    """(the message as a patient hears it with each parameter's ``example``, its longest possible length).

    A placeholder without an example stays ``[name]``; the longest length is None unless every
    placeholder has a ``max_length`` (``template.max_filled_length``)."""
    values = example_values(parameters)
    filled = fill(message, {p: values.get(p, f"[{p}]") for p in placeholders(message)})
    return filled, max_filled_length(message, parameters)


def markdown_previews(definitions: Any) -> tuple[dict[str, dict[str, str]], dict[str, int | None]]:
    """``examples`` and ``limits`` for render_markdown, from definitions (``name``, ``parameters``, ``desired()``)."""
    examples: dict[str, dict[str, str]] = {}
    limits: dict[str, int | None] = {}
    for d in definitions:
        parameters = getattr(d, "parameters", None)
        message = d.desired().get("message")
        if not isinstance(message, str):
            continue
        examples[d.name] = example_values(parameters)
        limits[d.name] = message_preview(message, parameters)[1]
    return examples, limits


def _md_fields(fields: Mapping[str, Any]) -> str:
    """Managed fields as YAML-like lines (multi-line texts as block scalars) in a fence."""
    lines = []
    for field, value in fields.items():
        if is_multiline(field, value):
            lines.append(f"{field}: |")
            lines.extend(f"  {line}" for line in value.split("\n"))
        else:
            lines.append(f"{field}: {shown_value(value)}")
    return _md_fence("\n".join(lines), "yaml")


def _md_preview(c: Change, examples: Mapping[str, Mapping[str, Any]] | None,
                limits: Mapping[str, int | None] | None, estimate: Any = None) -> list[str]:
    """The created or changed message as a patient hears it, and its longest length against the limit."""
    message = (c.after or {}).get("message")
    if not isinstance(message, str) or c.action == "delete":
        return []
    out = []
    if examples is not None and c.name in examples:
        values = examples[c.name] or {}
        used = placeholders(message)
        missing = [p for p in used if p not in values]
        note = "example values" if used else "no placeholders"
        if missing:
            note += "; no example for " + ", ".join(md_code(f"[{p}]") for p in missing)
        out.append(f"**As a patient hears it** ({note}):\n\n" + _md_quote(_filled_segments(message, values)))
    said = spoken_phrase(c, estimate)
    if limits is not None and c.name in limits:
        worst = limits[c.name]
        if worst is None:
            out.append(f"_Longest length unknown: not every placeholder has a `max_length` "
                       f"(the limit is {MAX_MESSAGE_LENGTH} characters)._")
        elif worst > MAX_MESSAGE_LENGTH:
            out.append(f"**Longest length: {worst} of {MAX_MESSAGE_LENGTH} characters, "
                       f"{worst - MAX_MESSAGE_LENGTH} over the limit.**")
        else:
            out.append(f"Longest length (every placeholder at its `max_length`): {worst} of {MAX_MESSAGE_LENGTH} characters.")
    if said and limits is not None and c.name in limits:  # beside the character count: the same paragraph
        out[-1] += f" {md_text(said[:1].upper() + said[1:])}."
    elif said:
        out.append(f"{md_text(said[:1].upper() + said[1:])}.")
    return out


def _md_change_block(c: Change, examples: Mapping[str, Mapping[str, Any]] | None = None,
                     limits: Mapping[str, int | None] | None = None, estimate: Any = None) -> str:
    """What a change does, for its collapsible block: fields created or lost, or changed words and the diff."""
    if c.action == "create":
        return "\n\n".join([_md_fields(c.after or {})] + _md_preview(c, examples, limits, estimate))
    if c.action == "delete":
        ident = f" id {md_code(_clip(c.id))}" if c.id else ""
        return f"Deleting{ident} loses these fields:\n\n" + _md_fields(c.before or {})
    parts = []
    lines = []
    for field, after in (c.after or {}).items():
        before = (c.before or {}).get(field)
        if isinstance(before, str) and isinstance(after, str) and field in WORD_DIFF_FIELDS:
            items = word_diff(before, after)
            if items is not None and any(k in "-+" for k, _ in items):
                parts.append(f"**{field}**, changed words:\n\n" + _md_quote(_md_word_diff(items)))
        if isinstance(before, str) and isinstance(after, str) and field in MULTILINE_FIELDS:
            lines.append(f"{field}:")
            lines.extend(message_diff(before, after) or [f"-{before}", f"+{after}"])
        else:
            lines.append(f"-{field}: {shown_value(before)}")
            lines.append(f"+{field}: {shown_value(after)}")
    parts.append(_md_fence("\n".join(lines), "diff"))
    return "\n\n".join(parts + _md_preview(c, examples, limits, estimate))


def render_markdown(plan: Plan, *, rate_limit: str | None = None, max_chars: int | None = None,
                    title: str = "voicebot-sync plan", examples: Mapping[str, Mapping[str, Any]] | None = None,
                    limits: Mapping[str, int | None] | None = None) -> str:
    """A PR-ready plan: summary, a table of changes, one collapsible block per change.

    A create lists its fields, a delete the fields it loses, an update its changed words
    (~~old~~ **new**) beside the line diff. With ``examples`` (change name -> example value per
    placeholder) a created or changed message is shown filled in; with ``limits`` (change name ->
    the longest filled-in length, or None when unbounded) its length against the API's limit.
    ``markdown_previews(definitions)`` builds both.

    With ``max_chars``, whole blocks are dropped from the end (never half a code
    fence) and a pointer to the job summary takes their place."""
    s = plan.summary
    blocks = [
        f"### {title}\n\n**{plan.summary_line()}**\n",
        f"| create | update | delete | unchanged | unmanaged |\n|---:|---:|---:|---:|---:|\n"
        f"| {s['create']} | {s['update']} | {s['delete']} | {s['unchanged']} | {s['unmanaged']} |\n",
        budget_line(plan, rate_limit) + "\n",
    ]
    if plan.refusal:
        # Say it in the pull request, where it can still be fixed, not first at apply on merge.
        blocks.append(f"> [!WARNING]\n> **Apply would refuse this plan:** {md_text(plan.refusal)}\n")
    if plan.rule_findings:  # early, so that a plan cut to fit a comment still lists every one
        blocks.append(rule_markdown(plan.rule_findings))
    if plan.changes:
        rows = ["| | action | workflow | id | fields | source |", "|---|---|---|---|---|---|"]
        for c in plan.changes:
            fields = ", ".join((c.after if c.action != "delete" else c.before) or {})
            source = f"{c.source}:{c.line}" if c.source and c.line else (c.source or "")
            rows.append(
                f"| {SYMBOL[c.action]} | {c.action} | {_md_cell(c.name)} | {_md_cell(c.id or '')} | {_md_cell(fields)} | "
                f"{_md_cell(source)} |"
            )
        blocks.append("\n".join(rows) + "\n")
    if plan.unmanaged:
        blocks.append("**Unmanaged** (no definition; left alone, `--prune` deletes them): "
                      + ", ".join(_md_cell(w['name']) for w in plan.unmanaged) + "\n")
    blocks += [f"_Note: {_md_inline(note)}_\n" for note in plan.notes]
    for c in plan.changes:
        blocks.append(
            f"<details><summary>{SYMBOL[c.action]} {c.action} <b>{_md_cell(c.name)}</b></summary>\n\n"
            f"{_md_change_block(c, examples, limits, plan.display.spoken_for(c))}\n\n</details>\n"
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
