"""One writer per account: two applies at once never duplicate, and the local emulator loses no write."""

import os
import subprocess
import sys

from voicebot_sync.emulator import Emulator, running

from conftest import KEY, write_workflow


def _apply_twice_at_once(cwd, env):
    procs = [subprocess.Popen([sys.executable, "-m", "voicebot_sync", "apply", "--yes"], cwd=cwd, env=env,
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True) for _ in range(2)]
    results = [(p.wait(timeout=120), p.stdout.read(), p.stderr.read()) for p in procs]
    for p in procs:
        p.stdout.close()
        p.stderr.close()
    return results


def _repo(tmp_path, count=8):
    for i in range(count):
        write_workflow(tmp_path / "workflows", f"Reminder {i}")
    env = {k: v for k, v in os.environ.items() if not k.startswith("VOICEBOT_")}
    env["VOICEBOT_SYNC_STATE_DIR"] = str(tmp_path / "state")
    return env


def test_two_applies_at_once_against_one_account_create_everything_once(tmp_path):
    env = _repo(tmp_path)
    emulator = Emulator(api_keys=[KEY])
    with running(emulator) as url:
        env.update(VOICEBOT_API_URL=url, VOICEBOT_API_KEY=KEY, VOICEBOT_RATE_LIMIT="off")
        results = _apply_twice_at_once(tmp_path, env)
    assert [code for code, _, _ in results] == [0, 0], results
    names = sorted(w["name"] for w in emulator.workflows)
    assert names == sorted(f"Reminder {i}" for i in range(8))  # each exactly once
    # The second one planned after the first finished: it had nothing left to do.
    assert any("No changes" in out for _, out, _ in results)


def test_two_local_applies_at_once_lose_no_write_and_duplicate_nothing(tmp_path):
    env = _repo(tmp_path, count=10)
    env["VOICEBOT_API_URL"] = "local"
    results = _apply_twice_at_once(tmp_path, env)
    assert [code for code, _, _ in results] == [0, 0], results
    result = subprocess.run([sys.executable, "-m", "voicebot_sync", "plan", "--detailed-exitcode"], cwd=tmp_path,
                            env=env, capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stdout + result.stderr  # no changes: all 10 there, none twice
    assert "Unmanaged" not in result.stdout


def test_two_checkouts_on_one_machine_do_not_apply_at_once(tmp_path):
    emulator = Emulator(api_keys=[KEY])
    with running(emulator) as url:
        procs = []
        for checkout in ("a", "b"):
            root = tmp_path / checkout
            env = _repo(root)  # each its own .voicebot-sync/ (state dir): only the machine-wide lock is shared
            env.update(VOICEBOT_API_URL=url, VOICEBOT_API_KEY=KEY, VOICEBOT_RATE_LIMIT="off")
            procs.append(subprocess.Popen([sys.executable, "-m", "voicebot_sync", "apply", "--yes"], cwd=root,
                                          env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True))
        codes = [p.wait(timeout=120) for p in procs]
        for p in procs:
            p.stdout.close()
            p.stderr.close()
    assert codes == [0, 0]
    names = [w["name"] for w in emulator.workflows]
    assert sorted(names) == sorted(set(names)) and len(names) == 8
