"""Team rules: a clinic's own checks on its definitions, written once in voicebot-sync.yaml.

Pure (no files, no network, no clock): ``parse_rules`` turns the ``rules:`` list of the
config file into ``Rule`` objects, or into (key path, sentence) problems that name the
rule; ``check`` runs them over loaded definitions and returns ``Finding`` objects. A rule
of level ``error`` that is broken stops validate, plan and apply (``raise_for_errors``)
before any request; a ``warning`` is shown and does not; a definition waives a rule with
``x-waive: {rule-name: reason}``, and the waiver is shown wherever the plan is.

Patterns are compiled by ``saferegex`` (refused when they could backtrack without bound)
and search the message template as it is sent: fixed text and ``[placeholders]``.
"""

from __future__ import annotations

import fnmatch
import re
from dataclasses import dataclass, field
from typing import Any, Iterable, Mapping, Sequence

from . import saferegex, spoken, template
from .errors import Problem, ValidationError
from .escaping import clip, short
from .model import MANAGED_FIELDS, MAX_MESSAGE_LENGTH

LEVELS = ("error", "warning")
PATTERN_KEYS = ("message_must_match", "message_must_not_match")
CHECK_KEYS = PATTERN_KEYS + ("max_filled_length", "max_spoken_seconds", "field")
RULE_KEYS = ("name", "level", "message") + CHECK_KEYS + ("one_of", "applies_to")
SCOPE_KEYS = ("names", "labels", "paths")
WAIVE_KEY = "x-waive"
NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$")
MAX_RULES = 200
MAX_ITEMS = 50  # patterns, values, globs in one list
MAX_TEXT = 300  # characters of a rule's message, a glob, a label value


@dataclass(frozen=True)
class Rule:
    """One team rule, checked (see the module's docstring)."""

    name: str
    level: str
    message: str = ""
    must_match: tuple[re.Pattern, ...] = ()
    must_not_match: tuple[re.Pattern, ...] = ()
    max_filled_length: int | None = None
    max_spoken_seconds: float | None = None
    field: str | None = None
    one_of: tuple[Any, ...] = ()
    names: tuple[str, ...] = ()
    labels: tuple[tuple[str, tuple[str, ...]], ...] = ()
    paths: tuple[str, ...] = ()

    def applies(self, definition: Any) -> bool:
        """Every kind of scope given must hold; within one kind, any entry."""
        if self.names and not any(_glob(definition.name, g) for g in self.names):
            return False
        for key, values in self.labels:
            value = definition.fields.get(key)
            if value is None or _label(value) not in values:
                return False
        if self.paths:
            path = str(definition.source).replace("\\", "/")
            return any(_glob(path, g) or ("/" not in g and _glob(path.rsplit("/", 1)[-1], g)) for g in self.paths)
        return True

    def failures(self, definition: Any, speech: spoken.Speech) -> list[str]:
        """What this rule finds wrong with a definition, one sentence per broken check."""
        message = definition.desired().get("message")
        message = message if isinstance(message, str) else ""
        parameters = definition.parameters
        out = []
        if len(message) > saferegex.MAX_SUBJECT and (self.must_match or self.must_not_match):
            out.append(f"message is over {saferegex.MAX_SUBJECT} characters, too long to search")
        else:
            out += [f"message does not match {short(p.pattern, 60)}" for p in self.must_match
                    if not saferegex.search(p, message)]
            for p in self.must_not_match:
                found = saferegex.search(p, message)
                if found:
                    out.append(f"message contains {short(found.group(0))}, which matches {short(p.pattern, 60)}")
        if self.max_filled_length is not None:
            length, how = _filled_length(message, parameters)
            if length > self.max_filled_length:
                out.append(f"message {how.format(length)}; this rule allows {self.max_filled_length}")
        if self.max_spoken_seconds is not None:
            est = spoken.for_definition(definition, speech)
            if est is not None and est.after_seconds > self.max_spoken_seconds:
                how = (("takes", "with its examples") if est.worst is None
                       else ("can take", "with every placeholder at its max_length") if template.placeholders(message)
                       else ("takes", "as written"))
                out.append(f"message {how[0]} {est.after_seconds:g} s to say {how[1]}, at {est.rate:g} words "
                           f"a minute; this rule allows {self.max_spoken_seconds:g} s")
        if self.field is not None:
            value = definition.desired().get(self.field) if self.field in MANAGED_FIELDS else definition.fields.get(self.field)
            allowed = ", ".join(clip(v) for v in self.one_of)
            if value is None:
                out.append(f"{self.field} is not set; this rule wants one of {allowed}")
            elif _label(value) not in {_label(v) for v in self.one_of}:
                out.append(f"{self.field} is {short(value)}, not one of {allowed}")
        return out


@dataclass(frozen=True)
class Finding:
    """A broken rule (``status`` broken) or a waiver (``status`` waived) on one definition."""

    rule: str
    level: str
    status: str
    workflow: str
    source: str
    line: int
    message: str
    reason: str | None = None

    def text(self) -> str:
        """``rule NAME: message`` (broken) or ``rule NAME waived: reason (...)``; outside text unescaped."""
        if self.status == "waived":
            tail = f" (it would say: {self.message})" if self.message else " (not broken now)"
            return f"rule {self.rule} waived for \"{self.workflow}\": {self.reason}{tail}"
        return f"rule {self.rule}: {self.message}"

    def problem(self) -> Problem:
        return Problem(self.source, self.line, self.text())

    def to_json(self) -> dict[str, Any]:
        return {"rule": self.rule, "level": self.level, "status": self.status, "workflow": self.workflow,
                "source": self.source, "line": self.line, "message": self.message, "reason": self.reason}

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> "Finding":
        return cls(str(data["rule"]), str(data["level"]), str(data["status"]), str(data["workflow"]),
                   str(data["source"]), int(data.get("line") or 0), str(data.get("message") or ""),
                   None if data.get("reason") is None else str(data["reason"]))


@dataclass(frozen=True)
class RuleSet:
    """The rules in force for one run, every rule name the config file knows, and the speaking rates."""

    rules: tuple[Rule, ...] = ()
    known: frozenset = frozenset()
    speech: spoken.Speech = field(default_factory=spoken.Speech)


@dataclass(frozen=True)
class RuleBook:
    """The config file's rules and rates: the top's, and each environment's additions."""

    top: tuple[Rule, ...] = ()
    environments: tuple[tuple[str, tuple[Rule, ...]], ...] = ()
    speech: tuple[tuple[str | None, Any], ...] = ()  # (None or env, words_per_minute as written)

    def select(self, env: str | None = None) -> RuleSet:
        """The top's rules, an environment's rule of the same name replacing the top's, its others added."""
        chosen = {r.name: r for r in self.top}
        for name, rules in self.environments:
            if name == env:
                chosen.update({r.name: r for r in rules})
        known = frozenset(r.name for r in self.top) | {r.name for _, rules in self.environments for r in rules}
        speech = spoken.Speech()
        for where, value in self.speech:
            if where is None or where == env:
                speech = spoken.parse_speech(value, speech)
        return RuleSet(tuple(chosen.values()), frozenset(known), speech)

    def describe(self) -> str:
        counts = [len(self.top)] + [len(rules) for _, rules in self.environments]
        return f"{sum(counts)} rule{'s' if sum(counts) != 1 else ''}" if sum(counts) else "none"


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
    patterns = {k: _patterns(entry.get(k), k, wrong) for k in PATTERN_KEYS}
    limit = entry.get("max_filled_length")
    if limit is not None and (not _whole(limit) or not 1 <= limit <= MAX_MESSAGE_LENGTH):
        wrong("max_filled_length", f"max_filled_length must be a whole number of characters from 1 to {MAX_MESSAGE_LENGTH}")
    seconds = entry.get("max_spoken_seconds")
    if seconds is not None and (not _number(seconds) or not 0 < seconds <= 3600):
        wrong("max_spoken_seconds", "max_spoken_seconds must be a number of seconds above 0, at most 3600")
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
    scope = _scope(entry.get("applies_to"), wrong)
    if problems:
        return None, problems
    return Rule(name, level, message, patterns["message_must_match"], patterns["message_must_not_match"], limit,
                None if seconds is None else float(seconds), field_name, tuple(one_of or ()), *scope), []


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
    labels = []
    given = value.get("labels")
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
    return globs["names"], tuple(labels), globs["paths"]


def _whole(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and value == value


def _scalars(items: Any) -> bool:
    return (isinstance(items, list) and 1 <= len(items) <= MAX_ITEMS
            and all(isinstance(v, (str, int, float, bool)) and len(str(v)) <= MAX_TEXT for v in items))


def _texts(items: Any) -> bool:
    return (isinstance(items, list) and 1 <= len(items) <= MAX_ITEMS
            and all(isinstance(v, str) and 0 < len(v) <= MAX_TEXT for v in items))


def _label(value: Any) -> str:
    """Values compared as YAML wrote them, letter case aside (true, 3, yo)."""
    return (str(value).lower() if isinstance(value, bool) else str(value)).casefold()


def _glob(text: str, pattern: str) -> bool:
    """fnmatch, letter case aside; ``*`` also matches ``/``."""
    return fnmatch.fnmatchcase(text.casefold(), pattern.casefold())


def _filled_length(message: str, parameters: Any) -> tuple[int, str]:
    """(characters, a sentence with {} for them): at worst when every placeholder has a max_length."""
    worst = template.max_filled_length(message, parameters)
    if worst is not None:
        return worst, "can be {} characters with every placeholder at its max_length"
    values = template.example_values(parameters)
    filled = template.PLACEHOLDER.sub(lambda m: values.get(m.group(1), m.group(0)), message)
    return len(filled), "is {} characters filled with its examples (a placeholder has no max_length)"


# -- checking definitions -----------------------------------------------------------


def check(definitions: Iterable[Any], ruleset: RuleSet) -> list[Finding]:
    """Every broken rule and every waiver, definition by definition, in file order."""
    findings: list[Finding] = []
    for d in definitions:
        waivers, problems = _waivers(d, ruleset)
        findings += problems
        for rule in ruleset.rules:
            if not rule.applies(d):
                continue
            broken = rule.failures(d, ruleset.speech)
            line = _line(d, rule)
            if rule.name in waivers:
                findings.append(Finding(rule.name, rule.level, "waived", d.name, d.source, d.key_lines.get(WAIVE_KEY, d.line),
                                        "; ".join(_said(rule, b) for b in broken), waivers[rule.name]))
                continue
            findings += [Finding(rule.name, rule.level, "broken", d.name, d.source, line, _said(rule, b)) for b in broken]
    return sorted(findings, key=lambda f: (f.source, f.line))  # file order, as validate reports problems


def _said(rule: Rule, detail: str) -> str:
    return f"{rule.message} ({detail})" if rule.message else detail


def _line(d: Any, rule: Rule) -> int:
    key = rule.field if rule.field and not (rule.must_match or rule.must_not_match or rule.max_filled_length
                                            or rule.max_spoken_seconds) else "message"
    return d.key_lines.get(key, d.line)


def _waivers(d: Any, ruleset: RuleSet) -> tuple[dict[str, str], list[Finding]]:
    """The definition's waivers (rule -> reason) and the problems with its ``x-waive``."""
    value = d.fields.get(WAIVE_KEY)
    line = d.key_lines.get(WAIVE_KEY, d.line)
    if value is None:
        return {}, []
    if not isinstance(value, Mapping):
        return {}, [Finding(WAIVE_KEY, "error", "broken", d.name, d.source, line,
                            "x-waive must map rule names to reasons, such as {no-dates: the date is the opening day}")]
    waivers, problems = {}, []
    for rule, reason in value.items():
        if not isinstance(reason, str) or not reason.strip():
            problems.append(Finding(WAIVE_KEY, "error", "broken", d.name, d.source, line,
                                    f"x-waive: {short(str(rule))} needs a reason (text saying why the rule does not apply)"))
        elif str(rule) not in ruleset.known:
            known = ", ".join(sorted(ruleset.known)) or "no rules are defined"
            problems.append(Finding(WAIVE_KEY, "warning", "broken", d.name, d.source, line,
                                    f"x-waive names {short(str(rule))}, which is not a rule (rules: {known})"))
        else:
            waivers[str(rule)] = clip(reason.strip(), MAX_TEXT)
    return waivers, problems


def errors(findings: Sequence[Finding]) -> list[Finding]:
    return [f for f in findings if f.status == "broken" and f.level == "error"]


def shown(findings: Sequence[Finding]) -> list[Finding]:
    """What a plan carries: broken warnings and every waiver (a broken error has stopped it already)."""
    return [f for f in findings if not (f.status == "broken" and f.level == "error")]


def raise_for_errors(findings: Sequence[Finding], tag: str = "") -> None:
    """ValidationError (``FILE:LINE: rule NAME: message``) when an error rule is broken; it carries every
    finding in ``findings`` so a face can list the warnings and waivers too."""
    bad = errors(findings)
    if bad:
        exc = ValidationError([Problem(f.source, f.line, f.text() + tag) for f in bad])
        exc.findings = list(findings)
        raise exc
