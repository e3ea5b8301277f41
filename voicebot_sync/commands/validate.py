"""``validate``: every definition file, offline; with environments, every environment's overrides."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable

from ..errors import Problem, ValidationError
from ..core.events import Events


@dataclass
class Validated:
    """What validate found valid: definitions, files, and the paths it passed over."""

    definitions: int
    files: int
    skipped: list[str] = field(default_factory=list)
    environments: list[str] = field(default_factory=list)
    # Team rules: broken warnings and waivers (rules.Finding), each once across the environments checked.
    findings: list = field(default_factory=list)
    warnings: list[Problem] = field(default_factory=list)  # said, never blocking (another template syntax)


def validate(settings, environments: dict | None = None, events: Events | None = None, *,
             only: list[str] | None = None, settings_for: Callable[[str], object] | None = None) -> Validated:
    """Validate as ``settings`` says; without ``--env``, also under each environment of the config file
    (``only``: just these environments, each with ``settings_for(env)``).

    A definition whose ``environments:`` names an environment the config file does not
    define is a problem (a typo there would silently never apply)."""
    from ..read.definitions import load_definitions_with_notes
    from ..core.rulecheck import check as check_rules

    events = events or Events()
    names = list(only) if only else [settings.env] if settings.env else [None] + sorted(environments or {})
    findings: dict = {}

    def load(env):
        chosen = settings if env is None or settings_for is None else settings_for(env)
        definitions, notes = load_definitions_with_notes(chosen.workflows, env=env, scope=chosen.scope)
        try:
            checked = check_rules(definitions, settings, env)
        except ValidationError as exc:  # a broken error rule: a problem like any other, said once per environment
            remember(exc.findings)
            raise
        remember(checked)
        return definitions, notes

    def remember(checked):
        for finding in checked:  # the same finding under several environments is listed once
            findings.setdefault((finding.source, finding.line, finding.text()), finding)

    loaded, problems, warnings = problems_per_environment(load, names)
    for w in warnings:
        events.note(f"{w.file}:{w.line}: warning: {w.message}")
    if environments is not None:
        for definitions, _ in loaded.values():
            for d in definitions:
                for named in getattr(d, "environment_names", ()):
                    if named not in environments:
                        problems.append(Problem(d.source, d.key_lines.get("environments", d.line),
                                                f"environment '{named}' is not defined in the config file "
                                                f"(environments: {', '.join(sorted(environments)) or 'none'})"))
    if problems:
        error = ValidationError(sorted(set(problems)))
        error.findings = list(findings.values())
        raise error
    definitions, notes = next(iter(loaded.values()), ([], []))
    return Validated(len(definitions), len({d.source for d in definitions}), list(notes),
                     [e for e in names if e], list(findings.values()), warnings)


def problems_per_environment(load: Callable[[str | None], tuple[list, list]], names: list[str | None]
                             ) -> tuple[dict[str | None, tuple[list, list]], list[Problem], list[Problem]]:
    """The one place that turns definitions into problems (and warnings) per environment: ``load(env)``
    for the base (None) and each environment of ``names``, each problem once. A problem the base has
    too is the base's (said once, untagged: every environment inherits it); one only some environments
    have is tagged with them. One environment alone (``--env NAME``) is untagged: it is all that was asked."""
    single = len(names) == 1 and names[0] is not None
    order = names if single else [None] + [n for n in names if n is not None]
    loaded: dict[str | None, tuple[list, list]] = {}
    problems: dict[tuple[str, int, str], list[str | None]] = {}
    warnings: dict[tuple[str, int, str], list[str | None]] = {}
    for env in order:
        try:
            loaded[env] = load(env)
        except ValidationError as exc:
            for p in exc.problems:
                problems.setdefault((p.file, p.line, p.message), []).append(env)
            continue
        for w in {w for d in loaded[env][0] for w in getattr(d, "warnings", ())}:
            warnings.setdefault((w.file, w.line, w.message), []).append(env)
    return loaded, _once(problems, single), _once(warnings, single)


def _once(where: dict[tuple[str, int, str], list[str | None]], single: bool) -> list[Problem]:
    found = []
    for (file, line, message), envs in where.items():
        if not single and None not in envs:
            message += f" (environment{'s' if len(envs) != 1 else ''} {', '.join(str(e) for e in envs)})"
        found.append(Problem(file, line, message))
    return sorted(found)
