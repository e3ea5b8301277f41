"""The Action's install steps run as the runner runs them (docs/action-setup.md): a cache miss, a hit and a
tampered cache, plus action/install.py's checks on their own.

The steps "Name the action's wheel cache" and "Install voicebot-sync" run from action.yml in bash, with
PIP_REQUIRE_VIRTUALENV=1 and the interpreter this venv was made from standing in for setup-python's. One
miss per module downloads the locked wheels (through this machine's pip configuration); actions/cache is
played by copying the wheel folder that run left. The tampered case downloads again from that pristine copy
(``PIP_NO_INDEX`` and ``PIP_FIND_LINKS``), so only the miss needs the index.
"""

from __future__ import annotations

import hashlib
import importlib.util
import os
import shutil
import subprocess
import sys
import zipfile

import pytest
import yaml

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SETUP_PYTHON = getattr(sys, "_base_executable", sys.executable)
WARNING = "::warning title=voicebot-sync::The restored wheel cache did not match the action's locks"

spec = importlib.util.spec_from_file_location("action_install", os.path.join(ROOT, "action", "install.py"))
install = importlib.util.module_from_spec(spec)
spec.loader.exec_module(install)


def steps() -> dict[str, dict]:
    with open(os.path.join(ROOT, "action.yml"), encoding="utf-8") as fh:
        return {s.get("id") or s.get("name"): s for s in yaml.safe_load(fh)["runs"]["steps"]}


def run_step(step_id: str, temp, **env) -> tuple[int, str, dict[str, str]]:
    """One `run:` step of action.yml as the runner runs it; (exit code, log, its GITHUB_OUTPUT)."""
    step = steps()[step_id]
    expanded = {k: v.replace("${{ github.action_path }}", ROOT).replace("${{ steps.python.outputs.python-path }}",
                                                                       SETUP_PYTHON) for k, v in step["env"].items()}
    script, output = temp / f".{step_id}.sh", temp / f".{step_id}.out"
    script.write_text(step["run"])
    output.write_text("")
    base = {k: v for k, v in os.environ.items() if k.startswith("PIP_") or k in ("PATH", "SSL_CERT_FILE")}
    proc = subprocess.run(
        ["bash", "--noprofile", "--norc", "-eo", "pipefail", str(script)], cwd=temp, capture_output=True, text=True,
        env={**base, "HOME": str(temp), "RUNNER_TEMP": str(temp), "GITHUB_OUTPUT": str(output),
             "GITHUB_ACTIONS": "true", "PIP_REQUIRE_VIRTUALENV": "1", **env, **expanded}, timeout=600)
    outputs = dict(line.split("=", 1) for line in output.read_text().splitlines())
    return proc.returncode, proc.stdout + proc.stderr, outputs


def set_up(temp, restore=None, **env):
    """The key step, the cache's restore (a copy of ``restore``), then the install step."""
    code, log, key = run_step("wheels", temp, **env)
    assert code == 0, log
    if restore:
        shutil.copytree(restore, key["dir"])
    code, log, outputs = run_step("install", temp, **env)
    return code, log, outputs, key


def imports_from_its_venv(python: str, temp) -> str:
    """The installed tool runs from the virtualenv's site-packages, not from this checkout."""
    proc = subprocess.run([python, "-c", "import voicebot_sync.github.__main__, yaml, httpx, idna; print(idna.__file__)"],
                          capture_output=True, text=True, env={"PATH": os.environ["PATH"]}, cwd=temp)
    assert proc.returncode == 0, proc.stderr
    return proc.stdout.strip()


def locked_hashes() -> set[str]:
    pins = {**install.read_lock(os.path.join(ROOT, "action-requirements.txt")),
            **install.read_lock(os.path.join(ROOT, "action", "uv-requirements.txt"))}
    return set().union(*pins.values())


def sha256(path) -> str:
    return hashlib.sha256(open(path, "rb").read()).hexdigest()


@pytest.fixture(scope="module")
def miss(tmp_path_factory):
    """One run with an empty wheel folder (actions/cache missed); its folder is the cache the others restore."""
    temp = tmp_path_factory.mktemp("miss")
    code, log, outputs, key = set_up(temp)
    if code and "could not download" in log:
        pytest.skip("no package index to download the locked wheels from")
    assert code == 0, log
    cache = tmp_path_factory.mktemp("cache") / "wheels"
    shutil.copytree(key["dir"], cache)
    return temp, log, outputs, key, cache


# -- the step, as the runner runs it --------------------------------------------------------------------


def test_a_miss_downloads_the_locked_wheels_and_installs_into_a_venv_of_its_own(miss):
    temp, log, outputs, key, cache = miss
    assert outputs["wheels"] == "downloaded" and WARNING not in log
    assert key["dir"] == str(temp / key["key"])  # a folder per key: two Pythons in one job never mix wheels
    files = os.listdir(key["dir"])
    assert any(f.startswith("uv-") for f in files) and any(f.startswith("httpx-") for f in files)
    assert {sha256(os.path.join(key["dir"], f)) for f in files} <= locked_hashes()
    assert outputs["python"].startswith(str(temp / "voicebot-sync-venv.")) and outputs["python"].endswith("/bin/python")
    assert imports_from_its_venv(outputs["python"], temp).startswith(os.path.dirname(os.path.dirname(outputs["python"])))


def test_a_hit_installs_offline_and_ignores_the_jobs_uv_settings(miss, tmp_path):
    *_, cache = miss
    unreachable = "http://127.0.0.1:9/simple"
    job_uv_cache = tmp_path / "job-uv-cache"
    code, log, outputs, _ = set_up(tmp_path, restore=cache, PIP_INDEX_URL=unreachable, PIP_CONFIG_FILE=os.devnull,
                                   PIP_FIND_LINKS="", UV_INDEX_URL=unreachable, UV_CACHE_DIR=str(job_uv_cache),
                                   UV_NO_VERIFY_HASHES="1")
    assert code == 0, log
    assert outputs["wheels"] == "restored" and WARNING not in log
    assert not job_uv_cache.exists()
    imports_from_its_venv(outputs["python"], tmp_path)


def _forge(path, member_pattern: str, payload: bytes):
    """The same wheel with every member matching ``member_pattern`` replaced by ``payload``."""
    forged = str(path) + ".forged"
    with zipfile.ZipFile(path) as src, zipfile.ZipFile(forged, "w") as dst:
        for info in src.infolist():
            dst.writestr(info, payload if member_pattern in info.filename else src.read(info))
    os.replace(forged, path)


def test_a_tampered_cache_is_detected_thrown_away_and_never_run(miss, tmp_path):
    *_, cache = miss
    marker = tmp_path / "pwned"
    tampered = tmp_path / "tampered"
    shutil.copytree(cache, tampered)
    (idna,) = [f for f in os.listdir(tampered) if f.startswith("idna-")]
    _forge(tampered / idna, "idna/__init__.py", f"open({str(marker)!r}, 'w').close()\n".encode())
    (uv,) = [f for f in os.listdir(tampered) if f.startswith("uv-")]
    _forge(tampered / uv, ".data/scripts/uv", f"#!/bin/sh\ntouch {marker}\n".encode())
    (tampered / "extra.pth").write_text("import os\n")
    # The fresh download comes from the pristine copy, as pip would from the index.
    code, log, outputs, key = set_up(tmp_path, restore=tampered, PIP_CONFIG_FILE=os.devnull, PIP_NO_INDEX="1",
                                     PIP_FIND_LINKS=str(cache))
    assert code == 0, log
    assert outputs["wheels"] == "replaced"
    assert WARNING in log and "a file whose sha256 no lock has" in log and "extra.pth" not in log
    assert sorted(os.listdir(key["dir"])) == sorted(os.listdir(cache))
    assert all(sha256(os.path.join(key["dir"], f)) == sha256(cache / f) for f in os.listdir(cache))
    imports_from_its_venv(outputs["python"], tmp_path)
    assert not marker.exists()


def test_locked_wheels_that_will_not_install_here_are_downloaded_afresh_once(miss, tmp_path, monkeypatch, capsys):
    """A restored folder of locked files that uv cannot install (say, another platform's wheels under this
    key): one more try from a fresh download in a new virtualenv, then the failure stands."""
    *_, cache = miss
    monkeypatch.setenv("RUNNER_TEMP", str(tmp_path))
    shutil.copytree(cache, tmp_path / install.cache_key(ROOT))
    monkeypatch.setattr(install, "download", lambda folder, *_: [shutil.copy(cache / f, folder) for f in os.listdir(cache)])
    pythons = []

    def uv_fails(times):
        def uv_install(uv, python, *args):
            pythons.append(python)
            if len(pythons) <= times:
                raise install.InstallError("uv could not install voicebot-sync (see above)")
        return uv_install

    monkeypatch.setattr(install, "uv_install", uv_fails(1))
    assert install.install(ROOT) == {"python": pythons[-1], "wheels": "replaced"}
    assert len(pythons) == 2 and pythons[0] != pythons[1]
    assert WARNING + " (its wheels did not install)" in capsys.readouterr().out
    pythons.clear()
    monkeypatch.setattr(install, "uv_install", uv_fails(2))
    with pytest.raises(install.InstallError):
        install.install(ROOT)
    assert len(pythons) == 2


def test_a_failed_download_is_one_clear_line(tmp_path):
    code, log, outputs, _ = set_up(tmp_path, PIP_CONFIG_FILE=os.devnull, PIP_NO_INDEX="1", PIP_FIND_LINKS=str(tmp_path))
    assert code == 1 and "python" not in outputs
    assert "::error title=voicebot-sync::The install step failed: pip could not download the locked wheels" in log
    assert "Traceback" not in log


# -- the steps in action.yml ----------------------------------------------------------------------------


def test_the_wheel_cache_is_restored_before_the_install_and_saved_only_after_a_download():
    action = steps()
    order = list(action)
    restore, save = action["wheels-cache"], action["Save the action's wheels"]
    assert order.index("python") < order.index("wheels") < order.index("wheels-cache") < order.index("install")
    assert order.index("install") < order.index("Save the action's wheels") < order.index("ledger")
    assert restore["uses"].startswith("actions/cache/restore@") and save["uses"].startswith("actions/cache/save@")
    for step in (restore, save):
        assert step["with"] == {"path": "${{ steps.wheels.outputs.dir }}", "key": "${{ steps.wheels.outputs.key }}"}
    assert "restore-keys" not in restore["with"]  # an exact key only: another lock's wheels are never restored
    assert save["if"] == "steps.install.outputs.wheels == 'downloaded'"


# -- action/install.py's checks -------------------------------------------------------------------------


def test_every_pin_of_both_locks_has_hashes_and_uv_comes_from_wheels_only():
    deps = install.read_lock(os.path.join(ROOT, "action-requirements.txt"))
    (uv_pin, uv_hashes), = install.read_lock(os.path.join(ROOT, "action", "uv-requirements.txt")).items()
    assert uv_pin.startswith("uv==") and len(uv_hashes) >= 10  # Linux, macOS and Windows wheels
    assert "setuptools" in {pin.split("==")[0] for pin in deps} and all(deps.values())
    text = open(os.path.join(ROOT, "action", "uv-requirements.txt"), encoding="utf-8").read()
    assert not [line for line in text.splitlines() if ".tar.gz" in line and not line.startswith("#")]


def test_a_lock_line_without_hashes_is_refused(tmp_path):
    lock = tmp_path / "lock.txt"
    lock.write_text("uv==0.13.9 \\\n    --hash=sha256:" + "a" * 64 + "\nclick==8.1\n")
    with pytest.raises(install.InstallError, match="click==8.1 is not pinned with hashes"):
        install.read_lock(str(lock))


def _action_copy(tmp_path):
    (tmp_path / "action").mkdir()
    shutil.copy(os.path.join(ROOT, "action-requirements.txt"), tmp_path)
    shutil.copy(os.path.join(ROOT, "action", "uv-requirements.txt"), tmp_path / "action")
    return tmp_path


def test_the_key_changes_with_each_lock_and_names_the_interpreter_and_platform(tmp_path):
    action = _action_copy(tmp_path)
    key = install.cache_key(str(action))
    assert key == install.cache_key(ROOT)
    assert key.startswith(f"voicebot-sync-wheels-v{install.CACHE_VERSION}-{sys.implementation.name}"
                          f"{sys.version_info[0]}{sys.version_info[1]}")
    assert install.sysconfig.get_platform().replace("-", "_") in key
    for lock in ("action-requirements.txt", os.path.join("action", "uv-requirements.txt")):
        with open(action / lock, "a", encoding="utf-8") as fh:
            fh.write("# changed\n")
        assert install.cache_key(str(action)) != key
        key = install.cache_key(str(action))


def test_the_folder_check_names_what_is_wrong_without_names(tmp_path):
    wheel = tmp_path / "w" / "good-1.0-py3-none-any.whl"
    wheel.parent.mkdir()
    wheel.write_bytes(b"wheel")
    pins = {"good==1.0": {sha256(wheel)}, "other==2.0": {"b" * 64}}
    assert install.check_wheels(str(wheel.parent), pins) == ["1 locked requirement(s) missing"]
    assert install.check_wheels(str(wheel.parent), {"good==1.0": {sha256(wheel)}}) == []
    (wheel.parent / "link.whl").symlink_to(wheel)
    (wheel.parent / "sub").mkdir()
    assert install.check_wheels(str(wheel.parent), {"good==1.0": {sha256(wheel)}}) == ["something other than a file"] * 2
