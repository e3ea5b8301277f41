"""The sentences of a definition's problems: one per jsonschema error, never jsonschema's own message
(it embeds the whole value), quoting at most a short, visible prefix of any value."""

from __future__ import annotations

from typing import Any

from . import yamlfile
from ..text.escaping import short, unsafe_characters

_TYPE_WORDS = {"string": "text", "integer": "a whole number", "number": "a number", "boolean": "true or false",
               "object": "a mapping of keys", "array": "a list", "null": "null"}
# Why a key is refused, by the propertyNames pattern it fails.
_KEY_RULES = {
    "^[0-9]+$": "keys are the digit to press",
    "^[A-Za-z_][A-Za-z0-9_]*$": "parameter names are letters, digits and _, not starting with a digit",
}


def kind(value: Any) -> str:
    """What a YAML value is, in words, without quoting it."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return f"the boolean {str(value).lower()}"
    if isinstance(value, (int, float)):
        return "a number"
    if isinstance(value, str):
        return "text"
    if isinstance(value, list):
        return "a list"
    if isinstance(value, dict):
        return "a mapping"
    if isinstance(value, bytes):
        return "binary data"
    return f"a {type(value).__name__}"  # a date or timestamp


def _shown(value: Any) -> str:
    """A value quoted in a message: a short visible prefix of text or a scalar, else what it is."""
    return yamlfile.shown(value, kind)


def schema_message(error) -> str:
    """One sentence per schema error. Never jsonschema's own message: it embeds the whole value."""
    where = yamlfile.where(error.absolute_path)
    prefix = f"{where}: " if where else ""
    if "propertyNames" in error.schema_path:
        why = _KEY_RULES.get(error.validator_value) if error.validator == "pattern" else None
        return prefix + f"key {short(str(error.instance))} is not allowed here: {why or f'keys must match {error.validator_value}'}"
    sentence = _SENTENCES.get(error.validator)
    if sentence is None:
        return prefix + f"is not allowed here (schema rule '{error.validator}')"
    return prefix + sentence(error, error.instance, error.validator_value)


def _unknown_keys_sentence(error, value, rule) -> str:
    known = list(error.schema.get("properties", {}))
    return "; ".join(yamlfile.unknown_key(key, known) for key in yamlfile.unknown_keys(error))


def _required_sentence(error, value, rule) -> str:
    missing = [k for k in rule if isinstance(value, dict) and k not in value]
    return f"missing required key {', '.join(repr(k) for k in missing[:1] or rule[:1])}"


def _type_sentence(error, value, rule) -> str:
    if isinstance(value, bool) and "string" in str(rule):
        return f"is the boolean {str(value).lower()}, not text: YAML reads yes/no/on/off as booleans; quote it"
    wanted = [rule] if isinstance(rule, str) else list(rule)
    hint = "; quote it" if "string" in wanted and isinstance(value, (int, float)) else ""
    return f"must be {' or '.join(_TYPE_WORDS.get(w, w) for w in wanted)}, not {kind(value)}{hint}"


def _pattern_sentence(error, value, rule) -> str:
    if error.absolute_path and error.absolute_path[-1] == "call_back_url":
        return "must be an http:// or https:// URL without spaces"
    found = unsafe_characters(value) if isinstance(value, str) else []
    return unsafe_sentence(found) if found else f"does not match the pattern {rule}"


# The sentence for each kind of schema error (validator), handed (error, the value, the rule's value).
_SENTENCES = {
    "additionalProperties": _unknown_keys_sentence,
    "required": _required_sentence,
    "enum": lambda error, value, rule: f"{_shown(value)} is not one of {', '.join(map(str, rule))}",
    "type": _type_sentence,
    "minLength": lambda error, value, rule: "must not be empty" if rule == 1 else f"must be at least {rule} characters",
    "maxLength": lambda error, value, rule: f"is {len(value)} characters; the limit is {rule}",
    "minimum": lambda error, value, rule: f"must be at least {rule}, not {_shown(value)}",
    "pattern": _pattern_sentence,
}


def unsafe_sentence(found: list[tuple[int, str]], multiline: bool = False) -> str:
    listed = ", ".join(f"{code} at offset {offset}" for offset, code in found[:5])
    more = f" and {len(found) - 5} more" if len(found) > 5 else ""
    allowed = "; only newline and tab are allowed" if multiline else ""
    return f"contains control characters or invisible/bidi characters: {listed}{more}{allowed}"
