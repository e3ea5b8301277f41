"""``[param]`` placeholders: parse, bound the filled-in length, fill, lint."""

from __future__ import annotations

import re
from typing import Any, Mapping

from ..text.escaping import clip, short
from .model import MAX_MESSAGE_LENGTH

PLACEHOLDER = re.compile(r"\[([A-Za-z_][A-Za-z0-9_]*)\]")
# {{name}} or {name}: other template syntaxes that would reach a patient unfilled.
# What a skeleton from `new` starts its message with: validate refuses it until the message is
# written, so a skeleton is never applied unedited.
SKELETON_MARK = "EDIT ME:"
OTHER_PLACEHOLDER = re.compile(r"\{\{\s*[A-Za-z_][A-Za-z0-9_]*\s*\}\}|(?<!\{)\{[A-Za-z_][A-Za-z0-9_]*\}(?!\})")


def placeholders(message: str) -> list[str]:
    """Placeholder names, unique, in order of first use."""
    return list(dict.fromkeys(PLACEHOLDER.findall(message)))


def fixed_length(message: str) -> int:
    """The message's length with every placeholder removed."""
    return len(PLACEHOLDER.sub("", message))


def max_filled_length(message: str, parameters: Mapping[str, Any] | None) -> int | None:
    """The longest possible filled-in message, when every placeholder has a max_length; else None."""
    parameters = parameters or {}
    total = fixed_length(message)
    for name in PLACEHOLDER.findall(message):  # every occurrence counts
        spec = parameters.get(name)
        limit = spec.get("max_length") if isinstance(spec, Mapping) else None
        if not isinstance(limit, int) or isinstance(limit, bool):
            return None
        total += limit
    return total


def example_values(parameters: Mapping[str, Any] | None) -> dict[str, str]:
    return {
        name: str(spec["example"])
        for name, spec in (parameters or {}).items()
        if isinstance(spec, Mapping) and spec.get("example") is not None
    }


def render(message: str, values: Mapping[str, Any]) -> str:
    """Fill every placeholder; a missing value is a ValueError naming all missing ones."""
    missing = [p for p in placeholders(message) if p not in values]
    if missing:
        raise ValueError("no value for " + ", ".join(f"[{m}]" for m in missing))
    return PLACEHOLDER.sub(lambda m: str(values[m.group(1)]), message)


def check(message: str, parameters: Mapping[str, Any] | None) -> list[str]:
    """Problems with a message and its declared parameters, each a sentence with the numbers.

    ``message`` is the template as sent (``model.normalise_text``). The API refuses a
    template whose raw text, placeholders included, is over the limit, so that is
    checked as well as the fixed text and the longest filled-in message."""
    problems = []
    if message.lstrip().startswith(SKELETON_MARK):
        problems.append(f"message still starts with the skeleton's {SKELETON_MARK!r}: write what the patient "
                        "should hear, then validate again")
    if parameters is None and len(message) <= MAX_MESSAGE_LENGTH:
        return problems  # nothing declared, and short enough whatever the placeholders are: nothing more to find
    problems += _length_problems(message, parameters)
    problems += _example_problems(parameters)
    if parameters is not None:
        problems += _declaration_problems(message, parameters)
    return problems


def _length_problems(message: str, parameters: Mapping[str, Any] | None) -> list[str]:
    """The fixed text over the limit; else the text as written, and the longest filled-in message."""
    fixed = fixed_length(message)
    if fixed > MAX_MESSAGE_LENGTH:
        return [f"message is {fixed} characters without its placeholders; the limit is {MAX_MESSAGE_LENGTH}"]
    problems = []
    if len(message) > MAX_MESSAGE_LENGTH:
        problems.append(
            f"message is {len(message)} characters as written (placeholders included); the limit is {MAX_MESSAGE_LENGTH}"
        )
    worst = max_filled_length(message, parameters)
    if worst is not None and worst > MAX_MESSAGE_LENGTH:
        problems.append(
            f"message can be {worst} characters when filled in ({fixed} fixed + the max_length of each placeholder); "
            f"the limit is {MAX_MESSAGE_LENGTH}"
        )
    return problems


def _example_problems(parameters: Mapping[str, Any] | None) -> list[str]:
    """A parameter whose own example is longer than its max_length."""
    problems = []
    for name, spec in (parameters or {}).items():
        if isinstance(spec, Mapping) and spec.get("example") is not None and isinstance(spec.get("max_length"), int):
            length = len(str(spec["example"]))
            if length > spec["max_length"]:
                problems.append(f"parameter {short(str(name))}: its example is {length} characters, over its "
                                f"max_length {spec['max_length']}")
    return problems


def _declaration_problems(message: str, parameters: Mapping[str, Any]) -> list[str]:
    """Placeholders used but not declared, and parameters declared but not used."""
    problems = []
    used = placeholders(message)
    undeclared = [p for p in used if p not in parameters]
    unused = [p for p in parameters if p not in used]
    if undeclared:
        problems.append("placeholder " + ", ".join(f"[{clip(p)}]" for p in undeclared) + " not declared in parameters")
    if unused:
        problems.append("parameter " + ", ".join(short(str(p)) for p in unused) + " declared but not used in message")
    return problems


def warnings(message: str) -> list[str]:
    """What may be a mistake but may be meant, so it warns and never blocks: a message holding another
    template syntax. The conversation-call page writes {{name}}; the workflow API fills only [name];
    yet a remote message may hold braces on purpose ("your code is {code}"), and export must write
    a file that validates."""
    if "{" not in message:  # the usual message: no search at all (this runs once per definition)
        return []
    other = sorted(set(OTHER_PLACEHOLDER.findall(message)))
    if not other:
        return []
    return ["placeholder " + ", ".join(clip(m) for m in other[:5]) + " is not filled in by the workflow API "
            "(it is sent as written): write [name] (square brackets) if it should be filled in"]


def worst_case(message: str, parameters: Mapping[str, Any] | None) -> str:
    """The longest the filled-in message can be, as a sentence (``render`` shows it beside the example's length)."""
    if not placeholders(message):
        return "no placeholders: always this length"
    worst = max_filled_length(message, parameters)
    if worst is not None:
        return f"at most {worst} characters with every placeholder at its max_length"
    unbounded = [p for p in placeholders(message)
                 if not isinstance((parameters or {}).get(p), Mapping) or not isinstance(parameters[p].get("max_length"), int)]
    return "no worst case known: " + ", ".join(f"[{clip(p)}]" for p in unbounded[:5]) + " without max_length"


def over_max_length(parameters: Mapping[str, Any] | None, values: Mapping[str, Any]) -> list[str]:
    """A sentence for each value longer than its parameter's ``max_length`` (a warning: the value is the user's)."""
    found = []
    for name, value in values.items():
        spec = (parameters or {}).get(name)
        limit = spec.get("max_length") if isinstance(spec, Mapping) else None
        if isinstance(limit, int) and not isinstance(limit, bool) and len(str(value)) > limit:
            found.append(f"{clip(name)}: {len(str(value))} characters, over its max_length {limit}")
    return found
