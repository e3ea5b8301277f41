"""The Action's supply chain and the examples' hardening, checked statically (issue 13), plus zizmor and
actionlint when they are installed (.ci/run installs both)."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys

import pytest
import yaml

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
EXAMPLES = sorted(os.path.join("examples", "github", f) for f in os.listdir(os.path.join(ROOT, "examples", "github"))
                  if f.endswith((".yml", ".yaml")))
PINNED = re.compile(r"^[\w.-]+/[\w./-]+@[0-9a-f]{40}$")


def load(path):
    with open(os.path.join(ROOT, path), encoding="utf-8") as fh:
        return yaml.safe_load(fh)


def raw(path):
    with open(os.path.join(ROOT, path), encoding="utf-8") as fh:
        return fh.read()


def uses_lines(path):
    """Every ``uses:`` line: (reference, trailing comment)."""
    return re.findall(r"^\s*(?:-\s+)?uses:\s*(\S+)\s*(#.*)?$", raw(path), re.M)


def test_every_uses_is_pinned_by_full_sha_with_its_version_in_a_comment():
    for path in ["action.yml", *EXAMPLES]:
        lines = uses_lines(path)
        assert lines, path
        for ref, comment in lines:
            assert PINNED.match(ref), f"{path}: {ref} is not pinned by a full commit SHA"
            assert re.match(r"#\s*v\d+(\.\d+)*", comment or ""), f"{path}: {ref} has no version comment"


def test_setup_python_leaves_the_job_alone_and_its_interpreter_runs_the_tool():
    steps = load("action.yml")["runs"]["steps"]
    (setup,) = [s for s in steps if s.get("uses", "").startswith("actions/setup-python@")]
    assert setup["with"]["update-environment"] is False and setup["id"] == "python"
    install = next(s for s in steps if s.get("id") == "install")
    assert install["env"]["VS_SETUP_PYTHON"] == "${{ steps.python.outputs.python-path }}"
    run = next(s for s in steps if s.get("id") == "run")
    assert run["env"]["VS_PYTHON"] == "${{ steps.install.outputs.python }}"
    assert run["run"].startswith('exec "$VS_PYTHON" -m voicebot_sync.github')


def test_no_expression_is_expanded_inside_a_script():
    """Inputs reach scripts through env: only (no template injection), and no step sets VOICEBOT_* itself."""
    for step in load("action.yml")["runs"]["steps"]:
        assert "${{" not in step.get("run", ""), step.get("name")
        assert not [k for k in step.get("env", {}) if k.startswith("VOICEBOT_")], step.get("name")
    for path in EXAMPLES:
        for job in load(path)["jobs"].values():
            for step in job["steps"]:
                assert "${{" not in step.get("run", ""), (path, step)


def test_the_install_step_runs_its_script_isolated_from_the_jobs_python():
    """-I: the job's PYTHONPATH and user site never reach the installer. tests/test_action_setup.py runs the
    step for real, with PIP_REQUIRE_VIRTUALENV=1 (a cache hit, a miss and a tampered cache)."""
    steps = load("action.yml")["runs"]["steps"]
    for step_id in ("wheels", "install"):
        step = next(s for s in steps if s.get("id") == step_id)
        assert step["run"] == f'"$VS_SETUP_PYTHON" -I "$ACTION_PATH/action/install.py" {step_id.replace("wheels", "key")}'
        assert step["env"] == {"ACTION_PATH": "${{ github.action_path }}",
                               "VS_SETUP_PYTHON": "${{ steps.python.outputs.python-path }}"}


# -- the examples ------------------------------------------------------------------------


def test_examples_grant_nothing_by_default_and_time_out():
    for path in EXAMPLES:
        workflow = load(path)
        assert workflow["permissions"] == {}, path
        for name, job in workflow["jobs"].items():
            assert isinstance(job.get("timeout-minutes"), int), (path, name)
            assert "permissions" in job and "write-all" not in json.dumps(job["permissions"]), (path, name)
            for step in job["steps"]:
                if step.get("uses", "").startswith("actions/checkout@"):
                    assert step["with"]["persist-credentials"] is False, (path, name)


def test_only_the_apply_job_on_the_default_branch_gets_the_production_key():
    for path in EXAMPLES:
        for name, job in load(path)["jobs"].items():
            text = json.dumps(job)
            if "secrets.VOICEBOT_API_KEY" in text:
                assert job.get("environment") == "production", (path, name)
                assert "default_branch" in job.get("if", ""), (path, name)
                assert job["permissions"] == {"contents": "read", "pull-requests": "read"}
            else:
                assert job.get("environment") is None, (path, name)
    plan = load("examples/github/plan.yml")
    assert "secrets.VOICEBOT_API_KEY" not in json.dumps(plan)
    assert plan["jobs"]["plan"]["permissions"] == {"contents": "read", "pull-requests": "write"}
    assert "secrets" not in json.dumps(plan["jobs"]["validate"])


def test_a_drift_example_uses_the_action():
    drift = load("examples/github/drift.yml")
    steps = [s for job in drift["jobs"].values() for s in job["steps"]]
    assert any(s.get("with", {}).get("command") == "drift" for s in steps)
    assert "schedule" in drift[True]


# -- linters --------------------------------------------------------------------------------


def _tool(name):
    exe = shutil.which(name) or os.path.join(os.path.dirname(sys.executable), name)
    if not os.path.exists(exe):
        pytest.skip(f"{name} is not installed (.ci/run installs it)")
    return exe


def test_zizmor_finds_nothing():
    proc = subprocess.run([_tool("zizmor"), "--offline", "--no-progress", "action.yml", *EXAMPLES], cwd=ROOT,
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stdout + proc.stderr


def test_actionlint_finds_nothing():
    proc = subprocess.run([_tool("actionlint"), *EXAMPLES], cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stdout + proc.stderr
