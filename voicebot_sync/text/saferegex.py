"""Regular expressions from a config file that cannot hang the tool.

Python's ``re`` backtracks, and a search cannot be interrupted once it runs, so a
pattern like ``(a+)+$`` can take longer than the age of the universe on a short
message. Instead of a time limit, a pattern is refused before it is used unless a
conservative static bound on its work is small (``compile_safe``):

* no backreferences (``\\1``, ``(?P=name)``) and no conditional groups;
* inside a group repeated more than once (``(...)+``, ``(...){2,5}``) nothing may vary
  in length: no ``*``, ``+``, ``?``, ``{m,n}`` and no ``|``: nested quantifiers are
  where exponential backtracking comes from;
* the remaining choices multiply: each ``*``, ``+`` or ``{m,}`` counts as the length
  of the longest text searched (``MAX_SUBJECT``), each ``{m,n}`` as ``n - m + 1``, each
  ``?`` as 2 and each ``a|b|c`` as its branches added up; times the start positions of
  a search, that product must stay under ``MAX_WORK``. In practice: one unbounded
  repeat per pattern, and bounded counts (``{1,40}``) for the rest.

The text searched is bounded too (``MAX_SUBJECT``: the API's limit on a message).
Measured on a laptop, a pattern at the bound takes about 25 ms on the worst text
of that length; any accepted pattern on any message stays below that order.
"""

from __future__ import annotations

import re
from typing import Any

try:  # Python 3.11+
    from re import _parser as _sre_parse  # type: ignore[attr-defined]
except ImportError:  # pragma: no cover - Python 3.10
    import sre_parse as _sre_parse  # type: ignore[no-redef]

from _sre import MAXREPEAT

MAX_PATTERN_LENGTH = 300  # characters of one pattern
MAX_SUBJECT = 1000  # characters searched: the API's limit on a message
MAX_WORK = 10_000_000  # start positions x the product of every choice (about 25 ms at worst)

_REPEATS = {"MAX_REPEAT", "MIN_REPEAT", "POSSESSIVE_REPEAT"}
_GROUPS = {"SUBPATTERN", "ATOMIC_GROUP", "ASSERT", "ASSERT_NOT"}
_HINT = "use a bounded count such as {1,40} instead of + or *"


class UnsafePattern(ValueError):
    """A pattern that does not compile, or whose backtracking is not bounded well enough."""


def compile_safe(pattern: Any) -> re.Pattern:
    """The compiled pattern, or UnsafePattern with one sentence saying what to change."""
    if not isinstance(pattern, str):
        raise UnsafePattern("must be text (a regular expression); quote it")
    if not pattern:
        raise UnsafePattern("must not be empty")
    if len(pattern) > MAX_PATTERN_LENGTH:
        raise UnsafePattern(f"is {len(pattern)} characters; a pattern may have at most {MAX_PATTERN_LENGTH}")
    try:
        compiled = re.compile(pattern)
        parsed = _sre_parse.parse(pattern)
    except (re.error, RecursionError, OverflowError) as exc:
        reason = getattr(exc, "msg", None) or "too deeply nested"
        at = f" at position {exc.pos}" if getattr(exc, "pos", None) is not None else ""
        raise UnsafePattern(f"is not a valid regular expression: {reason}{at}") from None
    work = MAX_SUBJECT * _cost(list(parsed), repeated=False)
    if work > MAX_WORK:
        raise UnsafePattern(f"could backtrack for too long on a {MAX_SUBJECT}-character message "
                            f"(more than one unbounded repeat, or too many choices): {_HINT}")
    return compiled


def search(compiled: re.Pattern, text: str) -> re.Match | None:
    """Search at most MAX_SUBJECT characters: the bound the pattern was accepted for."""
    return compiled.search(text[:MAX_SUBJECT])


def _name(op: Any) -> str:
    return getattr(op, "name", str(op))


def _cost(items: list, repeated: bool) -> int:
    """The product of the choices in a sequence; ``repeated``: inside a group repeated more than once."""
    total = 1
    for op, av in items:
        total *= _item_cost(_name(op), av, repeated)
        if total > MAX_WORK:  # already refused: stop multiplying (and never build a huge integer)
            return total
    return total


def _item_cost(op: str, av: Any, repeated: bool) -> int:
    if op in ("GROUPREF", "GROUPREF_EXISTS"):
        raise UnsafePattern("uses a backreference or a conditional group, which can backtrack without bound: "
                            "write the text out instead")
    if op == "BRANCH":
        if repeated:
            raise UnsafePattern("repeats a group that holds alternatives (a|b), which can backtrack without bound: "
                                "list the repeats out, or use a character class [ab]")
        return sum(_cost(list(branch), repeated) for branch in av[1])
    if op in _REPEATS:
        low, high, body = av
        varies = high != low
        if repeated and varies:
            raise UnsafePattern("nests a repeat inside a repeated group (such as (a+)+), which can backtrack "
                                f"without bound: {_HINT}, or repeat a fixed text")
        inner = _cost(list(body), repeated or high > 1)
        width = MAX_SUBJECT if high == MAXREPEAT else min(high - low + 1, MAX_SUBJECT)  # never more than the text
        return width * inner
    if op in _GROUPS:
        body = av if op == "ATOMIC_GROUP" else av[-1]  # (group, flags, ..., body) or (direction, body)
        return _cost(list(body), repeated)
    return 1  # a literal, a class, an anchor: no choice to backtrack over
