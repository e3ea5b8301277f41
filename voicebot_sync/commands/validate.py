"""``validate``: every definition file, offline; with environments, every environment's overrides."""

from __future__ import annotations

from dataclasses import dataclass, field

from ..errors import Problem, ValidationError
from .common import Hooks


@dataclass
class Validated:
    """What validate found valid: definitions, files, and the paths it passed over."""

    definitions: int
    files: int
    skipped: list[str] = field(default_factory=list)
    environments: list[str] = field(default_factory=list)
    # Team rules: broken warnings and waivers (rules.Finding), each once across the environments checked.
    findings: list = field(default_factory=list)


def validate(settings, environments: dict | None = None, hooks: Hooks | None = None) -> Validated:
    """Validate as ``settings`` says; without ``--env``, also under each environment of the config file.

    A definition whose ``environments:`` names an environment the config file does not
    define is a problem (a typo there would silently never apply)."""
    from ..definitions import load_definitions_with_notes
    from ..rulecheck import check as check_rules

    hooks = hooks or Hooks()
    names = [settings.env] if settings.env else [None] + sorted(environments or {})
    problems: list[Problem] = []
    found = None
    findings: dict = {}
    for env in names:
        tag = f" (environment {env})" if env else ""
        try:
            definitions, notes = load_definitions_with_notes(settings.workflows, env=env, scope=settings.scope)
        except ValidationError as exc:
            problems += [Problem(p.file, p.line, p.message + tag) if env else p for p in exc.problems]
            continue
        try:
            checked = check_rules(definitions, settings, env)
        except ValidationError as exc:  # a broken error rule: reported with the other problems
            checked = exc.findings
            problems += [Problem(p.file, p.line, p.message + tag) if env else p for p in exc.problems]
        for finding in checked:  # the same finding under several environments is listed once
            findings.setdefault((finding.source, finding.line, finding.text()), finding)
        if found is None:
            found = (definitions, notes)
        if environments is not None:
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
    definitions, notes = found or ([], [])
    return Validated(len(definitions), len({d.source for d in definitions}), list(notes),
                     [e for e in names if e], list(findings.values()))
