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


def validate(settings, environments: dict | None = None, hooks: Hooks | None = None) -> Validated:
    """Validate as ``settings`` says; without ``--env``, also under each environment of the config file.

    A definition whose ``environments:`` names an environment the config file does not
    define is a problem (a typo there would silently never apply)."""
    from ..definitions import load_definitions_with_notes

    hooks = hooks or Hooks()
    names = [settings.env] if settings.env else [None] + sorted(environments or {})
    problems: list[Problem] = []
    found = None
    for env in names:
        try:
            definitions, notes = load_definitions_with_notes(settings.workflows, env=env, scope=settings.scope)
        except ValidationError as exc:
            tag = f" (environment {env})" if env else ""
            problems += [Problem(p.file, p.line, p.message + tag) if env else p for p in exc.problems]
            continue
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
        raise ValidationError(sorted(set(problems)))
    definitions, notes = found or ([], [])
    return Validated(len(definitions), len({d.source for d in definitions}), list(notes),
                     [e for e in names if e])
