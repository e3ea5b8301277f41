"""Team rules: a clinic's own checks on its definitions, written once in voicebot-sync.yaml.

Pure (no files, no network, no clock): ``rulefile.parse_rules`` turns the ``rules:`` list of
the config file into ``Rule`` objects, or into (key path, sentence) problems that name the
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

from ..text import saferegex
from . import spoken, template
from ..errors import Problem, ValidationError
from ..text.escaping import clip, short
from .model import MANAGED_FIELDS

LEVELS = ("error", "warning")
PATTERN_KEYS = ("message_must_match", "message_must_not_match")
CHECK_KEYS = PATTERN_KEYS + ("max_filled_length", "max_spoken_seconds", "field")
RULE_KEYS = ("name", "level", "message") + CHECK_KEYS + ("one_of", "search", "applies_to")
SEARCHES = ("template", "filled")  # where patterns look: the template as sent, or the message with its examples
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
    search: str = "template"  # SEARCHES

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
        out = self._pattern_failures(message, definition.parameters)
        if self.max_filled_length is not None:
            length, how = _filled_length(message, definition.parameters)
            if length > self.max_filled_length:
                out.append(f"message {how.format(length)}; this rule allows {self.max_filled_length}")
        if self.max_spoken_seconds is not None:
            out += self._spoken_failures(definition, message, speech)
        if self.field is not None:
            out += self._field_failures(definition)
        return out

    def _pattern_failures(self, message: str, parameters: Any) -> list[str]:
        if not (self.must_match or self.must_not_match):
            return []
        what = "message"
        if self.search == "filled":
            # As a patient hears it with the examples: a placeholder without one stays as written.
            values = template.example_values(parameters)
            message = template.PLACEHOLDER.sub(lambda m: str(values.get(m.group(1), m.group(0))), message)
            what = "the filled message"
        if len(message) > saferegex.MAX_SUBJECT:  # never after validation: the API's own limit is the same
            return [f"{what} is over {saferegex.MAX_SUBJECT} characters, too long to search"]
        out = [f"{what} does not match {short(p.pattern, 60)}" for p in self.must_match
               if not saferegex.search(p, message)]
        for p in self.must_not_match:
            found = saferegex.search(p, message)
            if found:
                out.append(f"{what} contains {short(found.group(0))}, which matches {short(p.pattern, 60)}")
        return out

    def _spoken_failures(self, definition: Any, message: str, speech: spoken.Speech) -> list[str]:
        est = spoken.for_definition(definition, speech)
        if est is None or est.after_seconds <= self.max_spoken_seconds:
            return []
        how = (("takes", "with its examples") if est.worst is None
               else ("can take", "with every placeholder at its max_length") if template.placeholders(message)
               else ("takes", "as written"))
        return [f"message {how[0]} {est.after_seconds:g} s to say {how[1]}, at {est.rate:g} words "
                f"a minute; this rule allows {self.max_spoken_seconds:g} s"]

    def _field_failures(self, definition: Any) -> list[str]:
        # Managed fields as they would be sent (a missing workflow_type is ROBOCALL); labels as written.
        value = definition.desired().get(self.field) if self.field in MANAGED_FIELDS else definition.fields.get(self.field)
        allowed = ", ".join(clip(v) for v in self.one_of)
        if value is None:
            return [f"{self.field} is not set; this rule wants one of {allowed}"]
        if _label(value) not in {_label(v) for v in self.one_of}:
            return [f"{self.field} is {short(value)}, not one of {allowed}"]
        return []


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
            known = f"rules: {', '.join(sorted(ruleset.known))}" if ruleset.known else "the config file defines none"
            problems.append(Finding(WAIVE_KEY, "warning", "broken", d.name, d.source, line,
                                    f"x-waive names {short(str(rule))}, which is not a rule ({known})"))
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
