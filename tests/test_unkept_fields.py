"""Fields the server does not keep: said after the write, remembered in the config, never an update every run."""

from __future__ import annotations

import json

import pytest

from voicebot_sync.cli import main
from voicebot_sync.emulator import Emulator, running
from voicebot_sync.core.kept import KeptCheck, Unkept, config_line, unkept_fields

from conftest import KEY, write_workflow

OPTIONS = '{"1": "Yes", "2": "No"}'


def cli(runner, *args):
    result = runner.invoke(main, [str(a) for a in args])
    assert result.exception is None or isinstance(result.exception, SystemExit), result.exception
    return result


@pytest.fixture
def repo(tmp_path):
    d = tmp_path / "workflows"
    write_workflow(d, "Reminder", "Hello [name].", include_reply="true", response_options=OPTIONS,
                   call_back_url="https://example.test/cb")
    write_workflow(d, "Refill", "Your refill is ready.", include_reply="true")
    return tmp_path


@pytest.fixture
def dropping():
    """A server of an earlier API version: include_reply and response_options are silently not kept."""
    emulator = Emulator(api_keys=[KEY], omit_fields="include_reply,response_options")
    with running(emulator) as url:
        yield emulator, url


def connection(url):
    return ["--api-url", url, "--api-key", KEY, "--rate-limit", "off"]


# -- the check itself ---------------------------------------------------------------------


@pytest.mark.parametrize("sent,answered,missing", [
    ({"name": "A", "message": "m", "include_reply": True}, {"name": "A", "message": "m"}, ["include_reply"]),
    ({"name": "A", "message": "m", "include_reply": True}, {"name": "A", "message": "m", "include_reply": False},
     ["include_reply"]),
    ({"name": "A", "message": "m", "response_options": {"1": "Yes"}},
     {"name": "A", "message": "m", "option_one": "Yes"}, []),  # the other spelling of the same field
    ({"name": "A", "message": "m ", "description": ""}, {"name": "A", "message": "m", "description": None}, []),
    ({"name": "A", "message": "m", "call_back_url": "https://x.test"}, {"id": "w1"}, []),  # no record: no verdict
    ({"name": "A", "message": "m"}, {"name": "A", "message": "other"}, ["message"]),
])
def test_unkept_fields_compares_the_answer_with_what_was_sent(sent, answered, missing):
    assert unkept_fields(sent, answered) == missing


def test_a_field_is_said_once_per_run_and_never_when_it_is_known():
    check = KeptCheck(known=["response_options"])
    sent = {"name": "A", "message": "m", "include_reply": True, "response_options": {"1": "Yes"}}
    first = check.warnings("A", "workflows/a.yaml", sent, {"name": "A", "message": "m"})
    assert list(first) == ["include_reply"]
    assert '"A"' in first["include_reply"] and "workflows/a.yaml" in first["include_reply"]
    assert "`unkept_fields: [include_reply]`" in first["include_reply"]
    assert check.warnings("B", None, {**sent, "name": "B"}, {"name": "B", "message": "m"}) == {}


def test_unkept_leaves_fields_out_of_the_comparison_and_says_so_once():
    unkept = Unkept(["include_reply", "message"])  # core fields are always compared
    desired = {"name": "A", "message": "m", "include_reply": True}
    assert unkept.compared(desired) == {"name": "A", "message": "m"}
    assert unkept.compared({"name": "B", "message": "m"}) == {"name": "B", "message": "m"}
    assert unkept.notes() == ["not kept by this server (unkept_fields in the config): include_reply (set in 1 "
                              "definition): not compared, so never shown as a change; creates still send them"]
    assert config_line(["response_options", "include_reply"]) == "unkept_fields: [include_reply, response_options]"


# -- over HTTP, against a server that drops them ------------------------------------------


def test_without_the_setting_apply_warns_naming_field_workflow_and_remedy(runner, repo, dropping):
    emulator, url = dropping
    result = cli(runner, "apply", "--yes", "--no-config", repo / "workflows", *connection(url))
    assert result.exit_code == 0, result.output
    warnings = [line for line in result.output.splitlines() if "warning: the server did not keep" in line]
    # One per field and run, although two workflows set include_reply.
    assert len(warnings) == 2, result.output
    assert any("include_reply" in w and "unkept_fields: [include_reply]" in w for w in warnings)
    assert any("response_options" in w and '"Reminder"' in w for w in warnings)
    assert all("include_reply" not in w for w in emulator.workflows)
    # Without the setting, the field would be an update on every run: the plan still shows it.
    again = cli(runner, "plan", "--detailed-exitcode", "--no-config", repo / "workflows", *connection(url))
    assert again.exit_code == 2


def test_with_the_setting_plans_converge_and_drift_passes(runner, repo, dropping):
    emulator, url = dropping
    (repo / "voicebot-sync.yaml").write_text("unkept_fields: [include_reply, response_options]\n")
    config = ["--config", repo / "voicebot-sync.yaml"]
    applied = cli(runner, "apply", "--yes", *config, repo / "workflows", *connection(url))
    assert applied.exit_code == 0 and "did not keep" not in applied.output, applied.output
    plan = cli(runner, "plan", "--detailed-exitcode", "--format", "json", *config, repo / "workflows", *connection(url))
    assert plan.exit_code == 0, plan.output
    document = json.loads(plan.stdout)
    assert document["summary"]["unchanged"] == 2
    assert [n for n in document["notes"] if n.startswith("not kept by this server")] == [
        "not kept by this server (unkept_fields in the config): include_reply (set in 2 definitions), "
        "response_options (set in 1 definition): not compared, so never shown as a change; creates still send them"]
    drift = cli(runner, "drift", *config, repo / "workflows", *connection(url))
    assert drift.exit_code == 0, drift.output
    # A field the server keeps is compared exactly as before.
    write_workflow(repo / "workflows", "Reminder", "Hello [name].", include_reply="true", response_options=OPTIONS,
                   call_back_url="https://example.test/other")
    changed = cli(runner, "plan", "--format", "json", *config, repo / "workflows", *connection(url))
    (update,) = json.loads(changed.stdout)["changes"]
    assert update["after"] == {"call_back_url": "https://example.test/other"}


def test_the_setting_per_environment(runner, repo, dropping):
    _, url = dropping
    (repo / "voicebot-sync.yaml").write_text(
        "environments:\n  old:\n    unkept_fields: [include_reply, response_options]\n  new: {}\n")
    config = ["--config", repo / "voicebot-sync.yaml"]
    cli(runner, "apply", "--yes", "--env", "old", *config, repo / "workflows", *connection(url))
    assert cli(runner, "plan", "--detailed-exitcode", "--env", "old", *config, repo / "workflows",
               *connection(url)).exit_code == 0
    assert cli(runner, "plan", "--detailed-exitcode", "--env", "new", *config, repo / "workflows",
               *connection(url)).exit_code == 2


def test_the_setting_is_checked(runner, repo):
    (repo / "voicebot-sync.yaml").write_text("unkept_fields: [message]\n")
    result = cli(runner, "config", "--config", repo / "voicebot-sync.yaml")
    assert result.exit_code == 1
    assert "voicebot-sync.yaml:1: unkept_fields.0: 'message' is not one of" in result.stderr
