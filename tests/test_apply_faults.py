"""The executor against the emulator over real HTTP: scaled limits, someone else's
requests, random 5xx, dropped connections after writes, signals."""

import os
import signal
import subprocess
import sys
import time

import httpx
import pytest

from voicebot_sync.core.schedule import parse_rate_limit
from voicebot_sync.emulator import Emulator, running
from voicebot_sync.apply.executor import Executor
from voicebot_sync.core.planner import make_plan
from voicebot_sync.api.ratelimit import least_time
from voicebot_sync.commands.common import Connection, make_client

from conftest import KEY, write_workflow
from fakes import FakeClock, FakeDefinition as D

SCALED = parse_rate_limit("5/1s,12/4s")


def apply_all(url, definitions, windows=SCALED, max_retries=8, prune=False, clock=None):
    """``clock``: a FakeClock the emulator shares, on which the client's waits pass at once."""
    timing = {"clock": clock, "sleep": clock.sleep} if clock else {}
    with make_client(Connection(url, KEY, windows, max_retries=max_retries, timeout=5, backoff_base=0.01),
                     **timing) as client:
        if clock and client.limiter.ledger is not None:  # the ledger's wall time moves with the clock too
            offset = time.time() - clock()
            client.limiter.ledger.wall = lambda: offset + clock()
        plan = make_plan(definitions, client.list_workflows(), api_url=url, windows=windows, prune=prune)
        started = time.monotonic()
        # This emulator's list never lags behind its writes: a short settle time is enough.
        report = Executor(client, settle=0.05).run(plan)
        return plan, report, time.monotonic() - started


def test_apply_sends_exactly_one_request_per_change_plus_the_list_and_gets_no_429():
    emulator = Emulator(api_keys=[KEY], rate_limit=SCALED)
    with running(emulator) as url:
        plan, report, wall = apply_all(url, [D(f"W{i:02}") for i in range(14)])
    assert report.complete
    assert report.requests == 15 == emulator.stats["requests"]
    assert report.rate_limited == 0 == emulator.stats["rate_limited"]
    # 15 requests at 5/1s,12/4s: the 13th waits for the 4s window.
    assert least_time(15, SCALED) == 4
    # The one real-time smoke test of pacing: never faster than the limit allows (a generous upper bound).
    assert 4 <= wall < 4 * 3


def test_budget_partly_spent_by_another_client_still_converges():
    clock = FakeClock()  # the 429s' waits pass on the emulator's clock as well, without real sleep
    emulator = Emulator(api_keys=[KEY], rate_limit=SCALED, clock=clock)
    with running(emulator) as url:
        with httpx.Client(headers={"Authorization": f"Bearer {KEY}"}) as other:
            for _ in range(4):
                other.get(f"{url}/workflows")
        definitions = [D(f"W{i:02}") for i in range(9)]
        plan, report, _ = apply_all(url, definitions, clock=clock)
    assert sum(clock.sleeps) >= 1  # it waited (the scaled window of 1 s) rather than failing
    assert report.complete and len(emulator.workflows) == 9
    assert report.rate_limited >= 1  # the other client's requests were invisible to us...
    assert emulator.stats["rate_limited"] == report.rate_limited  # ...and every 429 was waited out


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_random_5xx_converges_to_exactly_the_desired_set(seed):
    emulator = Emulator(api_keys=[KEY], fault_5xx=0.3, fault_seed=seed)
    emulator.add_workflow(name="Update me", message="old")
    emulator.add_workflow(name="Delete me", message="m")
    definitions = [D(f"W{i}") for i in range(8)] + [D("Update me", "new")]
    with running(emulator) as url:
        for _ in range(3):
            plan, report, _ = apply_all(url, definitions, windows=[], prune=True)
            if report.complete:
                break
        assert report.complete
        assert sorted(w["name"] for w in emulator.workflows) == sorted(d.name for d in definitions)
        _, again, _ = apply_all(url, definitions, windows=[], prune=True)
    assert again.total == 0


@pytest.mark.parametrize("seed", [4, 5])
def test_lost_answers_after_writes_never_duplicate(seed):
    emulator = Emulator(api_keys=[KEY], fault_drop_after_write=0.5, fault_seed=seed)
    emulator.add_workflow(name="Update me", message="old")
    emulator.add_workflow(name="Delete me", message="m")
    definitions = [D(f"W{i}") for i in range(10)] + [D("Update me", "new")]
    with running(emulator) as url:
        plan, report, _ = apply_all(url, definitions, windows=[], prune=True)
    assert emulator.stats["dropped"] >= 3
    assert report.complete, report.to_json()
    names = [w["name"] for w in emulator.workflows]
    assert sorted(names) == sorted(d.name for d in definitions)  # no duplicates, nothing missing
    assert any(o.note == "confirmed after a lost answer" for o in report.outcomes)


def _cli(*args, env):
    return [sys.executable, "-m", "voicebot_sync", *map(str, args)]


def test_sigint_in_the_middle_exits_3_and_a_rerun_converges(tmp_path):
    d = tmp_path / "wf"
    for i in range(5):
        write_workflow(d, f"W{i}")
    emulator = Emulator(api_keys=[KEY], rate_limit=parse_rate_limit("2/1s"))
    env = {**os.environ, "VOICEBOT_API_KEY": KEY, "VOICEBOT_RATE_LIMIT": "2/1s", "PYTHONUNBUFFERED": "1"}
    env.pop("VOICEBOT_SYNC_CONFIG", None)
    with running(emulator) as url:
        env["VOICEBOT_API_URL"] = url
        proc = subprocess.Popen(_cli("apply", d, "--yes", env=env), env=env, cwd=tmp_path,
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        # Wait until the first create is reported, then interrupt.
        seen = ""
        deadline = time.monotonic() + 20
        while "created" not in seen and time.monotonic() < deadline:
            seen += proc.stdout.readline()
        proc.send_signal(signal.SIGINT)
        out, err = proc.communicate(timeout=20)
        assert proc.returncode == 3, (seen + out, err)
        assert "Apply stopped" in seen + out and "run apply again" in err
        assert "Traceback" not in out + err
        done = len(emulator.workflows)
        assert 1 <= done < 5
        rerun = subprocess.run(_cli("apply", d, "--yes", env=env), env=env, cwd=tmp_path, capture_output=True, text=True, timeout=60)
        assert rerun.returncode == 0, rerun.stderr
        assert f"{5 - done} created" in rerun.stdout
    assert sorted(w["name"] for w in emulator.workflows) == [f"W{i}" for i in range(5)]


def test_max_duration_stops_cleanly_with_exit_3(runner, tmp_path, monkeypatch):
    from voicebot_sync.cli import main

    d = tmp_path / "wf"
    for i in range(6):
        write_workflow(d, f"W{i}")
    emulator = Emulator(api_keys=[KEY], rate_limit=parse_rate_limit("3/1m"))
    with running(emulator) as url:
        result = runner.invoke(main, ["apply", str(d), "--yes", "--max-duration", "5s", "--api-url", url,
                                      "--api-key", KEY, "--rate-limit", "3/1m"])
    assert result.exit_code == 3, result.output
    assert len(emulator.workflows) == 2  # the list and 2 creates fill the window; the next could not start in 5s
    assert "time budget" in result.stderr and "run apply again" in result.stderr
