"""init_repo, new_definition, modelines and slugs: starting points that validate and resolve offline."""

from __future__ import annotations

import json
import os
import pathlib
import unicodedata
from importlib.resources import files

import pytest
import yaml

from voicebot_sync.read.settings import load_config_file
from voicebot_sync.read.definitions import load_definitions
from voicebot_sync.errors import ConfigError
from voicebot_sync.authoring.export import HEADER, to_yaml, write_export
from voicebot_sync.authoring.new import (
    HOOK_ID,
    defined_names,
    modeline_for,
    new_definition,
    schema_id,
    slugify,
    with_modelines,
)
from voicebot_sync.authoring.init import init_repo

PACKAGED = files("voicebot_sync").joinpath("schemas")
ALL_FILES = ["schemas/workflow.schema.json", "schemas/config.schema.json", "voicebot-sync.yaml",
             "workflows/example-reminder.yaml", ".pre-commit-config.yaml", ".vscode/settings.json",
             ".gitignore"]


def modelines(text: str) -> list[str]:
    return [line for line in text.splitlines() if line.startswith("# yaml-language-server: $schema=")]


# --------------------------------------------------------------------------- init


def test_init_writes_every_file_and_they_validate(tmp_path):
    written = init_repo(str(tmp_path))
    assert written == ALL_FILES
    for kind in ("workflow", "config"):
        assert (tmp_path / "schemas" / f"{kind}.schema.json").read_bytes() == \
            PACKAGED.joinpath(f"{kind}.schema.json").read_bytes()
    definitions = load_definitions([str(tmp_path / "workflows")])
    assert [d.name for d in definitions] == ["Example reminder"]
    assert load_config_file(str(tmp_path / "voicebot-sync.yaml")) == {
        "workflows_dir": "workflows", "rate_limit": "6/1m,60/1h", "prune": False}


def test_init_modelines_resolve_to_the_copied_schemas(tmp_path):
    init_repo(str(tmp_path))
    for relative, kind in (("workflows/example-reminder.yaml", "workflow"), ("voicebot-sync.yaml", "config")):
        path = tmp_path / relative
        [line] = modelines(path.read_text(encoding="utf-8"))
        target = line.split("$schema=", 1)[1]
        assert not target.startswith(("http:", "https:", "/"))
        assert (path.parent / target).resolve() == (tmp_path / "schemas" / f"{kind}.schema.json").resolve()


def test_init_config_example_environments_are_valid_when_uncommented(tmp_path):
    init_repo(str(tmp_path))
    text = (tmp_path / "voicebot-sync.yaml").read_text(encoding="utf-8")
    assert "# environments:" in text and "api_key_env" in text
    start = text.index("# environments:")
    uncommented = text[:start] + "\n".join(line[2:] for line in text[start:].splitlines()) + "\n"
    (tmp_path / "voicebot-sync.yaml").write_text(uncommented, encoding="utf-8")
    data = load_config_file(str(tmp_path / "voicebot-sync.yaml"))
    assert {env["api_key_env"] for env in data["environments"].values()} == {"VOICEBOT_STAGING_KEY", "VOICEBOT_PROD_KEY"}


def test_init_pre_commit_uses_the_hook_this_repo_offers(tmp_path):
    hooks = yaml.safe_load(open(os.path.join(os.path.dirname(__file__), "..", ".pre-commit-hooks.yaml"), encoding="utf-8"))
    assert HOOK_ID in [h["id"] for h in hooks]
    init_repo(str(tmp_path))
    config = yaml.safe_load((tmp_path / ".pre-commit-config.yaml").read_text(encoding="utf-8"))
    assert config == {"repos": [{"repo": "https://github.com/voicebot-sync/voicebot-sync", "rev": "v0.1.0",
                                 "hooks": [{"id": HOOK_ID}]}]}


def test_init_vscode_settings_map_the_schemas(tmp_path):
    init_repo(str(tmp_path))
    schemas = json.loads((tmp_path / ".vscode" / "settings.json").read_text(encoding="utf-8"))["yaml.schemas"]
    assert "workflows/**/*.yaml" in schemas["./schemas/workflow.schema.json"]
    assert "voicebot-sync.yaml" in schemas["./schemas/config.schema.json"]
    for schema in schemas:
        assert (tmp_path / schema).is_file()


def test_init_merges_existing_vscode_settings(tmp_path):
    (tmp_path / ".vscode").mkdir()
    settings = tmp_path / ".vscode" / "settings.json"
    settings.write_text(json.dumps({"editor.tabSize": 4, "yaml.schemas": {"other.json": "ci/*.yml",
                                    "./schemas/workflow.schema.json": "extra/*.yaml"}}, indent=4), encoding="utf-8")
    written = init_repo(str(tmp_path))
    assert ".vscode/settings.json" in written
    data = json.loads(settings.read_text(encoding="utf-8"))
    assert data["editor.tabSize"] == 4
    assert data["yaml.schemas"]["other.json"] == "ci/*.yml"
    assert data["yaml.schemas"]["./schemas/workflow.schema.json"] == ["extra/*.yaml", "workflows/**/*.yaml", "workflows/**/*.yml"]
    assert '\n    "editor.tabSize"' in settings.read_text(encoding="utf-8")  # its own indentation kept


def test_init_refuses_vscode_settings_it_cannot_merge(tmp_path):
    (tmp_path / ".vscode").mkdir()
    (tmp_path / ".vscode" / "settings.json").write_text('{\n  // mine\n  "a": 1,\n}\n', encoding="utf-8")
    with pytest.raises(ConfigError, match="not plain JSON"):
        init_repo(str(tmp_path), force=True)
    assert sorted(os.listdir(tmp_path)) == [".vscode"]  # nothing written


def test_init_adds_the_hook_to_an_existing_pre_commit_config(tmp_path):
    config = tmp_path / ".pre-commit-config.yaml"
    config.write_text("repos:\n- repo: local\n  hooks:\n  - {id: x, name: x, entry: x, language: system}\n"
                      "ci:\n  autofix: false\n", encoding="utf-8")
    assert ".pre-commit-config.yaml" in init_repo(str(tmp_path))
    data = yaml.safe_load(config.read_text(encoding="utf-8"))
    assert data["ci"] == {"autofix": False}
    assert [r["repo"] for r in data["repos"]] == ["local", "https://github.com/voicebot-sync/voicebot-sync"]
    assert "- repo: local" in config.read_text(encoding="utf-8")  # the user's text kept


def test_init_leaves_a_pre_commit_config_that_has_the_hook(tmp_path):
    config = tmp_path / ".pre-commit-config.yaml"
    text = f"repos:\n  - repo: https://example.org/fork\n    rev: main\n    hooks: [{{id: {HOOK_ID}}}]\n"
    config.write_text(text, encoding="utf-8")
    assert ".pre-commit-config.yaml" not in init_repo(str(tmp_path))
    assert config.read_text(encoding="utf-8") == text


def test_init_refuses_existing_files_unless_force(tmp_path):
    (tmp_path / "voicebot-sync.yaml").write_text("prune: true\n", encoding="utf-8")
    with pytest.raises(ConfigError, match=r"voicebot-sync\.yaml.*--force"):
        init_repo(str(tmp_path))
    assert sorted(os.listdir(tmp_path)) == ["voicebot-sync.yaml"]  # all or nothing
    assert "voicebot-sync.yaml" in init_repo(str(tmp_path), force=True)
    assert load_config_file(str(tmp_path / "voicebot-sync.yaml"))["prune"] is False


def test_init_twice_writes_nothing_the_second_time(tmp_path):
    init_repo(str(tmp_path))
    assert init_repo(str(tmp_path)) == []


def test_init_adds_no_example_beside_existing_definitions(tmp_path):
    (tmp_path / "workflows").mkdir()
    (tmp_path / "workflows" / "mine.yaml").write_text("name: Mine\nmessage: Hello\n", encoding="utf-8")
    written = init_repo(str(tmp_path))
    assert "workflows/example-reminder.yaml" not in written
    assert [d.name for d in load_definitions([str(tmp_path / "workflows")])] == ["Mine"]


# --------------------------------------------------------------------------- modelines and $id


def test_modeline_is_relative_to_the_repository_schemas(tmp_path):
    (tmp_path / "schemas").mkdir()
    (tmp_path / "schemas" / "workflow.schema.json").write_text("{}", encoding="utf-8")
    assert modeline_for(str(tmp_path / "workflows" / "a.yaml"), str(tmp_path)) == \
        "# yaml-language-server: $schema=../schemas/workflow.schema.json"
    assert modeline_for(str(tmp_path / "workflows" / "deep" / "a.yaml"), str(tmp_path)).endswith(
        "=../../schemas/workflow.schema.json")
    assert modeline_for(str(tmp_path / "top.yaml"), str(tmp_path)).endswith("=schemas/workflow.schema.json")


def test_modeline_falls_back_to_the_schema_id(tmp_path):
    assert modeline_for(str(tmp_path / "workflows" / "a.yaml"), str(tmp_path)) == \
        "# yaml-language-server: $schema=" + schema_id("workflow")
    # A file outside the repository never gets a path that only works on this machine.
    (tmp_path / "repo" / "schemas").mkdir(parents=True)
    (tmp_path / "repo" / "schemas" / "workflow.schema.json").write_text("{}", encoding="utf-8")
    assert modeline_for(str(tmp_path / "elsewhere" / "a.yaml"), str(tmp_path / "repo")).endswith(schema_id("workflow"))


def test_schema_ids_are_consistent():
    ids = {kind: schema_id(kind) for kind in ("workflow", "config")}
    assert ids["workflow"].endswith("/workflow.schema.json") and ids["config"].endswith("/config.schema.json")
    assert ids["workflow"].rsplit("/", 1)[0] == ids["config"].rsplit("/", 1)[0]  # one home for both
    assert HEADER == f"# yaml-language-server: $schema={ids['workflow']}\n"


def test_with_modelines_after_every_document_start():
    modeline = "# yaml-language-server: $schema=../schemas/workflow.schema.json"
    text = "name: a\nmessage: A\n---\nname: b\nmessage: B\n--- # third\nname: c\nmessage: C\n"
    result = with_modelines(text, modeline)
    assert len(modelines(result)) == 3
    lines = result.splitlines()
    assert lines[0] == modeline
    for i, line in enumerate(lines):
        if line.startswith("---"):
            assert lines[i + 1] == modeline
    assert list(yaml.safe_load_all(result)) == list(yaml.safe_load_all(text))
    assert with_modelines(result, modeline) == result  # idempotent


def test_with_modelines_replaces_old_ones_and_leaves_scalars_alone():
    old = "# yaml-language-server: $schema=https://example.org/old.json"
    new = "# yaml-language-server: $schema=schemas/workflow.schema.json"
    text = f"{old}\nname: a\nmessage: |\n  ---\n  {old}\n---\n{old}\nname: b\nmessage: B\n"
    result = with_modelines(text, new)
    assert list(yaml.safe_load_all(result)) == list(yaml.safe_load_all(text))
    assert modelines(result) == [new, new]


def test_with_modelines_explicit_first_document_and_content_on_the_marker():
    modeline = "# yaml-language-server: $schema=s.json"
    text = "---\nname: a\n--- {name: b}\n"
    result = with_modelines(text, modeline)
    assert result == f"---\n{modeline}\nname: a\n---\n{modeline}\n{{name: b}}\n"
    assert list(yaml.safe_load_all(result)) == list(yaml.safe_load_all(text))


def test_multi_document_file_with_modelines_validates(tmp_path):
    modeline = modeline_for(str(tmp_path / "w" / "x.yaml"), str(tmp_path))
    text = "name: One\nmessage: Hello\n---\nname: Two\nmessage: Bye\n"
    (tmp_path / "w").mkdir()
    (tmp_path / "w" / "x.yaml").write_text(with_modelines(text, modeline), encoding="utf-8")
    assert [d.name for d in load_definitions([str(tmp_path / "w")])] == ["One", "Two"]


def test_export_modeline_relative_to_the_cwd_schemas(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    remote = [{"id": "1", "name": "Reminder", "message": "Hi", "workflow_type": "ROBOCALL"}]
    [(path, _)] = write_export(remote, "out")
    assert modelines(open(path, encoding="utf-8").read()) == [HEADER.rstrip("\n")]  # no schemas/ here
    init_repo(str(tmp_path))
    [(path, _)] = write_export(remote, "exported")
    assert modelines(open(path, encoding="utf-8").read()) == [
        "# yaml-language-server: $schema=../schemas/workflow.schema.json"]
    assert to_yaml(remote[0], modeline="# m").startswith("# m\nname: Reminder\n")


# --------------------------------------------------------------------------- slugs


@pytest.mark.parametrize("name, slug", [
    ("Lab results – ready!", "lab-results-ready"),
    ("Напоминание о приёме", "напоминание-о-приёме"),
    ("予約リマインダー", "予約リマインダー"),
    ("Café", "café"),
    ("Cafe\u0301", "café"),  # NFC
    ("STRASSE", "strasse"),
    ("Bob's call", "bobs-call"),
    ("a/b\\c:d", "a-b-c-d"),
    ("🎉🎉", "workflow"),
    ("", "workflow"),
    ("CON", "con-workflow"),
    ("تذكير الموعد", "تذكير-الموعد"),
])
def test_slugify_keeps_letters_of_every_script(name, slug):
    assert slugify(name) == slug


@pytest.mark.parametrize("name", ["x" * 300, "𠀀" * 120, "予" * 100, "a\x00b\nc\u202ed/e\\f"])
def test_slugify_is_safe_for_file_systems(name):
    slug = slugify(name)
    assert 0 < len(slug) <= 80 and len((slug + "-99.yaml").encode("utf-8")) <= 255
    assert not any(ch in slug for ch in "/\\\x00") and slug.isprintable()
    assert slug == slug.casefold() and unicodedata.is_normalized("NFC", slug)


# --------------------------------------------------------------------------- new


NAMES = {
    "latin": ("Appointment reminder", "appointment-reminder.yaml"),
    "cyrillic": ("Напоминание", "напоминание.yaml"),
    "cjk": ("予約リマインダー", "予約リマインダー.yaml"),
    "emoji": ("🎉 Birthday call", "birthday-call.yaml"),
    "quotes and colons": ('He said "yes": it\'s #1 - ok', "he-said-yes-its-1-ok.yaml"),
    "yaml words": ("yes", "yes.yaml"),
}


def written(directory) -> list[str]:
    """A skeleton's message written (validate refuses it until then, issue 18): the directory, for load_definitions."""
    from voicebot_sync.core.template import SKELETON_MARK

    for path in pathlib.Path(directory).rglob("*.yaml"):
        path.write_text(path.read_text(encoding="utf-8").replace(SKELETON_MARK + " ", ""), encoding="utf-8")
    return [str(directory)]


@pytest.mark.parametrize("kind", list(NAMES))
def test_new_writes_a_skeleton_that_validates_once_its_message_is_written(tmp_path, kind):
    name, file_name = NAMES[kind]
    directory = str(tmp_path / "workflows")
    path = new_definition(name, directory, "ROBOCALL", set())
    assert os.path.basename(path) == file_name
    [definition] = load_definitions(written(directory))
    assert definition.name == name and definition.fields["workflow_type"] == "ROBOCALL"


def test_new_all_names_side_by_side_validate(tmp_path):
    directory = str(tmp_path / "workflows")
    for name, _ in NAMES.values():
        new_definition(name, directory, "CONVERSATION", set(defined_names([directory])))
    assert sorted(d.name for d in load_definitions(written(directory))) == sorted(n for n, _ in NAMES.values())


def test_new_numbers_a_file_name_only_when_taken(tmp_path):
    directory = tmp_path / "workflows"
    first = new_definition("🎉", str(directory), "ROBOCALL", set())
    second = new_definition("🎈", str(directory), "ROBOCALL", set())
    assert (os.path.basename(first), os.path.basename(second)) == ("workflow.yaml", "workflow-2.yaml")
    (directory / "reminder.yml").write_text("name: Other\nmessage: Hi\n", encoding="utf-8")
    assert os.path.basename(new_definition("Reminder", str(directory), "ROBOCALL", set())) == "reminder-2.yaml"
    assert len(load_definitions(written(directory))) == 4


@pytest.mark.parametrize("name", ["", "   ", "\t"])
def test_new_refuses_an_empty_name(tmp_path, name):
    with pytest.raises(ConfigError, match="needs a name"):
        new_definition(name, str(tmp_path / "w"), "ROBOCALL", set())
    assert not (tmp_path / "w").exists()


@pytest.mark.parametrize("name", ["a\u202eb", "line\nbreak", "nul\x00", "zero\u200bwidth", "bell\x07"])
def test_new_refuses_control_and_bidi_characters(tmp_path, name):
    with pytest.raises(ConfigError, match="control or invisible/bidi"):
        new_definition(name, str(tmp_path / "w"), "ROBOCALL", set())


def test_new_refuses_surrounding_whitespace_and_long_names(tmp_path):
    with pytest.raises(ConfigError, match="leading or trailing whitespace"):
        new_definition("Reminder ", str(tmp_path), "ROBOCALL", set())
    with pytest.raises(ConfigError, match="limit is 255"):
        new_definition("x" * 256, str(tmp_path), "ROBOCALL", set())
    with pytest.raises(ConfigError, match="workflow type"):
        new_definition("Fine", str(tmp_path), "SMS", set())


def test_new_refuses_a_name_already_defined_and_says_where(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    new_definition("Appointment reminder", "workflows", "ROBOCALL", set())
    with pytest.raises(ConfigError, match=r"already defined at workflows/appointment-reminder\.yaml:2"):
        new_definition("Appointment reminder", "workflows", "ROBOCALL", set())
    with pytest.raises(ConfigError, match=r"same name as 'Appointment reminder'.*appointment-reminder\.yaml:2"):
        new_definition("APPOINTMENT Reminder", "workflows", "ROBOCALL", set())
    # Names defined elsewhere (the other workflows_dir of the config), given by the caller.
    with pytest.raises(ConfigError, match=r"already defined at other/x\.yaml:7"):
        new_definition("Elsewhere", "workflows", "ROBOCALL", {"Elsewhere": "other/x.yaml:7"})
    with pytest.raises(ConfigError, match="already defined"):
        new_definition("Elsewhere", "workflows", "ROBOCALL", {"Elsewhere"})
    assert len(load_definitions(written("workflows"))) == 1


def test_new_refuses_a_name_equal_after_nfc(tmp_path):
    new_definition("Caf\u00e9", str(tmp_path), "ROBOCALL", set())
    with pytest.raises(ConfigError, match="Unicode normalisation"):
        new_definition("Cafe\u0301", str(tmp_path), "ROBOCALL", set())


def test_new_sees_names_in_files_that_do_not_validate(tmp_path):
    (tmp_path / "broken.yaml").write_text("name: Half done\n", encoding="utf-8")  # no message yet
    with pytest.raises(ConfigError, match=r"already defined at .*broken\.yaml:1"):
        new_definition("Half done", str(tmp_path), "ROBOCALL", set())


def test_new_modeline_relative_to_the_repository(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    init_repo(".")
    path = new_definition("Напоминание", os.path.join("workflows", "clinic"), "ROBOCALL", set())
    [line] = modelines(open(path, encoding="utf-8").read())
    assert line.endswith("=../../schemas/workflow.schema.json")
    assert len(load_definitions(written("workflows"))) == 2


def test_new_refuses_a_file_as_directory(tmp_path):
    (tmp_path / "f").write_text("", encoding="utf-8")
    with pytest.raises(ConfigError, match="not a directory"):
        new_definition("Reminder", str(tmp_path / "f"), "ROBOCALL", set())
