"""Renames keep their id (issue 20): previous_names over HTTP, the rename hint, and what validate refuses."""

import json

from click.testing import CliRunner

from voicebot_sync.cli import main
from voicebot_sync.emulator import Emulator, running

from conftest import write_workflow

MESSAGE = "Hello [name], see you on [date]."


def _plan_json(runner, *args):
    result = runner.invoke(main, ["plan", "--format", "json", *args])
    assert result.exception is None or result.exit_code in (0, 2), result.stderr
    return json.loads(result.stdout)


def test_a_rename_by_previous_names_keeps_the_id_in_two_environments_with_one_put_each(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    staging, production = Emulator(api_keys=["k-s"]), Emulator(api_keys=["k-p"])
    s_id = staging.add_workflow(name="Old name", message=MESSAGE)["id"]
    p_id = production.add_workflow(name="Old name", message=MESSAGE)["id"]
    # The same file serves both accounts: no id, no per-environment override.
    write_workflow(tmp_path / "workflows", "New name", MESSAGE, previous_names='["Old name"]')
    with running(staging) as s_url, running(production) as p_url:
        (tmp_path / "voicebot-sync.yaml").write_text(
            "rate_limit: 'off'\nenvironments:\n"
            f"  staging: {{api_url: '{s_url}', api_key_env: S_KEY}}\n"
            f"  production: {{api_url: '{p_url}', api_key_env: P_KEY}}\n")
        env = {"S_KEY": "k-s", "P_KEY": "k-p"}
        runner = CliRunner()
        plan = runner.invoke(main, ["plan", "--all-environments", "--format", "json"], env=env)
        assert plan.exception is None, plan.stderr
        applied = runner.invoke(main, ["apply", "--all-environments", "--yes"], env=env)
        assert applied.exit_code == 0, applied.stderr
        again = runner.invoke(main, ["plan", "--all-environments", "--detailed-exitcode"], env=env)
    for doc in json.loads(plan.stdout)["environments"].values():
        (change,) = doc["changes"]
        assert change["action"] == "update" and change["before"] == {"name": "Old name"}
        assert change["after"] == {"name": "New name"} and doc["requests"] == 2
        assert any("renamed in place" in n for n in doc["notes"])
    for emulator, wid in ((staging, s_id), (production, p_id)):
        assert [(w["id"], w["name"]) for w in emulator.workflows] == [(wid, "New name")]
        assert "previous_names" not in emulator.workflows[0]  # local only, never sent
        # The list, then one PUT: never a create and a delete.
        assert emulator.stats["writes"] == 1
    assert again.exit_code == 0, again.stdout  # converged: the previous name is now inert


def test_the_current_name_wins_over_a_previous_one(tmp_path, monkeypatch, api, emulator):
    monkeypatch.chdir(tmp_path)
    emulator.add_workflow(name="Old name", message=MESSAGE)
    current = emulator.add_workflow(name="New name", message=MESSAGE)["id"]
    write_workflow(tmp_path / "workflows", "New name", MESSAGE, previous_names='["Old name"]')
    doc = _plan_json(CliRunner())
    assert doc["changes"] == [] and doc["unmanaged"][0]["name"] == "Old name"
    assert doc["summary"]["unchanged"] == 1 and current not in json.dumps(doc["unmanaged"])


def test_a_previous_name_matches_through_unicode_nfc(tmp_path, monkeypatch, api, emulator):
    monkeypatch.chdir(tmp_path)
    wid = emulator.add_workflow(name="Cafe\u0301 hours", message=MESSAGE)["id"]  # decomposed é on the server
    write_workflow(tmp_path / "workflows", "Opening hours", MESSAGE, filename="o.yaml",
                   previous_names='["Caf\u00e9 hours"]')
    (change,) = _plan_json(CliRunner())["changes"]
    assert (change["action"], change["id"], change["before"]["name"]) == ("update", wid, "Cafe\u0301 hours")


def test_two_previous_names_on_two_remote_workflows_is_an_error_naming_both_ids(tmp_path, monkeypatch, api, emulator):
    monkeypatch.chdir(tmp_path)
    a = emulator.add_workflow(name="Old A", message=MESSAGE)["id"]
    b = emulator.add_workflow(name="Old B", message=MESSAGE)["id"]
    write_workflow(tmp_path / "workflows", "New", MESSAGE, previous_names='["Old A", "Old B"]')
    result = CliRunner().invoke(main, ["plan"])
    assert result.exit_code == 1 and result.exception is not None
    assert a in result.stderr and b in result.stderr and "workflows/new.yaml:1:" in result.stderr
    assert "Traceback" not in result.stderr


def test_a_create_beside_an_unmanaged_twin_says_it_looks_like_a_rename(tmp_path, monkeypatch, api, emulator):
    monkeypatch.chdir(tmp_path)
    wid = emulator.add_workflow(name="Old name", message=MESSAGE)["id"]
    emulator.add_workflow(name="Unrelated", message="Something else [name]")
    write_workflow(tmp_path / "workflows", "New name", MESSAGE)
    runner = CliRunner()
    doc = _plan_json(runner)
    (hint,) = [n for n in doc["notes"] if "looks like a rename" in n]
    assert "'Old name'" in hint and wid in hint and 'previous_names: ["Old name"]' in hint
    assert "workflows/new-name.yaml" in hint and "left unmanaged" in hint
    text = runner.invoke(main, ["plan"])
    assert "this looks like a rename" in text.stdout and 'previous_names: ["Old name"]' in text.stdout
    markdown = runner.invoke(main, ["plan", "--format", "markdown"])
    assert "this looks like a rename" in markdown.stdout
    pruned = _plan_json(runner, "--prune")
    assert any("deleted by --prune" in n for n in pruned["notes"])


def test_no_rename_hint_when_the_message_or_the_type_differs(tmp_path, monkeypatch, api, emulator):
    monkeypatch.chdir(tmp_path)
    emulator.add_workflow(name="Old name", message=MESSAGE, workflow_type="CONVERSATION")
    write_workflow(tmp_path / "workflows", "New name", MESSAGE)
    write_workflow(tmp_path / "workflows", "Other", "Hi [name]")
    doc = _plan_json(CliRunner())
    assert not [n for n in doc["notes"] if "looks like a rename" in n]


def test_validate_refuses_a_previous_name_that_is_a_current_name(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    d = tmp_path / "workflows"
    write_workflow(d, "New", MESSAGE, previous_names='["New"]')
    write_workflow(d, "Other", MESSAGE, previous_names="\n  - Gone\n  - Third")
    write_workflow(d, "Third", MESSAGE)
    write_workflow(d, "Fourth", MESSAGE, previous_names='["Gone"]')
    result = CliRunner().invoke(main, ["validate"])
    assert result.exit_code == 1 and "Traceback" not in result.stderr
    assert "workflows/new.yaml:4: previous_names: 'New' is this workflow's own name" in result.stderr
    assert ("workflows/other.yaml:6: previous_names: 'Third' is the name of the workflow defined at "
            "workflows/third.yaml:1") in result.stderr
    assert "workflows/other.yaml:5: previous_names: 'Gone' is also a previous name of 'Fourth'" in result.stderr


def test_previous_names_must_be_a_list_of_names(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    write_workflow(tmp_path / "workflows", "New", MESSAGE, previous_names="Old")
    result = CliRunner().invoke(main, ["validate"])
    assert result.exit_code == 1
    assert "workflows/new.yaml:4: previous_names: must be a list, not text" in result.stderr
