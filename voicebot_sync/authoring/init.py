"""What `voicebot-sync init` writes: a repository that works offline.

The schemas go into the user's repository (``schemas/``), with a starter
``voicebot-sync.yaml``, ``workflows/example-reminder.yaml``, the pre-commit hook and the
VS Code ``yaml.schemas`` setting: editors find the schemas without a network and
without this repository. Nothing is overwritten without ``force``; an existing
``.pre-commit-config.yaml`` or ``.vscode/settings.json`` is merged into, never replaced.
"""

from __future__ import annotations

import json
import os
from importlib.resources import files

import yaml

from ..core.schedule import DEFAULT_RATE_LIMIT
from ..text.sinks import write_text
from ..errors import ConfigError, FileError
from ..text.escaping import visible
from .export import MODELINE_PREFIX, SCHEMAS_DIR
from ..state.statedir import STATE_DIR
from .new import (
    CONFIG_FILE,
    EXAMPLE_FILE,
    EXAMPLE_NAME,
    HOOK_ID,
    HOOK_REPO,
    HOOK_REV,
    SCHEMA_FILES,
    VSCODE_SCHEMAS,
    VSCODE_SETTINGS,
    WORKFLOWS_DIR,
    defined_names,
)


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
        "# The built-in emulator (--api-url local) has none: pass --rate-limit to pace it.\n"
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


def _merged_gitignore(path: str) -> str | None:
    """``.gitignore`` with the state folder (journal, ledger, locks, local state) added; None: ignored already.
    A user's own file is added to, never replaced."""
    entry = STATE_DIR + "/"
    text = _read(path) if os.path.isfile(path) else ""
    if any(line.strip().rstrip("/").lstrip("/") == STATE_DIR for line in text.splitlines()):
        return None
    if text and not text.endswith("\n"):
        text += "\n"
    return text + entry + "\n"


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
    definitions), ``.pre-commit-config.yaml``, ``.vscode/settings.json`` and ``.gitignore`` (the state
    folder). Nothing is written when a
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

    def add_or_merge(name: str, merge, fresh: str) -> None:
        """A file the user may have already: ours merged into theirs (None: nothing to add), else ours."""
        path = os.path.join(root, name)
        if not os.path.isfile(path):
            add(name, fresh)
        elif (merged := merge(_read(path), name)) is not None:
            plan.append((name, merged))

    add_or_merge(".pre-commit-config.yaml", _merged_pre_commit, _pre_commit_text())
    add_or_merge(VSCODE_SETTINGS, _merged_vscode, json.dumps({"yaml.schemas": VSCODE_SCHEMAS}, indent=2) + "\n")

    gitignore = _merged_gitignore(os.path.join(root, ".gitignore"))
    if gitignore is not None:
        plan.append((".gitignore", gitignore))

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
