"""Team-rule findings and spoken lengths as text and Markdown, for the plan renderers and the Action.

Every piece of outside text (rule names and messages come from the config file, workflow
names, reasons and matched text from definition files) is escaped here for its sink:
``visible`` for a terminal or log, ``md_text`` for Markdown."""

from __future__ import annotations

from typing import Any, Sequence

from ..text.escaping import md_code, md_text, visible
from ..core.spoken import describe, phrase

MAX_LISTED = 200  # findings listed in one Markdown block (the rest: a count)


def text_lines(findings: Sequence[Any]) -> list[str]:
    """One line per finding: ``Rule warning: FILE:LINE: rule NAME: message`` or ``Rule waived: ...``."""
    out = []
    for f in findings:
        kind = "waived" if f.status == "waived" else f.level
        where = f"{f.source}:{f.line}" if f.line else f.source
        out.append(visible(f"Rule {kind}: {where}: {f.text()}"))
    return out


def markdown_block(findings: Sequence[Any], title: str = "Team rules") -> str:
    """A Markdown list of every broken rule and every waiver ('' when there are none)."""
    if not findings:
        return ""
    broken = sum(1 for f in findings if f.status == "broken")
    waived = len(findings) - broken
    counts = ", ".join(p for p in (f"{broken} broken" if broken else "", f"{waived} waived" if waived else "") if p)
    lines = [f"**{title}** ({counts}):", ""]
    for f in findings[:MAX_LISTED]:
        where = md_code(f"{f.source}:{f.line}" if f.line else f.source)
        if f.status == "waived":
            said = f" It would say: {md_text(f.message)}" if f.message else " (not broken now)"
            lines.append(f"- waived {md_code(f.rule)} for **{md_text(f.workflow)}** ({where}): "
                         f"{md_text((f.reason or '').rstrip('.'))}.{said}")
        else:
            mark = "**error**" if f.level == "error" else "warning"
            lines.append(f"- {mark} {md_code(f.rule)} on **{md_text(f.workflow)}** ({where}): {md_text(f.message)}")
    if len(findings) > MAX_LISTED:
        lines.append(f"- … and {len(findings) - MAX_LISTED} more (see the log)")
    return "\n".join(lines) + "\n"


def spoken_phrase(change: Any, estimate: Any = None) -> str | None:
    """How long the change's message takes to say, in words (None when unknown): from the whole
    ``estimate`` (``plan.display.spoken_for``) when the plan was just made, else from the saved seconds."""
    if estimate is not None:
        return describe(estimate)
    seconds = getattr(change, "after_spoken_seconds", None)
    return None if seconds is None else f"about {phrase(seconds)} to say"
