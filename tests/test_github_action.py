"""The action's steps run the way the runner runs them, against the emulator and a fake GitHub."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys

import pytest
import yaml

from voicebot_sync.emulator import Emulator, running
from voicebot_sync.github import FINGERPRINT_RE, Runner, annotation, comment_body

from conftest import KEY, write_workflow
from fake_github import FakeGitHub, serving

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
TOKEN = "ghs_faketoken"
SHA = "0123456789abcdef0123456789abcdef01234567"


def read_outputs(path) -> dict[str, str]:
    text = open(path, encoding="utf-8").read()
    return {m.group(1): m.group(3) for m in re.finditer(r"^(\S+?)<<(\S+)\n(.*?)\n\2$", text, re.S | re.M)}


def run_action(workspace, inputs: dict, *, event_name="pull_request", event=None, github_api="http://127.0.0.1:9"):
    """Each `run:` step of action.yml in bash, with its `env:` expanded from inputs — as the runner would.
    setup-python and the pip install are skipped: the package is installed in this venv."""
    action = yaml.safe_load(open(os.path.join(ROOT, "action.yml")))
    values = {name: str(spec.get("default", "")) for name, spec in action["inputs"].items()}
    values["github-token"] = TOKEN
    values.update(inputs)
    files = {name: workspace / name for name in ("output", "summary", "env", "event.json")}
    for path in files.values():
        path.write_text("")
    files["event.json"].write_text(json.dumps(event or {}))
    base = {
        "PATH": os.path.dirname(sys.executable) + os.pathsep + os.environ["PATH"], "HOME": str(workspace),
        "GITHUB_ACTIONS": "true", "GITHUB_OUTPUT": str(files["output"]), "GITHUB_STEP_SUMMARY": str(files["summary"]),
        "GITHUB_ENV": str(files["env"]), "GITHUB_EVENT_PATH": str(files["event.json"]), "GITHUB_EVENT_NAME": event_name,
        "GITHUB_REPOSITORY": "clinic/voicebot-workflows", "GITHUB_API_URL": github_api, "GITHUB_SHA": SHA,
        "RUNNER_TEMP": str(workspace), "PYTHONPATH": ROOT,
    }

    def expand(text: str) -> str:
        text = re.sub(r"\$\{\{\s*inputs\.([\w-]+)\s*\}\}", lambda m: values[m.group(1)], str(text))
        return text.replace("${{ github.action_path }}", ROOT).replace("${{ github.token }}", TOKEN)

    log, code = "", 0
    for step in action["runs"]["steps"]:
        if "run" not in step or "pip install" in step["run"]:
            continue
        env = {**base, **{k: expand(v) for k, v in step.get("env", {}).items()}}
        proc = subprocess.run(["bash", "-e", "-c", expand(step["run"])], env=env, cwd=workspace, capture_output=True, text=True)
        log += proc.stdout + proc.stderr
        code = proc.returncode
        if code:
            break
    return code, log, read_outputs(files["output"]), files["summary"].read_text()


@pytest.fixture
def repo(tmp_path):
    d = tmp_path / "workflows"
    write_workflow(d, "Appointment reminder", "Hello [name], see you on [date].")
    write_workflow(d, "Refill ready", "Your refill is ready.")
    return tmp_path


@pytest.fixture
def api_url():
    emulator = Emulator(api_keys=[KEY])
    with running(emulator) as url:
        yield url, emulator


@pytest.fixture
def github():
    fake = FakeGitHub(TOKEN)
    with serving(fake) as url:
        yield url, fake


def inputs_for(url, **more):
    return {"api-url": url, "api-key": KEY, "rate-limit": "off", **more}


def pr_event(number=7):
    return {"number": number, "pull_request": {"number": number}}


def assert_no_key(*texts):
    for text in texts:
        assert KEY not in (text if isinstance(text, str) else json.dumps(text))


# -- pure parts ------------------------------------------------------------------


def test_annotation_escapes_like_the_runner_expects():
    assert annotation("error", "wf/a,b:c.yaml", 3, "50% bad\nline") == "::error file=wf/a%2Cb%3Ac.yaml,line=3::50%25 bad%0Aline"


def test_outputs_are_multiline_safe(tmp_path):
    out = tmp_path / "out"
    out.write_text("")
    runner = Runner({"GITHUB_OUTPUT": str(out)})
    runner.set_output("plan", "line one\nline two")
    runner.set_output("changes", True)
    assert read_outputs(out) == {"plan": "line one\nline two", "changes": "true"}


def test_action_and_examples_match_githubs_schemas():
    exe = shutil.which("check-jsonschema") or os.path.join(os.path.dirname(sys.executable), "check-jsonschema")
    if not os.path.exists(exe):
        pytest.skip("check-jsonschema is not installed (pip install -e '.[test]')")
    for schema, files in (("vendor.github-actions", ["action.yml"]),
                          ("vendor.github-workflows", sorted(f"examples/github/{f}" for f in os.listdir(os.path.join(ROOT, "examples/github"))))):
        proc = subprocess.run([exe, "--builtin-schema", schema, *files], cwd=ROOT, capture_output=True, text=True)
        assert proc.returncode == 0, proc.stdout + proc.stderr


# -- validate ----------------------------------------------------------------------


def test_validate_annotates_each_problem(tmp_path):
    d = tmp_path / "workflows"
    d.mkdir()
    (d / "bad.yaml").write_text("name: Bad\nmesage: typo\n")
    code, log, outputs, _ = run_action(tmp_path, {"command": "validate"})
    assert code == 1 and outputs["exit-code"] == "1"
    assert "::error file=workflows/bad.yaml,line=2::unknown key 'mesage' (did you mean 'message'?)" in log


# -- plan --------------------------------------------------------------------------


def test_plan_writes_outputs_summary_and_one_comment_kept_current(repo, api_url, github):
    url, emulator = api_url
    gh_url, fake = github
    code, log, outputs, summary = run_action(repo, inputs_for(url), event=pr_event(), github_api=gh_url)
    assert code == 0, log
    assert outputs["changes"] == "true" and outputs["create"] == "2" and outputs["update"] == "0" and outputs["delete"] == "0"
    plan = json.load(open(outputs["plan-file"]))
    assert outputs["plan-fingerprint"] == plan["plan_fingerprint"]
    assert "**Plan: 2 to add, 0 to change, 0 to destroy.**" in summary and "Plan comment created on #7" in summary
    (comment,) = fake.comments[7]
    assert FINGERPRINT_RE.search(comment["body"]).group(1) == plan["plan_fingerprint"]
    assert f"::add-mask::{KEY}" in log

    write_workflow(repo / "workflows", "Lab results", "Your results are in.")
    code, log, outputs, summary = run_action(repo, inputs_for(url), event=pr_event(), github_api=gh_url)
    assert code == 0 and outputs["create"] == "3"
    (comment,) = fake.comments[7]  # updated, not a second comment
    assert "Plan: 3 to add" in comment["body"] and "Plan comment updated on #7" in summary
    assert_no_key(summary, comment["body"], outputs, open(outputs["plan-file"]).read(), log.replace(f"::add-mask::{KEY}", ""))


def test_plan_from_a_fork_says_it_cannot_comment_and_does_not_fail(repo, api_url, github):
    url, _ = api_url
    gh_url, fake = github
    fake.forbid_writes = True
    code, log, outputs, summary = run_action(repo, inputs_for(url), event=pr_event(), github_api=gh_url)
    assert code == 0 and outputs["changes"] == "true"
    assert "may not comment on #7 (HTTP 403" in summary and fake.comments == {}


def test_a_long_plan_is_cut_to_the_comment_limit_with_a_pointer(repo, api_url, github):
    url, _ = api_url
    gh_url, fake = github
    for i in range(120):
        write_workflow(repo / "workflows", f"Long {i:03}", "x" * 900)
    code, log, outputs, summary = run_action(repo, inputs_for(url), event=pr_event(), github_api=gh_url)
    assert code == 0
    body = fake.comments[7][0]["body"]
    assert len(body) <= 65_536 and "the full plan is in the job summary" in body and body.count("```") % 2 == 0
    assert len(summary) > 65_536  # the summary holds it all


def test_invalid_definitions_fail_the_plan_with_annotations(repo, api_url):
    url, emulator = api_url
    (repo / "workflows" / "bad.yaml").write_text("name: Bad\nworkflow_type: ROBOCOP\nmessage: m\n")
    code, log, outputs, summary = run_action(repo, inputs_for(url), event=pr_event())
    assert code == 1 and "::error file=workflows/bad.yaml,line=2::" in log
    assert emulator.stats["requests"] == 0


# -- apply -------------------------------------------------------------------------


def reviewed(fake, repo, url, gh_url):
    """Plan on PR #7, then merge it as SHA."""
    code, log, outputs, _ = run_action(repo, inputs_for(url), event=pr_event(), github_api=gh_url)
    assert code == 0, log
    fake.pulls[SHA] = [{"number": 7, "merge_commit_sha": SHA, "merged_at": "2026-11-25T00:00:00Z"}]
    return outputs["plan-fingerprint"]


def test_apply_on_merge_applies_the_reviewed_plan(repo, api_url, github):
    url, emulator = api_url
    gh_url, fake = github
    reviewed(fake, repo, url, gh_url)
    code, log, outputs, summary = run_action(repo, inputs_for(url, command="apply"), event_name="push", github_api=gh_url)
    assert code == 0, log
    assert outputs["complete"] == "true" and outputs["create"] == "2" and outputs["exit-code"] == "0"
    assert "Applying only changes reviewed on #7" in summary and "**Complete:** 2 created" in summary
    assert len(emulator.workflows) == 2
    assert_no_key(summary, outputs, log.replace(f"::add-mask::{KEY}", ""))


def test_apply_refuses_a_plan_that_differs_from_the_reviewed_one(repo, api_url, github):
    url, emulator = api_url
    gh_url, fake = github
    reviewed(fake, repo, url, gh_url)
    emulator.add_workflow(name="Refill ready", message="someone made it by hand meanwhile")
    code, log, outputs, summary = run_action(repo, inputs_for(url, command="apply"), event_name="push", github_api=gh_url)
    assert code == 1 and outputs["exit-code"] == "1" and outputs["complete"] == "false"
    assert "Refusing to apply: 1 change(s) are not in the plan reviewed on #7, e.g. update `Refill ready`" in summary
    assert "::error::Refusing to apply" in log and "The plan it would have applied" in summary
    assert len(emulator.workflows) == 1  # nothing changed
    code, log, outputs, summary = run_action(repo, inputs_for(url, command="apply", **{"allow-plan-change": "true"}),
                                             event_name="push", github_api=gh_url)
    assert code == 0 and "allow-plan-change is true" in summary
    assert sorted(w["name"] for w in emulator.workflows) == ["Appointment reminder", "Refill ready"]


def test_direct_push_applies_and_says_so(repo, api_url, github):
    url, emulator = api_url
    gh_url, _ = github
    code, log, outputs, summary = run_action(repo, inputs_for(url, command="apply"), event_name="push", github_api=gh_url)
    assert code == 0 and "No pull request found for this commit" in summary and len(emulator.workflows) == 2


@pytest.mark.parametrize("fail_on_incomplete,expected", [("false", 0), ("true", 3)])
def test_apply_that_runs_out_of_time_reports_incomplete(repo, api_url, github, fail_on_incomplete, expected):
    url, emulator = api_url
    gh_url, _ = github
    for i in range(3):
        write_workflow(repo / "workflows", f"Extra {i}", "m")
    inputs = inputs_for(url, command="apply", **{"rate-limit": "3/1m", "max-duration": "2s", "fail-on-incomplete": fail_on_incomplete})
    code, log, outputs, summary = run_action(repo, inputs, event_name="workflow_dispatch", github_api=gh_url)
    assert code == expected, log
    assert outputs["complete"] == "false" and outputs["exit-code"] == "3"
    assert "Not started (time budget" in summary and "Run the apply workflow again" in summary
    # The apply process paces itself: its list + 2 creates fill the 3/1m window; the rest could not start within 2s.
    assert len(emulator.workflows) == 2


def test_a_rerun_after_a_partial_apply_applies_what_remains_of_the_reviewed_plan(repo, api_url, github):
    url, emulator = api_url
    gh_url, fake = github
    for i in range(3):
        write_workflow(repo / "workflows", f"Extra {i}", "m")
    reviewed(fake, repo, url, gh_url)
    first = run_action(repo, inputs_for(url, command="apply", **{"rate-limit": "3/1m", "max-duration": "2s"}),
                       event_name="push", github_api=gh_url)
    assert first[0] == 0 and first[2]["complete"] == "false" and len(emulator.workflows) == 2
    code, log, outputs, summary = run_action(repo, inputs_for(url, command="apply"), event_name="push", github_api=gh_url)
    assert code == 0 and outputs["complete"] == "true" and outputs["create"] == "3", summary
    assert len(emulator.workflows) == 5


def test_a_pr_without_a_plan_comment_is_refused(repo, api_url, github):
    url, emulator = api_url
    gh_url, fake = github
    fake.pulls[SHA] = [{"number": 9, "merge_commit_sha": SHA, "merged_at": "2026-11-25T00:00:00Z"}]
    code, log, outputs, summary = run_action(repo, inputs_for(url, command="apply"), event_name="push", github_api=gh_url)
    assert code == 1 and "#9 carries no reviewed voicebot-sync plan" in summary and emulator.workflows == []
