"""drift tells "deleted in the dashboard" from "not applied yet" (issue 20), by the record apply keeps."""

import json
import os

import pytest
from click.testing import CliRunner

from voicebot_sync.state.applied import AppliedRecord
from voicebot_sync.cli import main

from conftest import KEY, write_workflow


def _drift(runner, *args):
    return runner.invoke(main, ["drift", *args])


def _record_files():
    folder = os.path.join(os.environ["VOICEBOT_SYNC_STATE_DIR"], "applied")
    return sorted(os.listdir(folder)) if os.path.isdir(folder) else []


def test_drift_tells_a_workflow_deleted_remotely_from_one_never_applied(tmp_path, monkeypatch, api, emulator):
    monkeypatch.chdir(tmp_path)
    write_workflow(tmp_path / "workflows", "Reminder")
    runner = CliRunner()
    assert runner.invoke(main, ["apply", "--yes"]).exit_code == 0
    (created,) = emulator.workflows
    _delete(api, created["id"])  # in the dashboard
    write_workflow(tmp_path / "workflows", "Follow-up")  # added to git, not applied yet
    result = _drift(runner, "--format", "json")
    assert result.exit_code == 2, result.stderr
    doc = json.loads(result.stdout)
    by_name = {m["name"]: m for m in doc["missing"]}
    assert by_name["Reminder"]["applied_here"] is True and by_name["Reminder"]["last_id"] == created["id"]
    assert by_name["Follow-up"]["applied_here"] is False and "last_id" not in by_name["Follow-up"]
    assert doc["applied_record"] == "present" and doc["summary"]["missing_applied_here"] == 1
    text = _drift(runner).stdout
    assert f'"Reminder" is missing remotely (workflows/reminder.yaml:1): applied from here as id {created["id"]}' in text
    assert "deleted remotely since" in text
    assert '"Follow-up" is missing remotely (workflows/follow-up.yaml:1): never applied from here' in text
    markdown = _drift(runner, "--format", "markdown").stdout
    assert "**Deleted remotely** (applied from here before): Reminder" in markdown
    assert "**Not applied from here** (not applied yet, or from another machine): Follow-up" in markdown


def _delete(url, wid):
    import httpx

    httpx.delete(f"{url}/workflows/{wid}", headers={"Authorization": f"Bearer {KEY}"}).raise_for_status()


def test_a_fresh_machine_says_it_has_no_record(tmp_path, monkeypatch, api):
    monkeypatch.chdir(tmp_path)
    write_workflow(tmp_path / "workflows", "Reminder")
    result = _drift(CliRunner())
    assert result.exit_code == 2
    assert "never applied from here" in result.stdout and "no record of earlier applies on this machine" in result.stdout
    assert json.loads(_drift(CliRunner(), "--format", "json").stdout)["applied_record"] == "absent"


def test_the_record_holds_names_and_ids_never_the_key(tmp_path, monkeypatch, api, emulator):
    monkeypatch.chdir(tmp_path)
    emulator.add_workflow(name="Kept", message="Hello [name], see you on [date].")
    write_workflow(tmp_path / "workflows", "Kept")
    write_workflow(tmp_path / "workflows", "Made")
    assert CliRunner().invoke(main, ["apply", "--yes"]).exit_code == 0
    (name,) = _record_files()
    path = os.path.join(os.environ["VOICEBOT_SYNC_STATE_DIR"], "applied", name)
    text = open(path, encoding="utf-8").read()
    assert KEY not in text and KEY not in name
    data = json.loads(text)
    ids = {w["name"]: w["id"] for w in emulator.workflows}
    assert data["format_version"] == 1
    assert {w["name"]: w["id"] for w in data["workflows"]} == ids  # created and found managed alike


def test_an_unreadable_record_is_set_aside_with_one_warning(tmp_path, monkeypatch, api, emulator):
    monkeypatch.chdir(tmp_path)
    write_workflow(tmp_path / "workflows", "Reminder")
    assert CliRunner().invoke(main, ["apply", "--yes"]).exit_code == 0
    (name,) = _record_files()
    path = os.path.join(os.environ["VOICEBOT_SYNC_STATE_DIR"], "applied", name)
    with open(path, "w", encoding="utf-8") as fh:
        json.dump({"format_version": 1, "workflows": [{"name": "Reminder", "id": 7, "applied_at": "x"}]}, fh)
    _delete(api, emulator.workflows[0]["id"])
    result = _drift(CliRunner())
    assert result.exit_code == 2 and "Traceback" not in result.stderr
    assert result.stderr.count("could not be read") == 1 and "wrong type" in result.stderr
    assert os.path.exists(path + ".bad") and not os.path.exists(path)
    assert "never applied from here" in result.stdout  # not trusted in part
    again = _drift(CliRunner())
    assert "could not be read" not in again.stderr  # said once: the file is aside now


def test_a_pruned_workflow_leaves_the_record(tmp_path, monkeypatch, api, emulator):
    monkeypatch.chdir(tmp_path)
    write_workflow(tmp_path / "workflows", "Reminder")
    write_workflow(tmp_path / "workflows", "Gone soon")
    runner = CliRunner()
    assert runner.invoke(main, ["apply", "--yes"]).exit_code == 0
    os.unlink(tmp_path / "workflows" / "gone-soon.yaml")
    assert runner.invoke(main, ["apply", "--yes", "--prune", "--force"]).exit_code == 0
    (name,) = _record_files()
    data = json.load(open(os.path.join(os.environ["VOICEBOT_SYNC_STATE_DIR"], "applied", name), encoding="utf-8"))
    assert [w["name"] for w in data["workflows"]] == ["Reminder"]


def test_drift_with_the_read_only_key_finds_what_apply_recorded_with_the_write_key(tmp_path, monkeypatch, api, emulator):
    # The Action's layout: apply holds the write key, plan and drift another one; a rotated key is the same case.
    monkeypatch.chdir(tmp_path)
    other = "vbk-plan-0a1b2c3d4e5f60718293"
    emulator.api_keys.append(other)
    write_workflow(tmp_path / "workflows", "Reminder")
    assert CliRunner().invoke(main, ["apply", "--yes"]).exit_code == 0
    _delete(api, emulator.workflows[0]["id"])
    monkeypatch.setenv("VOICEBOT_API_KEY", other)
    result = _drift(CliRunner())
    assert result.exit_code == 2 and "deleted remotely since" in result.stdout
    (name,) = _record_files()
    assert other not in name and KEY not in name


@pytest.mark.parametrize("content, why", [
    (b"{not json", "not JSON"),
    (b"\xff\xfe", "not JSON"),
    (b'{"format_version": 2, "workflows": []}', "not a format_version 1 record"),
    (b'{"format_version": 1, "workflows": {}}', "'workflows' is not a list"),
    (b'{"format_version": 1, "workflows": [{"name": "A", "id": null}]}', "exactly name, id and applied_at"),
    (b'{"format_version": 1, "workflows": [{"name": "A", "id": null, "applied_at": "t", "key": "x"}]}', "exactly"),
    (b'[' * 100000 + b']' * 100000, "not"),
])
def test_a_record_is_read_field_by_field_or_set_aside(tmp_path, content, why):
    path = tmp_path / "r.json"
    path.write_bytes(content)
    record = AppliedRecord(str(path))
    assert why in record.problem and not record.present and record.entries == {}
    assert (tmp_path / "r.json.bad").read_bytes() == content and not path.exists()


def test_a_record_round_trips_and_compares_names_after_nfc(tmp_path):
    record = AppliedRecord(str(tmp_path / "r.json"), wall=lambda: 0.0)
    record.remember([("Cafe\u0301", "id-1"), ("Gone", "id-2")])
    record.remember([], ["id-2"])
    again = AppliedRecord(str(tmp_path / "r.json"))
    assert again.problem is None and again.get("Caf\u00e9") == {"name": "Cafe\u0301", "id": "id-1",
                                                                 "applied_at": "1970-01-01T00:00:00Z"}
    assert again.get("Gone") is None
