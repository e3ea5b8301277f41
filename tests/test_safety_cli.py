"""Guards, ownership, environments, drift and the authoring commands, through the CLI."""

import json
import re

from voicebot_sync.cli import main

from conftest import KEY, write_workflow


def invoke(runner, *args):
    result = runner.invoke(main, [str(a) for a in args])
    assert result.exception is None or isinstance(result.exception, SystemExit), result.exception
    assert KEY not in result.output + result.stderr
    return result


def writes(emulator):
    return emulator.stats["writes"]


def seed(emulator, count, prefix="W"):
    for i in range(count):
        emulator.add_workflow(name=f"{prefix}{i:02}", message="m")


# -- guards ----------------------------------------------------------------------


def test_deleting_over_30_percent_is_refused_and_nothing_is_written(runner, api, emulator, tmp_path):
    seed(emulator, 10)
    d = tmp_path / "wf"
    for i in range(6):  # keep 6 of 10: 4 deletes = 40%
        write_workflow(d, f"W{i:02}", "m")
    result = invoke(runner, "apply", d, "--prune", "--yes")
    assert result.exit_code == 1
    assert "refusing to delete 4 of 10 remote workflows: 40.00% is over the 30.00% threshold" in result.stderr
    assert "--force" in result.stderr and writes(emulator) == 0
    forced = invoke(runner, "apply", d, "--prune", "--yes", "--force")
    assert forced.exit_code == 0 and len(emulator.workflows) == 6


def test_exactly_at_the_threshold_applies(runner, api, emulator, tmp_path):
    seed(emulator, 10)
    d = tmp_path / "wf"
    for i in range(7):
        write_workflow(d, f"W{i:02}", "m")
    assert invoke(runner, "apply", d, "--prune", "--yes").exit_code == 0


def test_updating_over_half_is_refused(runner, api, emulator, tmp_path):
    seed(emulator, 10)
    d = tmp_path / "wf"
    for i in range(10):
        write_workflow(d, f"W{i:02}", "new" if i < 6 else "m")
    result = invoke(runner, "apply", d, "--yes")
    assert result.exit_code == 1 and "refusing to update 6 of 10" in result.stderr and writes(emulator) == 0


def test_thresholds_from_the_config_file(runner, api, emulator, tmp_path, monkeypatch):
    seed(emulator, 4)
    d = tmp_path / "wf"
    for i in range(3):
        write_workflow(d, f"W{i:02}", "m")
    (tmp_path / "voicebot-sync.yaml").write_text("guards: {max_delete_share: 20%, min_existing: 2}\n")
    monkeypatch.chdir(tmp_path)
    result = invoke(runner, "apply", d, "--prune", "--yes")
    assert result.exit_code == 1 and "25.00% is over the 20.00% threshold" in result.stderr


def test_prune_with_no_definitions_is_refused_even_with_force(runner, api, emulator, tmp_path):
    seed(emulator, 3)
    empty = tmp_path / "empty"
    empty.mkdir()
    result = invoke(runner, "apply", empty, "--prune", "--yes", "--force")
    assert result.exit_code == 1
    assert f"no definitions found in {empty}: refusing to delete 3 remote workflows" in result.stderr
    assert writes(emulator) == 0


# -- ownership -------------------------------------------------------------------


def test_workflows_outside_the_scope_are_neither_compared_nor_pruned(runner, api, emulator, tmp_path, monkeypatch):
    emulator.add_workflow(name="team-a/reminder", message="old")
    emulator.add_workflow(name="team-a/stale", message="m")
    emulator.add_workflow(name="team-b/reminder", message="theirs")
    d = tmp_path / "wf"
    write_workflow(d, "team-a/reminder", "new", filename="a.yaml")
    (tmp_path / "voicebot-sync.yaml").write_text('workflows_dir: wf\nowns: {prefix: "team-a/"}\n')
    monkeypatch.chdir(tmp_path)
    plan = json.loads(invoke(runner, "plan", "--prune", "--format", "json").stdout)
    assert [(c["action"], c["name"]) for c in plan["changes"]] == [("update", "team-a/reminder"), ("delete", "team-a/stale")]
    assert plan["unmanaged"] == []
    assert invoke(runner, "apply", "--prune", "--yes").exit_code == 0
    assert sorted(w["name"] for w in emulator.workflows) == ["team-a/reminder", "team-b/reminder"]


def test_a_definition_outside_its_own_scope_is_a_validation_error(runner, tmp_path, monkeypatch):
    d = tmp_path / "wf"
    write_workflow(d, "team-b/x", "m", filename="x.yaml")
    (tmp_path / "voicebot-sync.yaml").write_text('workflows_dir: wf\nowns: {names: ["team-a/only"]}\n')
    monkeypatch.chdir(tmp_path)
    result = invoke(runner, "validate")
    assert result.exit_code == 1 and "outside this repo's ownership scope (1 listed name)" in result.stderr


# -- environments ----------------------------------------------------------------


def test_environment_overrides_reach_the_plan(runner, api, tmp_path, monkeypatch):
    d = tmp_path / "wf"
    d.mkdir()
    (d / "a.yaml").write_text("name: A\nmessage: Hello\nenvironments:\n  staging:\n    message: Hello from staging\n")
    (tmp_path / "voicebot-sync.yaml").write_text("workflows_dir: wf\nenvironments:\n  staging: {}\n  production: {}\n")
    monkeypatch.chdir(tmp_path)
    staged = json.loads(invoke(runner, "plan", "--env", "staging", "--format", "json").stdout)
    assert staged["changes"][0]["after"]["message"] == "Hello from staging"
    monkeypatch.setenv("VOICEBOT_ENV", "production")
    prod = json.loads(invoke(runner, "plan", "--format", "json").stdout)
    assert prod["changes"][0]["after"]["message"] == "Hello"


def test_config_command_shows_sources_and_never_the_key(runner, tmp_path, monkeypatch):
    (tmp_path / "voicebot-sync.yaml").write_text("rate_limit: 3/1m\nenvironments:\n  staging: {api_key_env: STAGING_KEY}\n")
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("STAGING_KEY", KEY)
    out = invoke(runner, "config", "--env", "staging").stdout
    assert re.search(r"^rate_limit +3/1m  \(config file\)$", out, re.M)
    assert re.search(r"^api_key +set \(from STAGING_KEY\)", out, re.M)


# -- drift -----------------------------------------------------------------------


def test_drift_reports_fields_changed_outside_git(runner, api, emulator, workflows, tmp_path):
    assert invoke(runner, "apply", workflows, "--yes").exit_code == 0
    assert invoke(runner, "drift", workflows).exit_code == 0
    target = next(w for w in emulator.workflows if w["name"] == "Refill ready")
    emulator.handle("PUT", f"/voicebot/v1/workflows/{target['id']}", {"Authorization": f"Bearer {KEY}"},
                    json.dumps({"message": "Edited in the dashboard"}).encode())
    emulator.add_workflow(name="Made by hand", message="m")
    text = invoke(runner, "drift", workflows)
    assert text.exit_code == 2
    assert '~ "Refill ready"' in text.stdout and 'remote "Edited in the dashboard"' in text.stdout
    assert '? "Made by hand"' in text.stdout
    data = json.loads(invoke(runner, "drift", workflows, "--format", "json").stdout)
    assert data["drift"] and data["differs"][0]["fields"]["message"]["remote"] == "Edited in the dashboard"
    md = invoke(runner, "drift", workflows, "--format", "markdown", "--out", tmp_path / "issue.md")
    assert "| Refill ready" in md.stdout and (tmp_path / "issue.md").read_text() == md.stdout


# -- authoring -------------------------------------------------------------------


def test_render_uses_examples_and_set_and_counts(runner, tmp_path):
    d = tmp_path / "wf"
    d.mkdir()
    (d / "a.yaml").write_text(
        "name: A\nmessage: Hi [name], see you [date].\nparameters:\n  name: {example: Ada}\n  date: {example: Monday}\n"
    )
    result = invoke(runner, "render", d / "a.yaml", "--set", "date=Friday")
    assert result.stdout == "Hi Ada, see you Friday.\n" and "23 characters (limit 1000)" in result.stderr
    long = invoke(runner, "render", d / "a.yaml", "--set", "name=" + "x" * 1000)
    assert long.exit_code == 1 and "filled-in message is 1020 characters; the limit is 1000" in long.stderr


def test_render_names_a_missing_value(runner, tmp_path):
    (tmp_path / "a.yaml").write_text("name: A\nmessage: Hi [name]\n")
    result = invoke(runner, "render", tmp_path / "a.yaml")
    assert result.exit_code == 1 and "no value for [name]" in result.stderr


def test_new_writes_a_skeleton_that_validates_once_its_message_is_written(runner, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    assert invoke(runner, "new", "Flu shot reminder").stdout.startswith("wrote workflows/flu-shot-reminder.yaml")
    assert invoke(runner, "validate").exit_code == 1  # not applied unedited (issue 18)
    path = tmp_path / "workflows" / "flu-shot-reminder.yaml"
    path.write_text(path.read_text().replace("EDIT ME: ", ""))
    assert invoke(runner, "validate").exit_code == 0
    again = invoke(runner, "new", "Flu shot reminder")
    assert again.exit_code == 1 and "already defined" in again.stderr


def test_schema_prints_both_schemas(runner):
    assert json.loads(invoke(runner, "schema").stdout)["title"] == "voicebot-sync workflow definition"
    assert "configuration" in json.loads(invoke(runner, "schema", "--config").stdout)["title"]
