"""The commands through the CLI, against the emulator over real HTTP."""

import json
import os

import pytest

from voicebot_sync.cli import main

from conftest import KEY, write_workflow


def invoke(runner, *args, **kw):
    result = runner.invoke(main, [str(a) for a in args], **kw)
    # The runner re-raises a bug (a test fails on it); should a caller catch exceptions, only a SystemExit
    # is a real outcome.
    assert result.exception is None or isinstance(result.exception, SystemExit), result.exception
    assert KEY not in result.output + (result.stderr or "")
    return result


def names(emulator):
    return sorted(w["name"] for w in emulator.workflows)


def test_version_and_help(runner):
    assert invoke(runner, "--version").output.startswith("voicebot-sync, version ")
    out = invoke(runner, "plan", "--help").output
    assert "--detailed-exitcode" in out and "VOICEBOT_API_URL" in out


# -- validate --------------------------------------------------------------------


def test_validate_reports_every_problem_as_file_line(runner, tmp_path):
    d = tmp_path / "wf"
    write_workflow(d, "A", "x" * 1001)
    (d / "b.yaml").write_text('name: B\nmesage: "typo"\n')
    (d / "c.yaml").write_text('name: C\nmessage: hi\nworkflow_type: ROBOCOP\n')
    result = invoke(runner, "validate", d)
    assert result.exit_code == 1
    lines = result.stderr.splitlines()  # problems go to stderr: stdout holds only documents
    assert any(line.startswith(f"{d / 'a.yaml'}:") or "a.yaml:" in line and "1000" in line for line in lines)
    assert any("b.yaml:2:" in line and "mesage" in line for line in lines)
    assert any("c.yaml:3:" in line and "ROBOCOP" in line for line in lines)
    assert "validation problems found" in result.stderr


def test_validate_emits_github_annotations_in_actions(runner, tmp_path, monkeypatch):
    d = tmp_path / "wf"
    (d).mkdir()
    (d / "b.yaml").write_text('name: B\nmesage: "typo"\n')
    monkeypatch.setenv("GITHUB_ACTIONS", "true")
    result = invoke(runner, "validate", d)
    assert any(line.startswith("::error file=") and ",line=2::" in line for line in result.stdout.splitlines())


def test_validate_ok(runner, workflows):
    result = invoke(runner, "validate", workflows)
    assert result.exit_code == 0 and "3 definitions in 3 files: valid." in result.stdout


def test_invalid_files_send_no_request(runner, api, emulator, tmp_path):
    d = tmp_path / "wf"
    (d).mkdir()
    (d / "b.yaml").write_text("name: B\n")
    result = invoke(runner, "plan", d)
    assert result.exit_code == 1
    assert emulator.stats["requests"] == 0


# -- plan ------------------------------------------------------------------------


def test_plan_lists_the_remote_with_one_request(runner, api, emulator, workflows):
    emulator.add_workflow(name="Refill ready", message="old text", workflow_type="ROBOCALL")
    emulator.add_workflow(name="Made by hand", message="m")
    result = invoke(runner, "plan", workflows)
    assert result.exit_code == 0, result.output
    assert emulator.stats["requests"] == 1
    out = result.stdout
    assert '+ create "Appointment reminder"' in out and '~ update "Refill ready"' in out
    assert "message:" in out and '"Made by hand"' in out
    assert "Plan: 2 to add, 1 to change, 0 to destroy." in out
    assert "Apply needs 4 requests" in out


def test_plan_detailed_exitcode_and_json_and_out(runner, api, emulator, workflows, tmp_path):
    out_file = tmp_path / "plan.json"
    result = invoke(runner, "plan", workflows, "--format", "json", "--detailed-exitcode", "--out", out_file)
    assert result.exit_code == 2
    data = json.loads(result.stdout)
    assert data["summary"]["create"] == 3 and data["requests"] == 4
    assert json.loads(out_file.read_text())["remote_fingerprint"] == data["remote_fingerprint"]
    invoke(runner, "apply", workflows, "--yes")
    assert invoke(runner, "plan", workflows, "--detailed-exitcode").exit_code == 0


def test_plan_markdown(runner, api, workflows):
    result = invoke(runner, "plan", workflows, "--format", "markdown")
    assert "**Plan: 3 to add, 0 to change, 0 to destroy.**" in result.stdout and "| + | create |" in result.stdout


# -- apply -----------------------------------------------------------------------


def test_apply_without_terminal_and_without_yes_refuses(runner, api, emulator, workflows):
    result = invoke(runner, "apply", workflows)
    assert result.exit_code == 1 and "--yes" in result.stderr
    assert emulator.workflows == []


def test_apply_then_plan_shows_no_changes_against_a_quirky_server(runner, api, emulator, tmp_path):
    d = tmp_path / "wf"
    write_workflow(d, "Trailing", "Hello [name]   \n\n", description='"  "')
    write_workflow(d, "Opts", "Reply [x]", include_reply="true", response_options='{1: "Yes", 2: "No"}')
    result = invoke(runner, "apply", d, "--yes")
    assert result.exit_code == 0, result.output
    assert "Apply complete: 2 created, 0 updated, 0 deleted, 0 failed, 0 remaining." in result.stdout
    assert invoke(runner, "plan", d, "--detailed-exitcode").exit_code == 0


def test_apply_prunes_only_with_prune_and_in_order(runner, api, emulator, workflows):
    emulator.add_workflow(name="Refill ready", message="old", workflow_type="ROBOCALL")
    emulator.add_workflow(name="Gone", message="m")
    assert invoke(runner, "apply", workflows, "--yes").exit_code == 0
    assert "Gone" in names(emulator)
    result = invoke(runner, "apply", workflows, "--yes", "--prune")
    assert result.exit_code == 0 and "Gone" not in names(emulator)
    assert names(emulator) == ["Appointment reminder", "Lab results", "Refill ready"]


def test_saved_plan_applies_exactly_and_refuses_when_stale(runner, api, emulator, workflows, tmp_path):
    plan_file = tmp_path / "plan.json"
    invoke(runner, "plan", workflows, "--out", plan_file)
    emulator.add_workflow(name="Sneaked in", message="m")
    result = invoke(runner, "apply", "--plan", plan_file, "--yes")
    assert result.exit_code == 1 and "remote changed since this plan was made" in result.stderr
    assert names(emulator) == ["Sneaked in"]
    invoke(runner, "plan", workflows, "--out", plan_file)
    result = invoke(runner, "apply", "--plan", plan_file, "--yes")
    assert result.exit_code == 0 and len(emulator.workflows) == 4


def test_apply_json_report(runner, api, emulator, workflows):
    result = invoke(runner, "apply", workflows, "--yes", "--format", "json")
    report = json.loads(result.stdout)
    assert report["complete"] and report["created"] == 3 and report["requests"] == 4 and report["rate_limited"] == 0


def test_log_file_has_a_json_line_per_request_and_never_the_key(runner, api, workflows, tmp_path):
    log = tmp_path / "requests.jsonl"
    invoke(runner, "apply", workflows, "--yes", "--log-file", log)
    records = [json.loads(line) for line in log.read_text().splitlines()]
    assert [r["method"] for r in records] == ["GET", "POST", "POST", "POST"]
    assert {"time", "method", "path", "status", "attempt", "duration_ms"} <= set(records[0])
    assert KEY not in log.read_text()


def test_verbose_shows_requests_never_the_key(runner, api, workflows):
    result = invoke(runner, "plan", workflows, "-v")
    assert "GET /workflows -> 200" in result.stderr


# -- export ----------------------------------------------------------------------


def test_export_round_trips_to_no_changes(runner, api, emulator, tmp_path):
    emulator.add_workflow(name="Discharge follow-up", message="Hello [name].\nHow are you feeling?\nPress 1.", description="multi")
    emulator.add_workflow(name="Discharge follow-up!", message="dup slug", workflow_type="CONVERSATION")
    emulator.add_workflow(name="Opts", message="m", include_reply=True, response_options={"1": "Yes", "2": "No"})
    out = tmp_path / "exported"
    result = invoke(runner, "export", "--out-dir", out)
    assert result.exit_code == 0 and "Exported 3 workflows" in result.stdout
    files = sorted(os.listdir(out))
    assert files == ["discharge-follow-up-2.yaml", "discharge-follow-up.yaml", "opts.yaml"]
    assert "message: |-\n  Hello [name].\n  How are you feeling?" in (out / "discharge-follow-up.yaml").read_text()
    assert invoke(runner, "validate", out).exit_code == 0
    assert invoke(runner, "plan", out, "--detailed-exitcode").exit_code == 0


# -- failures: one line, exit 1, no traceback, no key ---------------------------


def test_wrong_key(runner, api, workflows, monkeypatch):
    monkeypatch.setenv("VOICEBOT_API_KEY", "wrong-key-123")
    result = invoke(runner, "plan", workflows)
    assert result.exit_code == 1
    assert result.stderr.startswith("error: GET /workflows: HTTP 401:") and "wrong-key-123" not in result.output + result.stderr


def test_missing_key(runner, api, workflows, monkeypatch):
    monkeypatch.delenv("VOICEBOT_API_KEY")
    result = invoke(runner, "plan", workflows)
    assert result.exit_code == 1 and "API key" in result.stderr


@pytest.fixture
def one_retry(tmp_path, monkeypatch):
    """Transient faults retried once, so failure tests don't sit in real backoff."""
    config = tmp_path / "voicebot-sync.yaml"
    config.write_text("max_retries: 1\n")
    monkeypatch.setenv("VOICEBOT_SYNC_CONFIG", str(config))


def test_unreachable_url(runner, workflows, monkeypatch, one_retry):
    monkeypatch.setenv("VOICEBOT_API_KEY", KEY)
    result = invoke(runner, "plan", workflows, "--api-url", "http://127.0.0.1:9/voicebot/v1")
    assert result.exit_code == 1
    lines = result.stderr.strip().splitlines()
    # Refused at the first contact will not go away by itself: one line at once, no retries.
    assert lines == [lines[-1]] and lines[-1].startswith("error: GET /workflows: cannot reach http://127.0.0.1:9/voicebot/v1")
    assert "refused" in lines[-1]


def test_server_error(runner, workflows, monkeypatch, one_retry):
    from voicebot_sync.emulator import Emulator, running

    with running(Emulator(api_keys=[KEY], fault_5xx=1.0)) as url:
        result = invoke(runner, "plan", workflows, "--api-url", url, "--api-key", KEY, "--rate-limit", "off")
    assert result.exit_code == 1 and "HTTP 500" in result.stderr.splitlines()[-1]


def test_plain_http_to_a_remote_host_is_refused(runner, workflows, monkeypatch):
    monkeypatch.setenv("VOICEBOT_API_KEY", KEY)
    result = invoke(runner, "plan", workflows, "--api-url", "http://voicebot.example.com/v1")
    assert result.exit_code == 1 and "--insecure" in result.stderr


# -- the local mode --------------------------------------------------------------


def test_local_mode_needs_no_server_and_no_key(runner, tmp_path, monkeypatch, workflows):
    monkeypatch.chdir(tmp_path)
    assert invoke(runner, "plan", workflows, "--api-url", "local", "--detailed-exitcode").exit_code == 2
    assert invoke(runner, "apply", workflows, "--api-url", "local", "--yes").exit_code == 0
    assert os.path.exists(tmp_path / ".voicebot-sync" / "local-api.json")
    assert invoke(runner, "plan", workflows, "--api-url", "local", "--detailed-exitcode").exit_code == 0


def test_apply_reviewed_refuses_changes_that_were_not_reviewed_and_accepts_a_subset(runner, api, emulator, workflows, tmp_path):
    reviewed = tmp_path / "reviewed.json"
    invoke(runner, "plan", workflows, "--out", reviewed)
    write_workflow(workflows, "Sneaked in", "not reviewed")
    result = invoke(runner, "apply", workflows, "--yes", "--reviewed", reviewed)
    assert result.exit_code == 1 and '1 change not in the reviewed plan' in result.stderr and 'create "Sneaked in"' in result.stderr
    assert emulator.workflows == []
    (workflows / "sneaked-in.yaml").unlink()
    (workflows / "refill-ready.yaml").unlink()  # a subset of what was reviewed is fine
    out = tmp_path / "applied.json"
    result = invoke(runner, "apply", workflows, "--yes", "--reviewed", reviewed, "--out", out)
    assert result.exit_code == 0 and len(emulator.workflows) == 2
    assert json.loads(out.read_text())["summary"]["create"] == 2


def test_unwritable_outputs_are_one_line_errors(runner, api, workflows, tmp_path):
    blocker = tmp_path / "file"
    blocker.write_text("")
    result = invoke(runner, "export", "--out-dir", blocker / "sub")
    assert result.exit_code == 1 and result.stderr.startswith(f"error: {blocker / 'sub'}:")
    result = invoke(runner, "plan", workflows, "--out", blocker / "sub" / "plan.json")
    assert result.exit_code == 1 and "Not a directory" in result.stderr
