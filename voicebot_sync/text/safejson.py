"""JSON that comes in from outside (the API, GitHub, our own state files), decoded within bounds.

``json.loads`` recurses once per level of nesting: a body nested 100,000 arrays
deep raises ``RecursionError``, which is not a ``ValueError`` and so would pass
every ``except ValueError`` as a bug (exit 70). Here it is one: whatever comes
in is either a value no deeper than ``MAX_DEPTH`` or a ``ValueError`` that the
caller already turns into one clear line. Depth is bounded low enough that
every later recursive walk (DeepDiff, ``repr``, YAML) stays far from the limit.
"""

from __future__ import annotations

import json
from typing import Any

MAX_DEPTH = 64  # a workflow is 3 levels deep; a list of them in an envelope, 5


class TooDeep(ValueError):
    """A JSON document nested deeper than ``MAX_DEPTH``."""


def loads(data: bytes | bytearray | str, *, max_depth: int = MAX_DEPTH) -> Any:
    """Decode ``data``; ``ValueError`` (never ``RecursionError``) for anything that is not bounded JSON."""
    try:
        value = json.loads(data)
    except RecursionError:
        raise TooDeep(f"the JSON is nested too deeply (over {max_depth} levels)") from None
    except UnicodeDecodeError as exc:
        raise ValueError(f"the JSON is not UTF-8 ({exc.reason})") from None
    check_depth(value, max_depth)
    return value


def check_depth(value: Any, max_depth: int = MAX_DEPTH) -> None:
    """Raise ``TooDeep`` when ``value`` nests deeper than ``max_depth`` (iterative: never recurses)."""
    if not isinstance(value, (dict, list)):
        return
    # Only containers go on the stack, and a plain loop pushes them: a list of 10,000 workflows is
    # checked in a few milliseconds (a generator per container took three times as long).
    stack: list[tuple[Any, int]] = [(value, 1)]
    pop, push = stack.pop, stack.append
    while stack:
        item, depth = pop()
        if depth > max_depth:
            raise TooDeep(f"the JSON is nested too deeply (over {max_depth} levels)")
        for child in (item.values() if isinstance(item, dict) else item):
            if isinstance(child, (dict, list)):
                push((child, depth + 1))


def load_file(path: str, *, max_bytes: int | None = None, max_depth: int = MAX_DEPTH) -> Any:
    """A JSON file of ours (journal, ledger, plan): ``OSError`` or ``ValueError``, nothing else."""
    with open(path, "rb") as fh:
        raw = fh.read(max_bytes + 1) if max_bytes else fh.read()
    if max_bytes and len(raw) > max_bytes:
        raise ValueError(f"the file is over {max_bytes} bytes")
    return loads(raw, max_depth=max_depth)
