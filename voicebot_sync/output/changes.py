"""How a plan's changes read in every format: the action symbols, values as JSON text, the line and
word diffs, and the line that says what an apply would spend. ``text.py`` and ``markdown.py`` lay them out."""

from __future__ import annotations

import difflib
import json
import re
from typing import Any

from ..core.schedule import format_seconds
from ..text.escaping import visible
from ..core.plan import Plan

SYMBOL = {"create": "+", "update": "~", "delete": "-"}
MULTILINE_FIELDS = ("message", "description")
WORD_DIFF_FIELDS = ("name", "description", "message")
WORD_CONTEXT = 6  # unchanged words kept on each side of a changed run
_WORD_DIFF_MAX = 250_000  # tokens before x tokens after: beyond that, only the line diff


def shown_value(value: Any) -> str:
    # JSON escapes C0 controls; visible() also shows C1, bidi and invisible characters.
    return visible(json.dumps(value, ensure_ascii=False))


def message_diff(before: str, after: str) -> list[str]:
    """A line diff of two texts, without the ---/+++ header."""
    lines = list(difflib.unified_diff(before.splitlines(), after.splitlines(), lineterm="", n=2))
    return [line for line in lines[2:]] if lines else []


def is_multiline(field: str, *values: Any) -> bool:
    return field in MULTILINE_FIELDS and any(isinstance(v, str) and "\n" in v for v in values)


def budget_line(plan: Plan, rate_limit: str | None) -> str:
    n = plan.requests
    if not plan.has_changes:
        return "Plan used 1 request; apply would need none."
    if rate_limit in ("off", "none", ""):
        return f"Apply needs {n} request{'s' if n != 1 else ''}; with no rate limit they can all start at once."
    limit = f"the rate limit {rate_limit}" if rate_limit else "the rate limit"
    line = f"Apply needs {n} request{'s' if n != 1 else ''}; {limit} allows them in {format_seconds(plan.estimated_seconds)} at the least"
    eta_now = plan.display.eta_now
    if eta_now is not None and eta_now > plan.estimated_seconds + 0.5:
        line += f" ({format_seconds(eta_now)} from now, with the budget already spent)"
    return line + "."


def word_diff(before: str, after: str, context: int = WORD_CONTEXT) -> list[tuple[str, str]] | None:
    """(kind, word) pairs, kind "=", "-", "+" or "…" (unchanged words left out); None when too big to diff.

    Words are runs of non-space characters; a line break is a word of its own ("\\n")."""
    a, b = re.findall(r"\S+|\n", before), re.findall(r"\S+|\n", after)
    if len(a) * len(b) > _WORD_DIFF_MAX:
        return None
    items: list[tuple[str, str]] = []
    for op, i1, i2, j1, j2 in difflib.SequenceMatcher(None, a, b, autojunk=False).get_opcodes():
        if op == "equal":
            run = a[i1:i2]
            first, last = i1 == 0, i2 == len(a)
            keep_head = 0 if first else context
            keep_tail = 0 if last else context
            if len(run) > keep_head + keep_tail + 1:
                items += [("=", w) for w in run[:keep_head]] + [("…", "…")]
                items += [("=", w) for w in run[len(run) - keep_tail:]] if keep_tail else []
            else:
                items += [("=", w) for w in run]
        else:
            items += [("-", w) for w in a[i1:i2]] + [("+", w) for w in b[j1:j2]]
    return items

