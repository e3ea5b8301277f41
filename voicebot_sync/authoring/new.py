"""Starting points that work offline: a repository laid out by `init`, a definition written by `new`.

* ``init_repo`` (in ``starter.py``) lays out a repository that works offline.
* ``new_definition`` writes a skeleton that passes ``validate``, under a file name that keeps the
  name's own letters (``напоминание.yaml``, ``予約リマインダー.yaml``), never beside a duplicate name.
* ``modeline_for`` / ``with_modelines`` (from ``export``): the ``$schema`` modeline, relative to the
  repository's ``schemas/`` when it has one, after every ``---`` of a multi-document file.
"""

from __future__ import annotations

import json
import os
import tempfile
import unicodedata
from typing import Collection, Mapping

import yaml

from ..core.template import SKELETON_MARK
from ..errors import ConfigError, FileError
from ..text.escaping import short, unsafe_characters, visible
from ..core.published import RELEASE_TAG, REPOSITORY_URL
from .export import SCHEMAS_DIR, modeline_for, schema_id, slugify, with_modelines

__all__ = [
    "new_definition", "modeline_for", "with_modelines", "schema_id", "slugify",
    "skeleton_text", "defined_names", "name_key", "file_name_for",
    "HOOK_REPO", "HOOK_REV", "HOOK_ID", "WORKFLOW_TYPES",
]

HOOK_REPO = REPOSITORY_URL  # published.py: the one published name
HOOK_REV = RELEASE_TAG
HOOK_ID = "voicebot-sync-validate"  # .pre-commit-hooks.yaml
WORKFLOW_TYPES = ("ROBOCALL", "CONVERSATION")
MAX_NAME_LENGTH = 255  # workflow.schema.json: name.maxLength
CONFIG_FILE = "voicebot-sync.yaml"
WORKFLOWS_DIR = "workflows"
EXAMPLE_FILE = "example-reminder.yaml"
EXAMPLE_NAME = "Example reminder"
VSCODE_SETTINGS = os.path.join(".vscode", "settings.json")
SCHEMA_FILES = ("workflow.schema.json", "config.schema.json")
# The Red Hat YAML extension resolves a relative schema path against the workspace folder; "./" says so.
VSCODE_SCHEMAS = {
    f"./{SCHEMAS_DIR}/workflow.schema.json": [f"{WORKFLOWS_DIR}/**/*.yaml", f"{WORKFLOWS_DIR}/**/*.yml"],
    f"./{SCHEMAS_DIR}/config.schema.json": ["voicebot-sync.yaml", "voicebot-sync.yml"],
}


# --------------------------------------------------------------------------- names


def name_key(name: str) -> str:
    """What makes two names the same for `new`: Unicode NFC, case folded, surrounding whitespace ignored.

    Stricter than validate (NFC, trailing whitespace): names that differ only in case are
    refused too, since a person reading a list of workflows cannot tell them apart."""
    folded = unicodedata.normalize("NFC", str(name)).strip().casefold()
    return unicodedata.normalize("NFC", folded)


def defined_names(paths: Collection[str]) -> dict[str, str]:
    """Every workflow name defined below ``paths`` -> where (``FILE:LINE``), also in files that do not validate.

    A file that cannot be read or parsed is skipped: validate reports it; here only the names count."""
    from ..read.definitions import discover_with_notes, display_path, read_text

    existing = [p for p in paths if os.path.exists(p)]
    if not existing:
        return {}
    found, _problems, _notes = discover_with_notes(existing)
    names: dict[str, str] = {}
    for path in found:
        try:
            text = read_text(path)
            nodes = list(yaml.compose_all(text, Loader=yaml.SafeLoader))
        except (OSError, ValueError, yaml.YAMLError, RecursionError):
            continue
        for node in nodes:
            if not isinstance(node, yaml.MappingNode):
                continue
            for key, value in node.value:
                if (isinstance(key, yaml.ScalarNode) and key.value == "name" and isinstance(value, yaml.ScalarNode)
                        and value.tag == "tag:yaml.org,2002:str"):
                    names.setdefault(value.value, f"{display_path(path)}:{value.start_mark.line + 1}")
    return names


def _name_problem(name: object) -> str | None:
    """Why ``name`` cannot be a workflow's name (None: it can)."""
    if not isinstance(name, str) or not name.strip():
        return ("a workflow needs a name: give one, such as "
                "voicebot-sync new \"Appointment reminder\"")
    found = unsafe_characters(name)
    if found:
        listed = ", ".join(f"{code} at offset {offset}" for offset, code in found[:5])
        return (f"the name {short(name)} contains control or invisible/bidi characters ({listed}): "
                "type it without them")
    if name != name.strip():
        return (f"the name {short(name)} has leading or trailing whitespace, which validate refuses "
                f"in a new definition: use {short(name.strip())}")
    if len(name) > MAX_NAME_LENGTH:
        return f"the name is {len(name)} characters long; the limit is {MAX_NAME_LENGTH}"
    if any(unicodedata.category(ch) == "Cs" for ch in name):
        return f"the name {short(name)} is not valid Unicode (a lone surrogate): type it again"
    return None


def _duplicate(name: str, existing: Mapping[str, str | None]) -> str | None:
    """The sentence refusing ``name`` when it is (or reads as) a name already defined."""
    key = name_key(name)
    exact = name in existing
    for other, where in ([(name, existing[name])] if exact else existing.items()):
        if other == name or name_key(other) == key:
            at = f" at {visible(where)}" if where else ""
            if other == name:
                return f"a workflow named {short(name)} is already defined{at}: choose another name or edit that file"
            return (f"{short(name)} is the same name as {short(other)} (defined{at or ' already'}) after Unicode "
                    "normalisation and case folding: choose another name or edit that file")
    return None


# --------------------------------------------------------------------------- new


def skeleton_text(name: str, workflow_type: str = "ROBOCALL", modeline: str | None = None) -> str:
    """A definition that passes validate once its message is written (until then its SKELETON_MARK is
    the one problem): ``name`` written so that YAML reads it back exactly."""
    from .export import HEADER

    # PyYAML quotes and escapes as needed ('yes', '#x', 'a: b', "it's", emoji stay as they are).
    name_line = yaml.safe_dump({"name": name}, allow_unicode=True, width=10_000, sort_keys=False)
    if yaml.safe_load(name_line) != {"name": name}:  # pragma: no cover - PyYAML round-trips every str
        name_line = "name: " + json.dumps(name) + "\n"
    header = HEADER if modeline is None else modeline.rstrip("\r\n") + "\n"
    return (
        header
        + name_line
        + "description: What this call is for, in one line.\n"
        f"workflow_type: {workflow_type}\n"
        "message: |\n"
        f"  {SKELETON_MARK} Hello [name], this is a message from your clinic about [topic].\n"
        "parameters:\n"
        "  name:\n"
        "    description: The patient's first name.\n"
        "    max_length: 40\n"
        "    example: Ada\n"
        "  topic:\n"
        "    description: What the call is about.\n"
        "    max_length: 80\n"
        "    example: your appointment on Monday\n"
    )


def _skeleton_problems(text: str) -> list[str]:
    """What validate would say about ``text`` as a file of its own (checked before anything is written)."""
    from ..read.definitions import load_file

    with tempfile.TemporaryDirectory(prefix="voicebot-sync-new-") as scratch:
        path = os.path.join(scratch, "skeleton.yaml")
        with open(path, "w", encoding="utf-8", newline="") as fh:
            fh.write(text)
        definitions, problems = load_file(path, source="skeleton")
    # The mark is meant: the user writes the message. Anything else would be the skeleton's fault.
    problems = [p for p in problems if SKELETON_MARK not in p.message]
    if not problems and len(definitions) > 1:  # pragma: no cover - the skeleton is one mapping
        return ["the skeleton is not one definition"]
    return [p.message for p in problems]


def _taken_stems(directory: str) -> set[str]:
    """Stems of the definition files already in ``directory``, as a case-insensitive file system sees them."""
    try:
        entries = os.listdir(directory)
    except FileNotFoundError:
        return set()
    except OSError as exc:
        raise FileError.from_os_error(exc, directory) from exc
    stems = set()
    for entry in entries:
        stem, ext = os.path.splitext(entry)
        stems.add(name_key(entry))  # a directory or other file of exactly that name
        if ext.lower() in (".yaml", ".yml"):
            stems.add(name_key(stem))
    return stems


def file_name_for(name: str, directory: str) -> str:
    """``<slug>.yaml`` for ``name`` in ``directory``; ``<slug>-2.yaml``, ``-3`` ... only when that is taken."""
    base = slugify(name)
    taken = _taken_stems(directory)
    stem, n = base, 2
    while name_key(stem) in taken or name_key(stem + ".yaml") in taken:
        stem, n = f"{base}-{n}", n + 1
    return stem + ".yaml"


def new_definition(name: str, directory: str, workflow_type: str = "ROBOCALL",
                   existing_names: Collection[str] | Mapping[str, str] = (), *, root: str | None = None) -> str:
    """Write a definition skeleton for ``name`` into ``directory``; returns the path written.

    ``existing_names``: the names already defined (a mapping of name -> ``FILE:LINE`` lets the refusal
    say where; the definitions already in ``directory`` are always looked at too). ``root``: the
    repository whose ``schemas/`` the modeline points at (default: the current directory).

    Raises ConfigError (one line) for an empty or blank name, a name with control or bidi characters
    or surrounding whitespace, a name already defined (exactly, or equal after NFC and case folding),
    an unknown workflow type, and for a skeleton that would not pass validate (saying why)."""
    problem = _name_problem(name)
    if problem:
        raise ConfigError(problem)
    if workflow_type not in WORKFLOW_TYPES:
        raise ConfigError(f"workflow type {short(workflow_type)} is not one of {', '.join(WORKFLOW_TYPES)}")
    if os.path.exists(directory) and not os.path.isdir(directory):
        raise ConfigError(f"{visible(directory)} is not a directory")
    existing: dict[str, str | None] = dict(existing_names) if isinstance(existing_names, Mapping) else dict.fromkeys(existing_names)
    for other, where in defined_names([directory]).items():
        if existing.get(other) is None:
            existing[other] = where
    duplicate = _duplicate(name, existing)
    if duplicate:
        raise ConfigError(duplicate)

    root = os.getcwd() if root is None else root
    file_name = file_name_for(name, directory)
    path = os.path.join(directory, file_name)
    text = skeleton_text(name, workflow_type, modeline_for(path, root))
    problems = _skeleton_problems(text)
    if problems:
        raise ConfigError(f"a skeleton for {short(name)} would not pass validate: {problems[0]}")
    try:
        os.makedirs(directory, exist_ok=True)
        _create(path, text)
    except FileExistsError:  # written by someone else since the listing: take the next number
        return new_definition(name, directory, workflow_type, existing, root=root)
    except OSError as exc:
        raise FileError.from_os_error(exc, path) from exc
    return path


def _create(path: str, text: str) -> None:
    """Write a new file; FileExistsError when there is one (never replaced)."""
    with open(path, "x", encoding="utf-8", newline="\n") as fh:
        try:
            fh.write(text)
        except BaseException:
            fh.close()
            os.unlink(path)
            raise
