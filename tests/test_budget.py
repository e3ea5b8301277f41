"""One quota, many runs (issue 14): the ledger across processes, budget, several environments at once."""

import os
import subprocess
import sys
import threading
import time

from click.testing import CliRunner

from voicebot_sync.cli import main
from voicebot_sync.emulator import Emulator, running

from conftest import KEY, write_workflow

SCALED = "4/1s,6/3s"  # the real 6/1m,60/1h shrunk: small enough to meet in a test
SCALED_WINDOWS = [(4, 1.0), (6, 3.0)]  # the same, for the emulator


def _env(tmp_path, url, key=KEY, **extra):
    env = {k: v for k, v in os.environ.items() if not k.startswith("VOICEBOT_")}
    env.update(VOICEBOT_API_URL=url, VOICEBOT_API_KEY=key, VOICEBOT_RATE_LIMIT=SCALED,
               VOICEBOT_SYNC_STATE_DIR=str(tmp_path / "state"), **extra)
    return env


def _cli(args, cwd, env):
    return subprocess.run([sys.executable, "-m", "voicebot_sync", *args], cwd=cwd, env=env, capture_output=True,
                          text=True, timeout=120)


def test_a_plan_then_an_apply_in_separate_processes_meet_no_429(tmp_path):
    for i in range(4):
        write_workflow(tmp_path / "workflows", f"Reminder {i}")
    emulator = Emulator(api_keys=[KEY], rate_limit=SCALED_WINDOWS)
    with running(emulator) as url:
        env = _env(tmp_path, url)
        assert _cli(["plan"], tmp_path, env).returncode == 0
        applied = _cli(["apply", "--yes"], tmp_path, env)
    assert applied.returncode == 0, applied.stderr
    assert emulator.stats["rate_limited"] == 0  # the apply knew about the plan's request
    assert emulator.stats["requests"] == 1 + 1 + 4


def test_a_plan_and_an_apply_at_once_on_one_key_stay_within_the_limit_together(tmp_path):
    for i in range(5):
        write_workflow(tmp_path / "workflows", f"Reminder {i}")
    emulator = Emulator(api_keys=[KEY], rate_limit=SCALED_WINDOWS)
    with running(emulator) as url:
        env = _env(tmp_path, url)
        procs = [subprocess.Popen([sys.executable, "-m", "voicebot_sync", *args], cwd=tmp_path, env=env,
                                  stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
                 for args in (["apply", "--yes"], ["plan"], ["plan"])]
        codes = [p.wait(timeout=120) for p in procs]
        for p in procs:
            p.stdout.close()
            p.stderr.close()
    assert codes[0] == 0 and codes[1] in (0,) and codes[2] in (0,)
    assert emulator.stats["rate_limited"] == 0  # the ledger's lock shared the slots


def test_a_corrupt_ledger_assumes_a_busy_window_and_budget_says_so(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    from voicebot_sync.state.ledger import ledger_for

    ledger = ledger_for("k-123456")
    os.makedirs(os.path.dirname(ledger.path), exist_ok=True)
    with open(ledger.path, "w") as fh:
        fh.write("{not json")
    result = CliRunner().invoke(main, ["budget", "--api-url", "https://api.example/v1", "--api-key", "k-123456"])
    assert result.exit_code == 0, result.stderr
    assert "busy window is assumed" in result.stderr
    assert "0 left" in result.stdout


def test_two_environments_on_two_emulators_run_at_once(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    for i in range(6):
        write_workflow(tmp_path / "workflows", f"Reminder {i}")
    staging, production = Emulator(api_keys=["k-staging"], rate_limit=[(2, 1.0)]), Emulator(api_keys=["k-prod"], rate_limit=[(2, 1.0)])
    with running(staging) as s_url, running(production) as p_url:
        (tmp_path / "voicebot-sync.yaml").write_text(
            "rate_limit: 2/1s\nenvironments:\n"
            f"  staging: {{api_url: '{s_url}', api_key_env: STAGING_KEY}}\n"
            f"  production: {{api_url: '{p_url}', api_key_env: PROD_KEY}}\n")
        env = {"STAGING_KEY": "k-staging", "PROD_KEY": "k-prod", "VOICEBOT_SYNC_STATE_DIR": str(tmp_path / "state")}
        runner = CliRunner()
        plan = runner.invoke(main, ["plan", "--all-environments", "--format", "json"], env=env)
        assert plan.exit_code == 0, plan.stderr
        started = time.monotonic()
        applied = runner.invoke(main, ["apply", "--env", "staging,production", "--yes"], env=env)
        wall = time.monotonic() - started
    assert applied.exit_code == 0, applied.stderr
    assert sorted(w["name"] for w in staging.workflows) == sorted(w["name"] for w in production.workflows)
    assert len(staging.workflows) == 6
    assert "Environments: staging: complete; production: complete" in applied.stdout
    # 7 requests at 2/1s take 3 s for one environment; both at once take about that, not 6 s.
    assert wall < 6 * 1.5  # not the sum of both (6 s): the environments ran at once (generous for a 2-core CI)
    assert staging.stats["rate_limited"] == production.stats["rate_limited"] == 0
    import json

    doc = json.loads(plan.stdout)
    assert doc["format_version"] == 1 and set(doc["environments"]) == {"staging", "production"}


def test_one_environment_failing_does_not_stop_the_others(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    write_workflow(tmp_path / "workflows", "Reminder")
    good = Emulator(api_keys=["k-good"])
    with running(good) as url:
        (tmp_path / "voicebot-sync.yaml").write_text(
            "rate_limit: 'off'\nenvironments:\n"
            f"  good: {{api_url: '{url}', api_key_env: GOOD_KEY}}\n"
            f"  bad: {{api_url: 'http://127.0.0.1:9/v1', api_key_env: BAD_KEY}}\n")
        result = CliRunner().invoke(main, ["plan", "--all-environments", "--detailed-exitcode"],
                                    env={"GOOD_KEY": "k-good", "BAD_KEY": "k-bad"})
    assert result.exit_code == 1  # the worst: an error beats "changes present"
    assert "== environment good ==" in result.stdout and "Plan: 1 to add" in result.stdout
    assert "error: [bad]" in result.stderr


def test_validate_checks_every_environment_and_refuses_an_unknown_one(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "voicebot-sync.yaml").write_text("environments:\n  staging: {}\n  production: {}\n")
    (tmp_path / "workflows").mkdir()
    (tmp_path / "workflows" / "a.yaml").write_text(
        "name: A\nmessage: Hello [name]\nenvironments:\n  staging: {message: 'Hi {{name}}'}\n  prod: {description: x}\n")
    result = CliRunner().invoke(main, ["validate"])
    assert result.exit_code == 1
    assert "environment 'prod' is not defined in the config file" in result.stderr
    assert "(environment staging)" in result.stderr and "{{name}}" in result.stderr


def test_a_definition_pins_a_different_id_per_environment(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    staging, production = Emulator(api_keys=["k-s"]), Emulator(api_keys=["k-p"])
    s_id = staging.add_workflow(name="Old name", message="Hello [name]")["id"]
    p_id = production.add_workflow(name="Old name", message="Hello [name]")["id"]
    with running(staging) as s_url, running(production) as p_url:
        (tmp_path / "voicebot-sync.yaml").write_text(
            "rate_limit: 'off'\nowns: {names: [Reminder]}\nenvironments:\n"
            f"  staging: {{api_url: '{s_url}', api_key_env: S_KEY}}\n"
            f"  production: {{api_url: '{p_url}', api_key_env: P_KEY}}\n")
        (tmp_path / "workflows").mkdir()
        (tmp_path / "workflows" / "r.yaml").write_text(
            f"name: Reminder\nmessage: Hello [name]\nenvironments:\n  staging: {{id: {s_id}}}\n  production: {{id: {p_id}}}\n")
        env = {"S_KEY": "k-s", "P_KEY": "k-p"}
        result = CliRunner().invoke(main, ["apply", "--all-environments", "--yes"], env=env)
    assert result.exit_code == 0, result.stderr
    # A rename in each account, by its own id; owns: names needs only the new name.
    assert [w["name"] for w in staging.workflows] == ["Reminder"] == [w["name"] for w in production.workflows]
