"""The ``rules:`` list and ``words_per_minute`` of voicebot-sync.yaml, read into ``rules.Rule`` objects.

Pure. Every problem is a (key path, sentence) pair, the sentence naming its rule
(``rule NAME: ...``, or ``rules[3]`` for a rule without a usable name), so the config
reader can put each at its line. Nothing here trusts the types: a hostile file gets
sentences, never an exception; patterns go through ``saferegex``.
"""

from __future__ import annotations

import math
import re
from typing import Any, Mapping

from ..text import saferegex
from ..core import spoken
from ..text.escaping import short
from ..core.model import MANAGED_FIELDS, MAX_MESSAGE_LENGTH
from ..core.rules import (CHECK_KEYS, LEVELS, MAX_ITEMS, MAX_RULES, MAX_TEXT, NAME, PATTERN_KEYS, RULE_KEYS, SCOPE_KEYS,
                          SEARCHES,
                    Rule, RuleBook, _label)


def from_config(data: Mapping[str, Any]) -> RuleBook:
    """The RuleBook of a config file already checked by ``config_problems`` (anything wrong is skipped)."""
    environments = data.get("environments") if isinstance(data.get("environments"), Mapping) else {}
    speech = [(None, data.get("words_per_minute"))] + [
        (name, section.get("words_per_minute")) for name, section in environments.items() if isinstance(section, Mapping)]
    return RuleBook(
        parse_rules(data.get("rules"))[0],
        tuple((name, parse_rules(section.get("rules"))[0]) for name, section in environments.items()
              if isinstance(section, Mapping) and section.get("rules") is not None),
        tuple((where, value) for where, value in speech if value is not None),
    )


def config_problems(section: Mapping[str, Any]) -> list[tuple[tuple, str]]:
    """(key path, sentence) for what is wrong with one section's ``rules`` and ``words_per_minute``."""
    problems = parse_rules(section.get("rules"))[1] if "rules" in section else []
    if section.get("words_per_minute") is not None:
        try:
            spoken.parse_speech(section["words_per_minute"])
        except ValueError as exc:
            problems.append((("words_per_minute",), str(exc)))
    return problems


# -- reading the rules --------------------------------------------------------------


def parse_rules(value: Any) -> tuple[tuple[Rule, ...], list[tuple[tuple, str]]]:
    """(the rules that are right, (key path, sentence) for each problem). Each sentence names its rule."""
    if value is None:
        return (), []
    if not isinstance(value, list):
        return (), [(("rules",), "rules must be a list of rules, each a mapping with name, level and a check")]
    if len(value) > MAX_RULES:
        return (), [(("rules",), f"rules has {len(value)} entries; the limit is {MAX_RULES}")]
    rules, problems, seen = [], [], set()
    for index, entry in enumerate(value):
        rule, found = _parse_rule(entry, index)
        problems += found
        name = entry.get("name") if isinstance(entry, Mapping) else None
        if isinstance(name, str) and NAME.match(name) and name in seen:
            problems.append((("rules", index, "name"), f"rule {name}: a second rule has this name"))
        elif isinstance(name, str):
            seen.add(name)
        if rule is not None and not problems:
            rules.append(rule)
    return (tuple(rules) if not problems else ()), problems


def _parse_rule(entry: Any, index: int) -> tuple[Rule | None, list[tuple[tuple, str]]]:
    at = ("rules", index)
    if not isinstance(entry, Mapping):
        return None, [(at, f"rules[{index}]: a rule must be a mapping with name, level and a check")]
    name = entry.get("name")
    label = f"rule {name}" if isinstance(name, str) and NAME.match(name) else f"rules[{index}]"
    problems: list[tuple[tuple, str]] = []

    def wrong(key, text):
        problems.append((at + ((key,) if isinstance(key, str) else tuple(key)), f"{label}: {text}"))

    _check_head(entry, name, wrong)
    patterns = {k: _patterns(entry.get(k), k, wrong) for k in PATTERN_KEYS}
    limit, seconds = _limits(entry, wrong)
    field_name, one_of = _field_check(entry, wrong)
    scope = _scope(entry.get("applies_to"), wrong)
    if problems:
        return None, problems
    search = entry.get("search", "template")
    if search not in SEARCHES:
        wrong("search", f"search must be {' or '.join(SEARCHES)} (where the patterns look), not {short(search)}")
        return None, problems
    return Rule(name, entry["level"], entry.get("message", ""), patterns["message_must_match"], patterns["message_must_not_match"], limit,
                None if seconds is None else float(seconds), field_name, tuple(one_of or ()), *scope,
                search=search), []


def _check_head(entry: Mapping, name: Any, wrong) -> None:
    """Known keys, a name, a level, a message that is text, and at least one check."""
    for key in entry:
        if key not in RULE_KEYS:
            from .yamlfile import unknown_key

            wrong(str(key), unknown_key(key, RULE_KEYS))
    if not isinstance(name, str) or not NAME.match(name):
        wrong("name", "needs a name: letters, digits, '_', '.' and '-' (up to 64), such as no-phone-numbers"
              if name is None else f"name {short(name)} is not letters, digits, '_', '.' and '-' (up to 64)")
    level = entry.get("level")
    if level not in LEVELS:
        wrong("level", "needs a level: error or warning" if level is None else f"level must be error or warning, not {short(level)}")
    message = entry.get("message", "")
    if not isinstance(message, str) or len(message) > MAX_TEXT:
        wrong("message", f"message must be text of at most {MAX_TEXT} characters (why the rule exists)")
    if not any(k in entry for k in CHECK_KEYS):
        wrong((), "has nothing to check: give message_must_match, message_must_not_match, max_filled_length, "
                  "max_spoken_seconds, or field with one_of")


def _limits(entry: Mapping, wrong) -> tuple[Any, Any]:
    """``max_filled_length`` and ``max_spoken_seconds``, each within its bounds."""
    limit = entry.get("max_filled_length")
    if limit is not None and (not _whole(limit) or not 1 <= limit <= MAX_MESSAGE_LENGTH):
        wrong("max_filled_length", f"max_filled_length must be a whole number of characters from 1 to {MAX_MESSAGE_LENGTH}")
    seconds = entry.get("max_spoken_seconds")
    if seconds is not None and (not _number(seconds) or not 0 < seconds <= 3600):
        wrong("max_spoken_seconds", "max_spoken_seconds must be a number of seconds above 0, at most 3600")
    return limit, seconds


def _field_check(entry: Mapping, wrong) -> tuple[Any, Any]:
    """``field`` and ``one_of``: together, a definition key and a list of the values it may have."""
    field_name, one_of = entry.get("field"), entry.get("one_of")
    if (field_name is None) != (one_of is None):
        wrong("field" if field_name is not None else "one_of", "field and one_of go together: the key to look at, "
              "and a list of the values it may have")
    elif field_name is not None:
        if not isinstance(field_name, str) or not (field_name in MANAGED_FIELDS or field_name in ("id", "parameters")
                                                   or field_name.startswith("x-")):
            wrong("field", f"field must be a definition key ({', '.join(MANAGED_FIELDS)}, or an x- label), "
                  f"not {short(field_name)}")
        if not _scalars(one_of):
            wrong("one_of", f"one_of must be a list of 1 to {MAX_ITEMS} values (text, numbers or true/false)")
    return field_name, one_of


def _patterns(value: Any, key: str, wrong) -> tuple[re.Pattern, ...]:
    if value is None:
        return ()
    items = [value] if isinstance(value, str) else value
    if not isinstance(items, list) or not 1 <= len(items) <= MAX_ITEMS:
        wrong(key, f"{key} must be a regular expression or a list of 1 to {MAX_ITEMS} of them")
        return ()
    compiled = []
    for i, pattern in enumerate(items):
        try:
            compiled.append(saferegex.compile_safe(pattern))
        except saferegex.UnsafePattern as exc:
            where = (key,) if isinstance(value, str) else (key, i)
            shown = f" {short(pattern, 60)}" if isinstance(pattern, str) else ""
            wrong(where, f"{key} pattern{shown} {exc}")
    return tuple(compiled)


def _scope(value: Any, wrong) -> tuple[tuple[str, ...], tuple, tuple[str, ...]]:
    """(names, labels, paths) of ``applies_to``; nothing given means every definition."""
    if value is None:
        return (), (), ()
    if not isinstance(value, Mapping) or not value:
        wrong("applies_to", "applies_to must be a mapping with names, labels and/or paths")
        return (), (), ()
    for key in value:
        if key not in SCOPE_KEYS:
            from .yamlfile import unknown_key

            wrong(("applies_to", str(key)), "applies_to: " + unknown_key(key, SCOPE_KEYS))
    globs = {}
    for key in ("names", "paths"):
        items = value.get(key)
        items = [items] if isinstance(items, str) else items
        if items is not None and not _texts(items):
            wrong(("applies_to", key), f"applies_to.{key} must be a list of 1 to {MAX_ITEMS} patterns such as "
                  + ("'*reminder*'" if key == "names" else "'workflows/yoruba/*'"))
            items = None
        globs[key] = tuple(items or ())
    labels = _labels(value.get("labels"), wrong)
    return globs["names"], tuple(labels), globs["paths"]


def _labels(given: Any, wrong) -> list[tuple[str, tuple]]:
    """``applies_to.labels``: each x- key with the value (or values) a definition must have."""
    labels = []
    if given is not None and not isinstance(given, Mapping):
        wrong(("applies_to", "labels"), "applies_to.labels must map x- keys to a value or a list of values, "
              "such as {x-language: yo}")
    for key, wanted in (given or {}).items() if isinstance(given, Mapping) else ():
        wanted = wanted if isinstance(wanted, list) else [wanted]
        if not isinstance(key, str) or not key.startswith("x-") or not _scalars(wanted):
            wrong(("applies_to", "labels", str(key)), f"applies_to.labels: {short(key)} must be an x- key with "
                  "a value or a list of values")
            continue
        labels.append((key, tuple(_label(w) for w in wanted)))
    return labels


def _whole(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)


def _scalars(items: Any) -> bool:
    return (isinstance(items, list) and 1 <= len(items) <= MAX_ITEMS
            and all(isinstance(v, (str, int, float, bool)) and len(str(v)) <= MAX_TEXT for v in items))


def _texts(items: Any) -> bool:
    return (isinstance(items, list) and 1 <= len(items) <= MAX_ITEMS
            and all(isinstance(v, str) and 0 < len(v) <= MAX_TEXT for v in items))
