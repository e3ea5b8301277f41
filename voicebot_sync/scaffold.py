"""Starting points that work offline: a repository laid out by `init`, a definition written by `new`.

* ``init_repo`` writes the schemas into the user's repository (``schemas/``), a starter
  ``voicebot-sync.yaml``, ``workflows/example-reminder.yaml``, the pre-commit hook and the VS Code
  ``yaml.schemas`` setting: editors find the schemas without a network and without this repository.
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
from importlib.resources import files
from typing import Collection, Mapping

import yaml

from .doors import write_text
from .durations import DEFAULT_RATE_LIMIT
from .errors import ConfigError, FileError
from .escaping import short, unsafe_characters, visible
from .export import MODELINE_PREFIX, SCHEMAS_DIR, modeline_for, schema_id, slugify, with_modelines

__all__ = [
    "init_repo", "new_definition", "modeline_for", "with_modelines", "schema_id", "slugify",
    "skeleton_text", "defined_names", "name_key", "file_name_for",
    "HOOK_REPO", "HOOK_REV", "HOOK_ID", "WORKFLOW_TYPES",
]

HOOK_REPO = "https://github.com/voicebot-sync/voicebot-sync"
HOOK_REV = "v0.1.0"
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
    from .definitions import discover_with_notes, display_path, read_text

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
    """A definition that passes validate: ``name`` written so that YAML reads it back exactly."""
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
        "  Hello [name], this is a message from your clinic about [topic].\n"
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
    from .definitions import load_file

    with tempfile.TemporaryDirectory(prefix="voicebot-sync-new-") as scratch:
        path = os.path.join(scratch, "skeleton.yaml")
        with open(path, "w", encoding="utf-8", newline="") as fh:
            fh.write(text)
        definitions, problems = load_file(path, source="skeleton")
    if not problems and len(definitions) != 1:  # pragma: no cover - the skeleton is one mapping
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


# --------------------------------------------------------------------------- init


def _packaged_schema(file_name: str) -> str:
    return files("voicebot_sync").joinpath("schemas", file_name).read_text(encoding="utf-8")


def _config_text() -> str:
    return (
        f"{MODELINE_PREFIX}{SCHEMAS_DIR}/config.schema.json\n"
        "# voicebot-sync settings. `voicebot-sync config` shows what is in effect and where each value came from.\n"
        "# Precedence: command line > environment variables > the selected environment below > this file > defaults.\n"
        "# The API key never belongs in this file: export VOICEBOT_API_KEY, or name another variable with api_key_env.\n"
        "\n"
        "# Where the definitions live, relative to this file (a directory, or a list of them).\n"
        f"workflows_dir: {WORKFLOWS_DIR}\n"
        "\n"
        "# The API's quota per key: COUNT/DURATION[,...] with DURATION in s, m or h, or off.\n"
        f"rate_limit: {DEFAULT_RATE_LIMIT}\n"
        "\n"
        "# Delete remote workflows that no definition matches (like --prune). Leave it off until every\n"
        "# workflow you keep is defined here (`voicebot-sync export` writes the ones that exist).\n"
        "prune: false\n"
        "\n"
        "# Named environments, selected with --env NAME or VOICEBOT_ENV; each overrides the settings above.\n"
        "# environments:\n"
        "#   staging:\n"
        "#     api_key_env: VOICEBOT_STAGING_KEY\n"
        "#   production:\n"
        "#     api_key_env: VOICEBOT_PROD_KEY\n"
    )


def _example_text(modeline: str) -> str:
    return (
        f"{modeline}\n"
        "# An example to start from: `voicebot-sync validate` checks it, `voicebot-sync render FILE` fills it in.\n"
        "# `apply` creates it on the remote: rename it, or delete this file, before the first apply.\n"
        f"name: {EXAMPLE_NAME}\n"
        "description: Day-before appointment reminder.\n"
        "workflow_type: ROBOCALL\n"
        "message: |\n"
        "  Hello [name], this is your clinic. Your appointment is on [date] at [time].\n"
        "  Press 1 to confirm, or 2 to ask for another time.\n"
        "parameters:\n"
        "  name:\n"
        "    description: The patient's first name.\n"
        "    max_length: 40\n"
        "    example: Ada\n"
        "  date:\n"
        "    max_length: 20\n"
        "    example: Monday 3 March\n"
        "  time:\n"
        "    max_length: 8\n"
        "    example: \"10:30\"\n"
        "include_reply: true\n"
        "response_options:\n"
        "  \"1\": Confirm\n"
        "  \"2\": Reschedule\n"
    )


def _hook_entry_text(indent: int = 2) -> str:
    pad = " " * indent
    return (
        f"{pad}- repo: {HOOK_REPO}\n"
        f"{pad}  rev: {HOOK_REV}\n"
        f"{pad}  hooks:\n"
        f"{pad}    - id: {HOOK_ID}\n"
    )


def _pre_commit_text() -> str:
    return (
        "# pre-commit (https://pre-commit.com): `pre-commit install` once, then every commit that touches\n"
        "# workflows/ or voicebot-sync.yaml is validated offline. Move rev to the release you use.\n"
        "repos:\n" + _hook_entry_text()
    )


def _hook_entry() -> dict:
    return {"repo": HOOK_REPO, "rev": HOOK_REV, "hooks": [{"id": HOOK_ID}]}


def _has_hook(data: object) -> bool:
    repos = data.get("repos") if isinstance(data, dict) else None
    return isinstance(repos, list) and any(
        isinstance(r, dict) and any(isinstance(h, dict) and h.get("id") == HOOK_ID for h in r.get("hooks") or [])
        for r in repos)


def _merged_pre_commit(text: str, shown: str) -> str | None:
    """``text`` with our hook added to its ``repos`` (None: it is there already); ConfigError when it cannot be
    added without rewriting the user's file (the message gives what to add)."""
    advice = f"add this to {shown} yourself:\n{_hook_entry_text()}"
    try:
        data = yaml.safe_load(text)
        root = yaml.compose(text, Loader=yaml.SafeLoader)
    except yaml.YAMLError:
        raise ConfigError(f"{shown} is not valid YAML: {advice}") from None
    if _has_hook(data):
        return None
    repos_node = None
    if isinstance(root, yaml.MappingNode):
        repos_node = next((v for k, v in root.value if isinstance(k, yaml.ScalarNode) and k.value == "repos"), None)
    if not (isinstance(data, dict) and isinstance(data.get("repos"), list) and isinstance(repos_node, yaml.SequenceNode)
            and repos_node.value and not repos_node.flow_style):
        raise ConfigError(f"{shown} has no block list of repos to add the hook to: {advice}")
    entry = _hook_entry_text(repos_node.start_mark.column)  # the column of the items' "-"
    end = repos_node.end_mark.index
    # The list ends where the next key (or the file) begins: insert at the start of that line.
    cut = text.rfind("\n", 0, end) + 1 if end < len(text) else len(text)
    head = text[:cut] if text[:cut].endswith("\n") or not text[:cut] else text[:cut] + "\n"
    merged = head + entry + text[cut:]
    try:
        after = yaml.safe_load(merged)
    except yaml.YAMLError:
        after = None
    expected = dict(data, repos=data["repos"] + [_hook_entry()])
    if after != expected:
        raise ConfigError(f"the hook cannot be added to {shown} without rewriting it: {advice}")
    return merged


def _merged_vscode(text: str, shown: str) -> str | None:
    """``text`` (VS Code settings) with our ``yaml.schemas`` entries (None: nothing to change)."""
    try:
        data = json.loads(text) if text.strip() else {}
    except ValueError:
        raise ConfigError(f"{shown} is not plain JSON (comments or trailing commas?): add to it yourself "
                          f"\"yaml.schemas\": {json.dumps(VSCODE_SCHEMAS)}") from None
    if not isinstance(data, dict):
        raise ConfigError(f"{shown} is not a JSON object of settings")
    schemas = data.get("yaml.schemas", {})
    if not isinstance(schemas, dict):
        raise ConfigError(f"{shown}: \"yaml.schemas\" is not an object; add to it yourself {json.dumps(VSCODE_SCHEMAS)}")
    merged = dict(schemas)
    for schema, patterns in VSCODE_SCHEMAS.items():
        have = merged.get(schema)
        have = [have] if isinstance(have, str) else list(have) if isinstance(have, list) else []
        merged[schema] = have + [p for p in patterns if p not in have]
    if merged == schemas:
        return None
    data["yaml.schemas"] = merged
    return json.dumps(data, indent=_json_indent(text), ensure_ascii=False) + "\n"


def _json_indent(text: str) -> int | str:
    for line in text.splitlines()[1:]:
        stripped = line.lstrip(" \t")
        if stripped and stripped != line:
            lead = line[: len(line) - len(stripped)]
            return "\t" if lead.startswith("\t") else len(lead)
    return 2


def _read(path: str) -> str:
    try:
        with open(path, encoding="utf-8") as fh:
            return fh.read()
    except (OSError, UnicodeDecodeError) as exc:
        if isinstance(exc, OSError):
            raise FileError.from_os_error(exc, path) from exc
        raise ConfigError(f"{path} is not UTF-8 text") from None


def init_repo(root: str, *, force: bool = False) -> list[str]:
    """Lay out a repository for voicebot-sync in ``root``; returns the files written, relative to ``root``.

    Writes ``schemas/workflow.schema.json`` and ``schemas/config.schema.json`` (the packaged ones),
    ``voicebot-sync.yaml``, ``workflows/example-reminder.yaml`` (not when ``workflows/`` already holds
    definitions), ``.pre-commit-config.yaml`` and ``.vscode/settings.json``. Nothing is written when a
    file exists already, unless ``force`` (then it is replaced); the two files people keep their own
    settings in are merged instead, never replaced: our ``yaml.schemas`` entries go into
    ``.vscode/settings.json``, our hook into the ``repos`` of ``.pre-commit-config.yaml``."""
    if os.path.exists(root) and not os.path.isdir(root):
        raise ConfigError(f"{visible(root)} is not a directory")
    plan: list[tuple[str, str]] = []  # (relative path, text)
    conflicts: list[str] = []

    def add(relative: str, text: str) -> None:
        path = os.path.join(root, relative)
        if os.path.lexists(path):
            if os.path.isfile(path) and _read(path) == text:
                return  # already as it would be written
            if not force or not os.path.isfile(path):
                conflicts.append(relative)
                return
        plan.append((relative, text))

    for file_name in SCHEMA_FILES:
        add(os.path.join(SCHEMAS_DIR, file_name), _packaged_schema(file_name))
    add(CONFIG_FILE, _config_text())
    workflows = os.path.join(root, WORKFLOWS_DIR)
    example = os.path.join(WORKFLOWS_DIR, EXAMPLE_FILE)
    if not defined_names([workflows]) or os.path.exists(os.path.join(root, example)):
        # The modeline as it will resolve once the schemas are there (they are written first).
        relative = os.path.relpath(os.path.join(root, SCHEMAS_DIR, "workflow.schema.json"), workflows)
        add(example, _example_text(MODELINE_PREFIX + relative.replace(os.sep, "/")))

    pre_commit = ".pre-commit-config.yaml"
    pre_commit_path = os.path.join(root, pre_commit)
    if os.path.isfile(pre_commit_path):
        merged = _merged_pre_commit(_read(pre_commit_path), pre_commit)
        if merged is not None:
            plan.append((pre_commit, merged))
    else:
        add(pre_commit, _pre_commit_text())

    vscode_path = os.path.join(root, VSCODE_SETTINGS)
    if os.path.isfile(vscode_path):
        merged = _merged_vscode(_read(vscode_path), VSCODE_SETTINGS)
        if merged is not None:
            plan.append((VSCODE_SETTINGS, merged))
    else:
        add(VSCODE_SETTINGS, json.dumps({"yaml.schemas": VSCODE_SCHEMAS}, indent=2) + "\n")

    if conflicts:
        listed = ", ".join(visible(c.replace(os.sep, "/")) for c in conflicts)
        raise ConfigError(f"{visible(root)} already has {listed}: nothing was written; "
                          "pass --force to replace them")
    written = []
    for relative, text in plan:
        path = os.path.join(root, relative)
        try:
            os.makedirs(os.path.dirname(path), exist_ok=True)
        except OSError as exc:
            raise FileError.from_os_error(exc, os.path.dirname(path)) from exc
        write_text(path, text, data=True)
        written.append(relative.replace(os.sep, "/"))
    return written
