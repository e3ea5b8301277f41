"""Definition files -> Definitions, with every problem located as FILE:LINE.

Each file is read once, bounded in size, decoded strictly, parsed into nodes
(for line numbers) and constructed; anchors and aliases are refused before
anything is built, so an alias bomb costs nothing. Every problem of every file
is collected, then reported together.
"""

from __future__ import annotations

import difflib
import json
import os
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Any, Iterator, Sequence

import yaml

from .errors import Problem, ValidationError
from .model import MANAGED_FIELDS, Scope, desired_fields
from .template import check as check_template

MAX_FILE_BYTES = 1024 * 1024
MAX_NODES = 20_000  # per document: far above any real workflow, far below trouble
SUFFIXES = (".yaml", ".yml")
KNOWN_KEYS = MANAGED_FIELDS + ("id", "parameters", "environments")

_Loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


@dataclass
class Definition:
    """One workflow as the repo defines it (after the selected environment's overrides)."""

    fields: dict[str, Any]
    source: str
    line: int
    key_lines: dict[str, int] = field(default_factory=dict)

    @property
    def name(self) -> str:
        return self.fields["name"]

    @property
    def id(self) -> str | None:
        value = self.fields.get("id")
        return str(value) if value is not None else None

    @property
    def parameters(self) -> dict[str, Any] | None:
        return self.fields.get("parameters")

    def desired(self) -> dict[str, Any]:
        return desired_fields(self.fields)


@lru_cache(maxsize=1)
def _validator():
    import jsonschema
    from importlib.resources import files

    schema = json.loads(files("voicebot_sync").joinpath("schemas", "workflow.schema.json").read_text(encoding="utf-8"))
    return jsonschema.Draft202012Validator(schema)


def display_path(path: Path) -> str:
    """Relative to the current directory when under it: what a person would type."""
    try:
        relative = os.path.relpath(path)
    except ValueError:  # another drive on Windows
        return str(path)
    return str(os.path.abspath(path)) if relative.startswith("..") else relative


def discover(paths: Sequence[str]) -> tuple[list[Path], list[Problem]]:
    """Definition files below ``paths``, sorted; symlinks that leave their directory are refused."""
    found: list[Path] = []
    problems: list[Problem] = []
    for given in paths:
        root = Path(given)
        if root.is_file():
            found.append(root)
            continue
        if not root.is_dir():
            problems.append(Problem(str(given), 0, "no such file or directory"))
            continue
        real_root = root.resolve()
        for dirpath, dirnames, filenames in os.walk(root, followlinks=False):
            dirnames[:] = sorted(d for d in dirnames if not d.startswith("."))
            for name in sorted(filenames):
                if not name.endswith(SUFFIXES):
                    continue
                path = Path(dirpath) / name
                if path.is_symlink():
                    target = path.resolve()
                    if not target.is_relative_to(real_root):
                        problems.append(Problem(display_path(path), 0, f"symlink leaves {given} (to {target}): not followed"))
                        continue
                found.append(path)
    return sorted(set(found), key=str), problems


def load_definitions(paths: Sequence[str], *, env: str | None = None, scope: Scope | None = None) -> list[Definition]:
    """Every definition below ``paths``; raises ValidationError with every problem found."""
    files, problems = discover(paths)
    definitions: list[Definition] = []
    for path in files:
        defs, file_problems = load_file(path, env=env)
        definitions.extend(defs)
        problems.extend(file_problems)
    problems.extend(_cross_checks(definitions, scope))
    if problems:
        raise ValidationError(problems)
    return sorted(definitions, key=lambda d: (d.source, d.line))


def _cross_checks(definitions: list[Definition], scope: Scope | None) -> Iterator[Problem]:
    seen_names: dict[str, Definition] = {}
    seen_ids: dict[str, Definition] = {}
    for d in sorted(definitions, key=lambda d: (d.source, d.line)):
        first = seen_names.setdefault(d.name, d)
        if first is not d:
            yield Problem(d.source, d.line, f"duplicate name '{d.name}': also defined at {first.source}:{first.line}")
        if d.id is not None:
            first = seen_ids.setdefault(d.id, d)
            if first is not d:
                yield Problem(d.source, d.key_lines.get("id", d.line), f"duplicate id {d.id}: also pinned at {first.source}:{first.line}")
        if scope is not None and not scope.contains(d.name):
            yield Problem(d.source, d.line, f"'{d.name}' is outside this repo's ownership scope ({scope.describe()})")


def read_text(path: Path) -> str:
    """The file's text, or ValueError with a sentence a person can act on."""
    size = path.stat().st_size
    if size > MAX_FILE_BYTES:
        raise ValueError(f"file is {size} bytes; the limit is {MAX_FILE_BYTES}")
    data = path.read_bytes()
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise ValueError(f"file is not valid UTF-8 (byte 0x{data[exc.start]:02x} at offset {exc.start})") from None


def load_file(path: Path | str, *, env: str | None = None) -> tuple[list[Definition], list[Problem]]:
    """The definitions of one file and the problems found in it."""
    path = Path(path)
    source = display_path(path)
    try:
        text = read_text(path)
    except (OSError, ValueError) as exc:
        return [], [Problem(source, 0, getattr(exc, "strerror", None) or str(exc))]
    loader = _Loader(text)
    definitions: list[Definition] = []
    problems: list[Problem] = []
    try:
        while loader.check_node():
            node = loader.get_node()
            if node is None:
                continue
            line = node.start_mark.line + 1
            lines: dict[tuple, int] = {}
            structural = list(_walk(node, (), lines))
            if structural:
                problems.extend(Problem(source, ln, msg) for ln, msg in structural)
                continue
            document = loader.construct_document(node)
            d, doc_problems = _definition(document, source, line, lines, env)
            problems.extend(doc_problems)
            if d is not None:
                definitions.append(d)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None) or getattr(exc, "context_mark", None)
        reason = getattr(exc, "problem", None) or str(exc)
        problems.append(Problem(source, mark.line + 1 if mark else 0, f"YAML syntax error: {reason}"))
    finally:
        loader.dispose()
    return definitions, problems


def _walk(node: yaml.Node, path: tuple, lines: dict[tuple, int], seen: set | None = None) -> Iterator[tuple[int, str]]:
    """Record the line of every path; refuse aliases, duplicate keys and runaway documents."""
    seen = set() if seen is None else seen
    if id(node) in seen:
        yield node.start_mark.line + 1, "YAML anchors and aliases are not allowed in definitions"
        return
    seen.add(id(node))
    if len(seen) > MAX_NODES:
        yield node.start_mark.line + 1, f"document has over {MAX_NODES} YAML nodes: not a workflow definition"
        return
    lines.setdefault(path, node.start_mark.line + 1)
    if isinstance(node, yaml.MappingNode):
        keys: set = set()
        for key_node, value_node in node.value:
            # Text keys everywhere; digits too below the top (response_options: {1: Yes}).
            allowed = ("tag:yaml.org,2002:str",) if not path else ("tag:yaml.org,2002:str", "tag:yaml.org,2002:int")
            if not isinstance(key_node, yaml.ScalarNode) or key_node.tag not in allowed or not key_node.value:
                yield key_node.start_mark.line + 1, f"keys must be plain text, not {key_node.value!r}" if isinstance(
                    key_node, yaml.ScalarNode) else "keys must be plain text"
                continue
            key = key_node.value
            if key in keys:
                yield key_node.start_mark.line + 1, f"duplicate key '{key}'"
            keys.add(key)
            lines[path + (key,)] = key_node.start_mark.line + 1
            for problem in _walk(value_node, path + (key,), lines, seen):
                yield problem
                if "aliases" in problem[1] or "nodes" in problem[1]:
                    return
    elif isinstance(node, yaml.SequenceNode):
        for i, item in enumerate(node.value):
            yield from _walk(item, path + (i,), lines, seen)


def _line_of(lines: dict[tuple, int], path: Sequence, default: int) -> int:
    path = tuple(str(p) if not isinstance(p, int) else p for p in path)
    while path:
        if path in lines:
            return lines[path]
        path = path[:-1]
    return default


def _schema_message(error) -> str:
    where = ".".join(str(p) for p in error.absolute_path)
    prefix = f"{where}: " if where else ""
    if error.validator == "additionalProperties":
        extra = [k for k in error.instance if k not in error.schema.get("properties", {}) and not str(k).startswith("x-")]
        known = list(error.schema.get("properties", {}))
        parts = []
        for key in extra:
            close = difflib.get_close_matches(str(key), known, n=1)
            hint = f" (did you mean '{close[0]}'?)" if close else f" (known keys: {', '.join(known)})"
            parts.append(f"unknown key '{key}'{hint}")
        return prefix + "; ".join(parts)
    if error.validator == "required":
        return prefix + f"missing required key {error.message.split(' ')[0]}"
    if error.validator == "enum":
        return prefix + f"{json.dumps(error.instance)} is not one of {', '.join(map(str, error.validator_value))}"
    if error.validator == "type" and isinstance(error.instance, bool) and "string" in str(error.validator_value):
        return prefix + f"is the boolean {str(error.instance).lower()}, not text: YAML reads yes/no/on/off as booleans; quote it"
    if "propertyNames" in error.schema_path:
        return prefix + f"key {error.instance!r} is not allowed here: {error.message}"
    if error.validator == "pattern" and error.absolute_path and error.absolute_path[-1] == "name":
        return prefix + "must not contain control characters"
    if error.validator == "pattern":
        return prefix + "contains control characters" if "u0000" in str(error.validator_value) else prefix + error.message
    return prefix + error.message


def _definition(document: Any, source: str, line: int, lines: dict[tuple, int], env: str | None):
    if document is None:
        return None, []
    if not isinstance(document, dict):
        return None, [Problem(source, line, f"a definition must be a mapping of keys, not a {type(document).__name__}")]
    problems = []
    for error in sorted(_validator().iter_errors(document), key=lambda e: list(map(str, e.absolute_path))):
        path = list(error.absolute_path)
        if error.validator == "additionalProperties":
            extra = [k for k in error.instance if k not in error.schema.get("properties", {}) and not str(k).startswith("x-")]
            path = path + extra[:1]
        elif "propertyNames" in error.schema_path:
            path = path + [error.instance]
        problems.append(Problem(source, _line_of(lines, path, line), _schema_message(error)))
    if problems:
        return None, problems
    fields = {k: v for k, v in document.items() if k != "environments"}
    override = (document.get("environments") or {}).get(env) if env else None
    if override:
        fields.update(override)
    parameters = fields.get("parameters")
    message = str(fields["message"])
    message_line = _line_of(lines, ("environments", env, "message") if override and "message" in override else ("message",), line)
    problems.extend(Problem(source, message_line, text) for text in check_template(message.rstrip(), parameters))
    key_lines = {str(k[0]): v for k, v in lines.items() if len(k) == 1}
    return Definition(fields, source, line, key_lines), problems
