"""A word diff for the terminal and plain logs, from the same word-diff items as the Markdown view.

``changes.word_diff`` finds the changed words (one diff for every format); this module only lays
them out as text: removed words as ``[-word-]``, added ones as ``{+word+}`` (git's plain
``--word-diff`` markers, readable in a CI log without colour), unchanged runs cut to a few words
of context with ``…``, lines kept where the text breaks them.
"""

from __future__ import annotations

from typing import Callable

from ..text.escaping import visible

# A text field's update is shown as a word diff when either side is longer than this (a
# short value reads best as "before" -> "after", a long one only by what changed).
WORD_DIFF_FROM = 80

_MARKS = {"-": ("[-", "-]"), "+": ("{+", "+}")}


def layout(items: list[tuple[str, str]], escape: Callable[[str], str], mark: Callable[[str, str], str]) -> list[str]:
    """Word-diff items (``changes.word_diff``) laid out as lines, for any format: a run of words of one
    kind is joined and handed to ``mark(kind, text)``, each word first escaped for the sink; a line
    break removed or added is shown as ``⏎`` where it was. The text and Markdown views both use it."""
    lines: list[str] = []
    pieces: list[str] = []
    run: list[str] = []
    kind = ""

    def flush() -> None:
        nonlocal run
        if run:
            pieces.append(mark(kind, " ".join(run)))
            run = []

    def new_line() -> None:
        nonlocal pieces
        flush()
        lines.append(" ".join(pieces))
        pieces = []

    for k, word in items:
        if k != kind:
            flush()
            kind = k
        if word == "\n":
            if k == "=":
                new_line()
            else:
                run.append("⏎")  # a line break removed or added, shown where it was
                if k == "+":
                    new_line()
            continue
        run.append(word if k == "…" else escape(word))
    new_line()
    return lines


def word_diff_lines(items: list[tuple[str, str]], styled: Callable[[str, str], str] = lambda text, colour: text
                    ) -> list[str]:
    """``changes.word_diff`` items as lines of text, every word escaped for a terminal (``visible``)."""
    def mark(kind: str, text: str) -> str:
        if kind not in _MARKS:
            return text
        opening, closing = _MARKS[kind]
        return styled(f"{opening}{text}{closing}", "red" if kind == "-" else "green")

    return [line for line in layout(items, visible, mark) if line] or [""]
