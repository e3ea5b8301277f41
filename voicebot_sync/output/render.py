"""Plans as text, Markdown and JSON: one function per format, each given a finished Plan.

The text and Markdown views live in ``text.py`` and ``markdown.py``; this module names the formats."""

from __future__ import annotations

import json

from ..core.plan import Plan
from .changes import word_diff  # noqa: F401 - importable here, as before the split
from .markdown import markdown_previews, message_preview, render_markdown  # noqa: F401 - the same
from .text import render_text


def render_json(plan: Plan) -> str:
    return json.dumps(plan.to_json(), indent=2, ensure_ascii=False) + "\n"


RENDERERS = {"text": render_text, "markdown": render_markdown}
