"""Definition files -> Definitions, with every problem located as FILE:LINE.

Each file is read once by ``yamlfile`` (the reader shared with the config file):
bounded in size, decoded strictly, parsed into nodes (for line numbers) and
constructed; anchors and aliases are refused before anything is built, so an
alias bomb costs nothing. A document that certainly passes the schema takes its
compiled fast path; jsonschema only explains one that fails. Every problem of
every file is collected, then reported together.

Discovery reads regular ``*.yaml``/``*.yml`` files (any letter case) below each
directory; hidden entries and editor leftovers are skipped and reported as
notes (``load_definitions_with_notes``); symlinks are followed while they stay
inside the given directory or the current directory's tree; loops, FIFOs,
devices and unreadable entries are problems, never exceptions, never opened.
A message quotes at most a short, visible prefix of any value (``escaping.short``).
"""

from __future__ import annotations

import gc
import re
from contextlib import contextmanager
from dataclasses import dataclass, field
from functools import lru_cache, partial
from pathlib import Path
from typing import Any, Iterator, Sequence

from . import fanout, schema as schemacheck, yamlfile
from .sentences import kind as _kind, schema_message as _schema_message, unsafe_sentence as _unsafe_sentence
from ..errors import Problem, ValidationError
from ..text.escaping import UNSAFE_CHARACTERS, short, unsafe_characters
from ..core.model import LOCAL_KEYS, MANAGED_FIELDS, Scope, desired_fields, loose_name_key, name_key, normalise_text
from ..core.renames import previous_name_problems
from ..core.template import check as check_template, warnings as template_warnings
from .discovery import SUFFIXES, _discover, _reason, discover, discover_with_notes, display_path  # noqa: F401 - part of this API
from .yamlfile import MAX_NODES, clip as _clip, line_of, not_regular as _not_regular, where as _where  # noqa: F401 - kept names

MAX_FILE_BYTES = yamlfile.MAX_BYTES
# Editor leftovers (Emacs lock and auto-save, backups, Vim swap files): never definitions.
KNOWN_KEYS = MANAGED_FIELDS + LOCAL_KEYS
# Text keys everywhere; digits too below the top (response_options: {1: Yes}).
_RULES = yamlfile.Rules(aliases_in="definitions", document="a workflow definition", number_keys=True)


@dataclass
class Definition:
    """One workflow as the repo defines it (after the selected environment's overrides)."""

    fields: dict[str, Any]
    source: str
    line: int
    key_lines: dict[str, int] = field(default_factory=dict)
    # The environments its ``environments:`` overrides name (validate checks them against the config).
    environment_names: tuple[str, ...] = ()
    # What may be a mistake but never blocks (another template syntax): said by validate, plan and apply.
    warnings: list[Problem] = field(default_factory=list)

    # Read from ``fields`` once: the planner, the cross-checks and the sorts ask 8 times a definition.
    name: str = field(init=False, repr=False, compare=False)
    id: str | None = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        self.name = self.fields["name"]
        value = self.fields.get("id")
        self.id = str(value) if value is not None else None

    @property
    def previous_names(self) -> tuple[str, ...]:
        """Names it had before (local only, never sent): a rename keeps the workflow's id."""
        return tuple(self.fields.get("previous_names") or ())

    @property
    def parameters(self) -> dict[str, Any] | None:
        return self.fields.get("parameters")

    def desired(self) -> dict[str, Any]:
        return desired_fields(self.fields)


def _schema() -> schemacheck.Schema:
    return schemacheck.packaged("workflow")


def load_definitions_with_notes(
    paths: Sequence[str], *, env: str | None = None, scope: Scope | None = None
) -> tuple[list[Definition], list[str]]:
    """Every definition below ``paths`` and notes on what discovery skipped (hidden files, editor leftovers,
    the same file reached twice). Raises ValidationError with every problem found; its ``notes``
    attribute then holds the notes."""
    files, problems, notes = _discover(paths)
    definitions: list[Definition] = []
    # Each file on its own (fanout: several processes for a large repository), gathered in order. The
    # compiled schema and what it covers are made here first, so that children inherit them.
    _schema_covers_text()
    with _no_cycle_collection():
        loaded = fanout.map_in_order(partial(_load_discovered, env=env), files)
    for (display, _path), (defs, file_problems) in zip(files, loaded):
        if not defs and not file_problems:
            # Said, not passed over in silence: a definition may have been lost from it.
            notes.append(f"{display}: no definition in it (empty, or only comments)")
        definitions.extend(defs)
        problems.extend(file_problems)
    definitions.sort(key=lambda d: (d.source, d.line))  # the order of discovery already: a linear pass
    problems.extend(_cross_checks(definitions, scope))
    if problems:
        error = ValidationError(problems)
        error.notes = notes
        raise error
    return definitions, notes


@contextmanager
def _no_cycle_collection() -> Iterator[None]:
    """Python's cycle collector paused while many small objects are built that hold no cycles (YAML
    nodes, dicts, Definitions): it would otherwise scan the growing heap again and again, about 8% of
    reading 10,000 files. Reference counting still frees everything at once; the collector runs again
    afterwards, as before."""
    was = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was:
            gc.enable()


def _load_discovered(file: tuple[str, str], *, env: str | None) -> tuple[list[Definition], list[Problem]]:
    display, path = file
    return load_file(path, env=env, source=display, regular=True)


def load_definitions(paths: Sequence[str], *, env: str | None = None, scope: Scope | None = None) -> list[Definition]:
    """Every definition below ``paths``; raises ValidationError with every problem found."""
    return load_definitions_with_notes(paths, env=env, scope=scope)[0]


def _cross_checks(definitions: list[Definition], scope: Scope | None) -> Iterator[Problem]:
    """Problems across files (``definitions`` in file and line order: the first of two is named)."""
    seen_names: dict[str, Definition] = {}
    seen_forms: dict[str, Definition] = {}
    seen_ids: dict[str, Definition] = {}
    for d in definitions:
        first = seen_names.setdefault(d.name, d)
        if first is not d:
            yield Problem(d.source, d.line, f"duplicate name {short(d.name)}: also defined at {first.source}:{first.line}")
        else:
            # What a server may store: names equal in NFC are one name (model.name_key), and so are names
            # that differ only in compatibility forms or runs of spaces (model.loose_name_key): two such
            # files would create two workflows a normalising server holds under one name.
            form = loose_name_key(name_key(normalise_text(d.name)))
            first = seen_forms.setdefault(form, d)
            if first is not d:
                yield Problem(d.source, d.line, f"name {short(d.name)} is the same as {short(first.name)} after "
                              f"normalisation (Unicode NFC and compatibility forms, spaces folded): also defined at "
                              f"{first.source}:{first.line}")
        if d.id is not None:
            first = seen_ids.setdefault(d.id, d)
            if first is not d:
                yield Problem(d.source, d.key_lines.get("id", d.line),
                              f"duplicate id {_clip(d.id)}: also pinned at {first.source}:{first.line}")
        if scope is not None and not scope.contains(d.name):
            yield Problem(d.source, d.line, f"{short(d.name)} is outside this repo's ownership scope ({scope.describe()})")
    yield from previous_name_problems(definitions)


def read_text(path: Path | str, *, regular: bool = False) -> str:
    """The file's text, or ValueError/OSError with a sentence a person can act on (``yamlfile.read_text``:
    only a regular file is opened, bounded to MAX_FILE_BYTES, decoded strictly)."""
    return yamlfile.read_text(path, max_bytes=MAX_FILE_BYTES, regular=regular)


def load_file(path: Path | str, *, env: str | None = None, source: str | None = None,
              regular: bool = False) -> tuple[list[Definition], list[Problem]]:
    """The definitions of one file and the problems found in it (``source``: its display path, when known;
    ``regular``: discovery found a regular file there)."""
    source = display_path(path) if source is None else source
    try:
        text = read_text(path, regular=regular)
    except (OSError, ValueError) as exc:
        return [], [Problem(source, 0, _reason(exc))]
    definitions: list[Definition] = []
    problems: list[Problem] = []
    for doc in yamlfile.documents(text, _RULES):
        if doc.problems:
            problems.extend(Problem(source, line, message) for line, message in doc.problems)
            continue
        d, doc_problems = _definition(doc.data, source, doc.line, doc.lines, env)
        problems.extend(doc_problems)
        if d is not None:
            definitions.append(d)
    return definitions, problems


def _line_of(lines: dict[tuple, int], path: Sequence, default: int) -> int:
    return line_of(lines, path, default)


# Text checked character by character in Python (_text_problem), so the schema's pattern for it is not repeated.
_TEXT_FIELDS = {"name": False, "description": True, "message": True}  # field -> newline and tab allowed


def _text_problem(path: Sequence, value: str, multiline: bool) -> str | None:
    """Control (C0, C1, DEL) and bidi/invisible characters in a name, description or message: named, with offsets."""
    found = unsafe_characters(value)
    if multiline and found:
        found = [(offset, code) for offset, code in found if code not in ("U+000A", "U+0009")]
    return f"{_where(path)}: {_unsafe_sentence(found, multiline)}" if found else None


_OVERRIDE_FIELD = {"description": "environments.description", "message": "environments.message"}


def _text_fields(document: dict) -> Iterator[tuple[tuple, Any, bool]]:
    """(path, value, newline and tab allowed) of every name, description and message, overrides included."""
    for key, multiline in _TEXT_FIELDS.items():
        if key in document:
            yield (key,), document[key], multiline
    environments = document.get("environments")
    if isinstance(environments, dict):
        for env_name, override in environments.items():
            if isinstance(override, dict):
                for key in ("description", "message"):
                    if key in override:
                        yield ("environments", env_name, key), override[key], True


# Every character escaping.unsafe_characters reports: the one set (tests/test_yamlfile.py checks it
# against all of Unicode), less lone surrogates, which text decoded from a UTF-8 file cannot hold.
_TEXT_UNSAFE = "".join(ch for ch in UNSAFE_CHARACTERS if not "\ud800" <= ch <= "\udfff")


@lru_cache(maxsize=1)
def _schema_covers_text() -> frozenset:
    """The text fields (``name``; ``environments.message`` for every override) whose schema pattern
    refuses every character ``_text_problem`` reports, anywhere in the text (newline and tab aside where
    allowed): in a document that passes the schema they cannot hold one, and the character-by-character
    check is skipped. Found from the schema as shipped, once, never assumed. (Python's ``$`` matches
    before a final newline: ``name`` is not covered.)"""
    properties = _schema().schema.get("properties", {})
    defs = _schema().schema.get("$defs", {})
    override = properties.get("environments", {}).get("additionalProperties", {}).get("properties", {})
    fields = [(k, properties.get(k, {}), multiline) for k, multiline in _TEXT_FIELDS.items()]
    fields += [(f"environments.{k}", override.get(k, {}), True) for k in ("description", "message")]
    covered = set()
    for key, schema, multiline in fields:
        if "$ref" in schema:
            schema = defs.get(schema["$ref"].rsplit("/", 1)[-1], {})
        pattern = schema.get("pattern")
        if not isinstance(pattern, str):
            continue
        search = re.compile(pattern).search
        if all(not search(text) for ch in _TEXT_UNSAFE if not (multiline and ch in "\n\t")
               for text in (ch, f"a{ch}", f"{ch}a", f"a{ch}a")):
            covered.add(key)
    return frozenset(covered)


def _is_text_field(path: list) -> bool:
    return (len(path) == 1 and path[0] in _TEXT_FIELDS) or (
        len(path) == 3 and path[0] == "environments" and path[2] in ("description", "message"))


def _name_problem(name: str, pinned: bool) -> str | None:
    """A name with leading or trailing whitespace of any kind is refused unless an id pins it; a blank one always."""
    stripped = name.strip()
    if name and not stripped:
        return f"name: is only whitespace ({', '.join(f'U+{ord(c):04X}' for c in dict.fromkeys(name))})"
    if stripped == name or pinned:
        return None
    parts = []
    if name[0].isspace():
        parts.append(f"leading whitespace (U+{ord(name[0]):04X} at offset 0)")
    if name[-1].isspace():
        parts.append(f"trailing whitespace (U+{ord(name[-1]):04X} at offset {len(name) - 1})")
    return (f"name: {short(name)} has {' and '.join(parts)}; remove it, or pin the remote workflow "
            "with id: to keep such a name")


def _definition(document: Any, source: str, line: int, lines: dict[tuple, int], env: str | None):
    if document is None:
        return None, []
    if not isinstance(document, dict):
        return None, [Problem(source, line, f"a definition must be a mapping of keys, not {_kind(document)}")]
    problems = _document_problems(document, source, line, lines)
    if problems:
        return None, problems
    return _built(document, source, line, lines, env)


def _document_problems(document: dict, source: str, line: int, lines: dict[tuple, int]) -> list[Problem]:
    """The schema's problems, unsafe characters in text, and a name's surrounding white space."""
    flagged: set[tuple] = set()
    schema = _schema()
    certain = schema.passes(document)  # the fast path: no schema errors, and then no unsafe text either

    def explain(error) -> list[tuple[list, str]]:
        path = list(error.absolute_path)
        if error.validator == "pattern" and _is_text_field(path):
            return []  # _text_problem says which character, and where
        if error.validator == "additionalProperties":
            path = path + yamlfile.unknown_keys(error)[:1]
        elif "propertyNames" in error.schema_path:
            path = path + [error.instance]
        flagged.add(tuple(map(str, error.absolute_path)))
        return [(path, _schema_message(error))]

    problems = [] if certain else schema.problems(document, source, lines, line, explain)
    covered = _schema_covers_text() if certain else frozenset()
    for path, value, multiline in _text_fields(document):
        if isinstance(value, str) and (path[0] if len(path) == 1 else _OVERRIDE_FIELD[path[-1]]) not in covered:
            text = _text_problem(path, value, multiline)
            if text is not None:
                flagged.add(tuple(map(str, path)))
                problems.append(Problem(source, _line_of(lines, path, line), text))
    name = document.get("name")
    if isinstance(name, str) and ("name",) not in flagged:
        text = _name_problem(name, document.get("id") is not None)
        if text is not None:
            problems.append(Problem(source, _line_of(lines, ("name",), line), text))
    return problems


def _built(document: dict, source: str, line: int, lines: dict[tuple, int], env: str | None):
    """The Definition of a valid document under ``env``, and its template's problems."""
    environments = document.get("environments")
    fields = dict(document)
    if environments is not None:
        del fields["environments"]
    override = (environments or {}).get(env) if env else None
    if override:
        fields.update(override)
    parameters = fields.get("parameters")
    message = normalise_text(fields["message"])  # what is sent: the API counts this, placeholders and all
    message_line = (_line_of(lines, ("environments", env, "message"), line) if override and "message" in override
                    else lines.get(("message",), line))
    problems = [Problem(source, message_line, text) for text in check_template(message, parameters)]
    # The line of each top-level key, and of each previous name (``previous_names.0``): one pass.
    key_lines = {}
    for path, at in lines.items():
        if len(path) == 1:
            key_lines[str(path[0])] = at
        elif len(path) == 2 and path[0] == "previous_names":
            key_lines[f"previous_names.{path[1]}"] = at
    names = tuple(environments) if isinstance(environments, dict) else ()
    warned = [Problem(source, message_line, text) for text in template_warnings(message)]
    return Definition(fields, source, line, key_lines, names, warned), problems
