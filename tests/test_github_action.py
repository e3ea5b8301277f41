"""The action's steps run the way the runner runs them, against the emulator and a fake GitHub.

``run_action`` reads action.yml and runs each ``run:`` step in bash, with the step's
``env:`` expanded from the inputs, in a temporary workspace with the runner's files
(a GITHUB_OUTPUT of each step's own, GITHUB_STEP_SUMMARY, GITHUB_ENV, GITHUB_EVENT_PATH). setup-python,
the steps that set the tool up (``wheels``, which names the wheel cache, and ``install``) and the cache steps
(``uses:``) are skipped: the package is installed in this venv, whose interpreter stands in for the outputs of
both (``python-path``, the install step's ``python``); every other step's outputs feed the later steps'
``${{ steps.ID.outputs.NAME }}``. tests/test_action_setup.py runs the set-up steps themselves.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import signal
import subprocess
import sys
import time

import pytest
import yaml

from voicebot_sync.emulator import Emulator, running
from voicebot_sync.github.comment import CHANGES_RE, FINGERPRINT_RE, REMOTE_RE

from conftest import KEY, write_workflow
from fake_github import FakeGitHub, serving

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
# What the Action's environment lacks of this venv's (tests/action_env: rich and pygments, which the test
# tools bring and httpx would load).
ACTION_ENV = os.path.join(ROOT, "tests", "action_env")
SETUP_STEPS = ("wheels", "install")  # the tool's set-up: tests/test_action_setup.py runs them
TOKEN = "ghs_faketoken"
SHA = "0123456789abcdef0123456789abcdef01234567"
RUN_URL = "https://github.com/clinic/voicebot-workflows/actions/runs/4242"


def read_outputs(path) -> dict[str, str]:
    text = open(path, encoding="utf-8").read()
    return {m.group(1): m.group(3) for m in re.finditer(r"^(\S+?)<<(\S+)\n(.*?)\n\2$", text, re.S | re.M)}


def load_action() -> dict:
    with open(os.path.join(ROOT, "action.yml"), encoding="utf-8") as fh:
        return yaml.safe_load(fh)


def step_number(step_id: str) -> int:
    """The place of a step in action.yml (its GITHUB_OUTPUT is ``.output<number>`` in run_action)."""
    return [s.get("id") for s in load_action()["runs"]["steps"]].index(step_id)


def run_action(workspace, inputs: dict, *, event_name="pull_request", event=None, github_api="http://127.0.0.1:9",
               cancel_when=None, job_env=None, steps_seen=None):
    """Each `run:` step of action.yml as the runner runs it (bash --noprofile --norc -eo pipefail FILE);
    returns (exit code, log, outputs, summary). With ``cancel_when``, the last step is cancelled as
    GitHub cancels a job: SIGINT to the step's process alone, once ``cancel_when()`` is true. ``job_env``:
    variables set at job level (a step's own ``env:`` entries override them, empty ones too)."""
    action = load_action()
    values = {name: str(spec.get("default", "")) for name, spec in action["inputs"].items()}
    values["github-token"] = TOKEN
    values.update(inputs)
    files = {name: workspace / name for name in ("output", "summary", "env", "event.json")}
    steps_seen = {} if steps_seen is None else steps_seen
    for path in files.values():
        path.write_text("")
    files["event.json"].write_text(json.dumps(event or {}))
    base = {
        "PATH": os.path.dirname(sys.executable) + os.pathsep + os.environ["PATH"], "HOME": str(workspace),
        "GITHUB_ACTIONS": "true", "GITHUB_OUTPUT": str(files["output"]), "GITHUB_STEP_SUMMARY": str(files["summary"]),
        "GITHUB_ENV": str(files["env"]), "GITHUB_EVENT_PATH": str(files["event.json"]), "GITHUB_EVENT_NAME": event_name,
        "GITHUB_REPOSITORY": "clinic/voicebot-workflows", "GITHUB_API_URL": github_api, "GITHUB_SHA": SHA,
        "GITHUB_SERVER_URL": "https://github.com", "GITHUB_RUN_ID": "4242", "GITHUB_RUN_ATTEMPT": "1",
        "RUNNER_TEMP": str(workspace), "PYTHONPATH": os.pathsep.join([ROOT, ACTION_ENV]), "GITHUB_ACTION": "__voicebot-sync",
        **(job_env or {}),
    }
    step_outputs = {"python.python-path": sys.executable, "install.python": sys.executable}

    def expand(text: str) -> str:
        text = re.sub(r"\$\{\{\s*inputs\.([\w-]+)\s*\}\}", lambda m: values[m.group(1)], str(text))
        text = re.sub(r"\$\{\{\s*steps\.([\w-]+)\.outputs\.([\w-]+)\s*\}\}",
                      lambda m: step_outputs.get(f"{m.group(1)}.{m.group(2)}", ""), text)
        return text.replace("${{ github.action_path }}", ROOT).replace("${{ github.token }}", TOKEN)

    log, code = "", 0
    for number, step in enumerate(action["runs"]["steps"]):
        if "run" not in step or step.get("id") in SETUP_STEPS:
            continue
        script = workspace / f".step{number}.sh"
        script.write_text(expand(step["run"]))
        # The runner gives each step a fresh GITHUB_OUTPUT; the command step's is the one returned.
        output = files["output"] if step.get("id") == "run" else workspace / f".output{number}"
        output.write_text("")
        env = {**base, "GITHUB_OUTPUT": str(output), **{k: expand(v) for k, v in step.get("env", {}).items()}}
        proc = subprocess.Popen(["bash", "--noprofile", "--norc", "-eo", "pipefail", str(script)],
                                env=env, cwd=workspace, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        if cancel_when and step.get("id") == "run":
            deadline = time.monotonic() + 20
            while not cancel_when() and time.monotonic() < deadline:
                time.sleep(0.05)
            proc.send_signal(signal.SIGINT)
        log += proc.communicate(timeout=60)[0]
        code = proc.returncode
        for name, value in read_outputs(output).items():
            step_outputs[f"{step.get('id')}.{name}"] = value
        steps_seen[step.get("id") or f"step{number}"] = env
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


HEAD = "feedface" + "0" * 32


def pr_event(number=7):
    return {"number": number, "pull_request": {"number": number, "head": {"sha": HEAD}}}


def unmasked(log: str) -> str:
    """The log as the runner shows it, minus the line that registers the mask."""
    return log.replace(f"::add-mask::{KEY}", "")


def assert_no_key(*texts):
    for text in texts:
        assert KEY not in (text if isinstance(text, str) else json.dumps(text))


# -- the metadata ----------------------------------------------------------------


def test_action_and_examples_match_githubs_schemas():
    # check-jsonschema ships GitHub's schemas (vendor.*), so this needs no network.
    exe = shutil.which("check-jsonschema") or os.path.join(os.path.dirname(sys.executable), "check-jsonschema")
    if not os.path.exists(exe):
        pytest.skip("check-jsonschema is not installed (pip install -e '.[test]')")
    examples = sorted(f"examples/github/{f}" for f in os.listdir(os.path.join(ROOT, "examples/github")))
    assert examples
    for schema, files in (("vendor.github-actions", ["action.yml"]), ("vendor.github-workflows", examples)):
        proc = subprocess.run([exe, "--builtin-schema", schema, *files], cwd=ROOT, capture_output=True, text=True)
        assert proc.returncode == 0, proc.stdout + proc.stderr


def test_every_input_and_output_is_described_and_the_key_only_travels_in_env():
    action = load_action()
    assert action["branding"]["icon"] and action["branding"]["color"]
    for name, spec in {**action["inputs"], **action["outputs"]}.items():
        assert spec.get("description"), name
    assert action["inputs"]["github-token"]["default"] == "${{ github.token }}"
    assert action["inputs"]["max-duration"]["default"] == "5h30m"
    steps = action["runs"]["steps"]
    assert "add-mask" in steps[0]["run"]  # masked before anything else runs
    for step in steps:
        # The key is never expanded into a command line, only into env:.
        assert "inputs.api-key" not in json.dumps({k: v for k, v in step.items() if k != "env"})
    assert any(s.get("uses", "").startswith("actions/setup-python@") for s in steps)
    assert any("github.action_path" in json.dumps(s.get("env", {})) and "install.py" in s.get("run", "") for s in steps)


def test_the_examples_use_concurrency_and_narrow_permissions():
    plan = yaml.safe_load(open(os.path.join(ROOT, "examples/github/plan.yml")))
    apply = yaml.safe_load(open(os.path.join(ROOT, "examples/github/apply.yml")))
    assert plan["concurrency"]["cancel-in-progress"] is True
    assert apply["concurrency"]["cancel-in-progress"] is False and "pull_request" not in apply[True]
    assert plan["permissions"] == {} and apply["permissions"] == {}  # each job asks for its own
    assert plan["jobs"]["plan"]["permissions"] == {"contents": "read", "pull-requests": "write"}
    assert apply["jobs"]["apply"]["permissions"] == {"contents": "read", "pull-requests": "read"}
    assert "schedule" in apply[True]  # the follow-up for applies that ran out of time


# -- validate ----------------------------------------------------------------------


def test_validate_annotates_each_problem(tmp_path):
    d = tmp_path / "workflows"
    d.mkdir()
    (d / "bad.yaml").write_text("name: Bad\nmesage: typo\n")
    code, log, outputs, summary = run_action(tmp_path, {"command": "validate"})
    assert code == 1 and outputs["exit-code"] == "1"
    assert "::error file=workflows/bad.yaml,line=2::unknown key 'mesage' (did you mean 'message'?)" in log
    assert "### voicebot-sync validate" in summary and "workflows/bad.yaml:2: unknown key 'mesage'" in summary


def test_validate_passes_quietly(repo):
    code, log, outputs, summary = run_action(repo, {"command": "validate"})
    assert code == 0 and outputs["exit-code"] == "0" and "::error" not in log
    assert "2 definitions in 2 files: valid." in summary


# -- plan --------------------------------------------------------------------------


def test_plan_writes_outputs_summary_and_one_comment_kept_current(repo, api_url, github):
    url, emulator = api_url
    gh_url, fake = github
    code, log, outputs, summary = run_action(repo, inputs_for(url), event=pr_event(), github_api=gh_url)
    assert code == 0, log
    assert outputs["changes"] == "true" and outputs["create"] == "2" and outputs["update"] == "0" and outputs["delete"] == "0"
    assert outputs["exit-code"] == "0"
    plan = json.load(open(outputs["plan-file"]))
    assert outputs["plan-fingerprint"] == plan["plan_fingerprint"]
    assert "**Plan: 2 to add, 0 to change, 0 to destroy.**" in summary and "Plan comment created on #7" in summary
    assert "Apply needs 3 requests" in summary and "<details>" in summary
    (comment,) = fake.comments[7]
    body = comment["body"]
    assert body.startswith("<!-- voicebot-sync-plan:default:workflows -->\n")
    assert FINGERPRINT_RE.search(body).group(1) == plan["plan_fingerprint"]
    assert CHANGES_RE.search(body).group(1).split() == [c["fingerprint"] for c in plan["changes"]]
    assert f"[job summary]({RUN_URL})" in body and "Plan of commit `feedfac`" in body
    assert log.index(f"::add-mask::{KEY}") == 0  # masked before anything else

    write_workflow(repo / "workflows", "Lab results", "Your results are in.")
    code, log, outputs, summary = run_action(repo, inputs_for(url), event=pr_event(), github_api=gh_url)
    assert code == 0 and outputs["create"] == "3"
    (comment,) = fake.comments[7]  # updated, not a second comment
    assert "Plan: 3 to add" in comment["body"] and "Plan comment updated on #7" in summary
    assert_no_key(summary, comment["body"], outputs, open(outputs["plan-file"]).read(), unmasked(log))
    assert emulator.stats["requests"] == 2  # one list per plan, nothing else


def test_plan_without_changes(repo, api_url, github):
    url, emulator = api_url
    gh_url, fake = github
    emulator.add_workflow(name="Appointment reminder", message="Hello [name], see you on [date].")
    emulator.add_workflow(name="Refill ready", message="Your refill is ready.")
    code, log, outputs, summary = run_action(repo, inputs_for(url), event=pr_event(), github_api=gh_url)
    assert code == 0 and outputs["changes"] == "false" and outputs["exit-code"] == "0"
    assert "No changes. The remote matches the definitions." in fake.comments[7][0]["body"]


def test_two_environments_keep_two_comments(repo, api_url, github, tmp_path):
    url, _ = api_url
    gh_url, fake = github
    config = repo / "voicebot-sync.yaml"
    config.write_text("environments:\n  staging: {}\n  production: {}\n")
    for env in ("staging", "production", "staging"):
        code, log, _, _ = run_action(repo, inputs_for(url, environment=env), event=pr_event(), github_api=gh_url)
        assert code == 0, log
    bodies = [c["body"] for c in fake.comments[7]]
    assert len(bodies) == 2
    assert bodies[0].startswith("<!-- voicebot-sync-plan:staging:workflows -->")
    assert bodies[1].startswith("<!-- voicebot-sync-plan:production:workflows -->")


def test_plan_from_a_fork_says_it_cannot_comment_and_does_not_fail(repo, api_url, github):
    url, _ = api_url
    gh_url, fake = github
    fake.forbid_writes = True
    code, log, outputs, summary = run_action(repo, inputs_for(url), event=pr_event(), github_api=gh_url)
    assert code == 0 and outputs["changes"] == "true"
    assert "may not comment on #7 (HTTP 403" in summary and fake.comments == {}
    assert "**Plan: 2 to add" in summary  # the plan is still in the summary


def test_a_fork_without_the_secret_gets_a_clear_summary(repo, github):
    gh_url, _ = github
    code, log, outputs, summary = run_action(repo, {"api-url": "https://voicebot.example.org/voicebot/v1"},
                                             event=pr_event(), github_api=gh_url)
    assert code == 1 and outputs["exit-code"] == "1"
    assert "### voicebot-sync plan failed" in summary and "no API key" in summary
    assert "forks get no secrets" in summary
    assert "::error title=voicebot-sync plan::no API key" in log


def test_a_long_plan_is_cut_to_the_comment_limit_with_a_pointer(repo, api_url, github):
    url, _ = api_url
    gh_url, fake = github
    for i in range(120):
        write_workflow(repo / "workflows", f"Long {i:03}", "x" * 900)
    code, log, outputs, summary = run_action(repo, inputs_for(url), event=pr_event(), github_api=gh_url)
    assert code == 0
    body = fake.comments[7][0]["body"]
    assert len(body) <= 65_536 and body.count("```") % 2 == 0
    assert "_The plan is cut here to fit; the full plan is in the job summary._" in body  # render's own cut
    assert f"Full plan: the [job summary]({RUN_URL})" in body
    assert len(CHANGES_RE.search(body).group(1).split()) == 122  # every change's hash survives the cut
    assert len(summary) > 65_536 and "cut here" not in summary  # the summary holds it all


def test_invalid_definitions_fail_the_plan_with_annotations(repo, api_url):
    url, emulator = api_url
    (repo / "workflows" / "bad.yaml").write_text("name: Bad\nworkflow_type: ROBOCOP\nmessage: m\n")
    code, log, outputs, summary = run_action(repo, inputs_for(url), event=pr_event())
    assert code == 1 and "::error file=workflows/bad.yaml,line=2::" in log
    assert "::error title=" not in log  # the per-line annotations say it all
    assert "### voicebot-sync plan failed" in summary
    assert emulator.stats["requests"] == 0


def test_a_failed_plan_replaces_the_comment_and_leaves_nothing_to_apply(repo, api_url, github):
    url, emulator = api_url
    gh_url, fake = github
    reviewed(fake, repo, url, gh_url)
    (repo / "workflows" / "bad.yaml").write_text("name: Bad\nmesage: typo\n")
    code, log, outputs, summary = run_action(repo, inputs_for(url), event=pr_event(), github_api=gh_url)
    assert code == 1 and "Plan comment updated on #7" in summary
    (comment,) = fake.comments[7]
    body = comment["body"]
    assert "### voicebot-sync plan failed" in body and "The latest plan for commit `feedfac` failed" in body
    assert "- `workflows/bad.yaml:2: unknown key 'mesage' (did you mean 'message'?)`" in body
    assert not FINGERPRINT_RE.search(body) and not CHANGES_RE.search(body)
    code, log, outputs, summary = run_action(repo, apply_inputs(url), event_name="push", github_api=gh_url)
    assert code == 1 and "#7 carries no reviewed voicebot-sync plan" in summary and emulator.workflows == []


def test_comment_false_posts_nothing(repo, api_url, github):
    url, _ = api_url
    gh_url, fake = github
    code, _, _, summary = run_action(repo, inputs_for(url, comment="false"), event=pr_event(), github_api=gh_url)
    assert code == 0 and fake.requests == [] and "Plan comment" not in summary


# -- apply -------------------------------------------------------------------------


def reviewed(fake, repo, url, gh_url, number=7):
    """Plan on PR #number, then merge it as SHA."""
    code, log, outputs, _ = run_action(repo, inputs_for(url), event=pr_event(number), github_api=gh_url)
    assert code == 0, log
    fake.pulls[SHA] = [{"number": number, "merge_commit_sha": SHA, "merged_at": "2026-11-25T00:00:00Z"}]
    return outputs["plan-fingerprint"]


def apply_inputs(url, **more):
    return inputs_for(url, command="apply", **more)


def test_apply_on_merge_applies_the_reviewed_plan(repo, api_url, github):
    url, emulator = api_url
    gh_url, fake = github
    fingerprint = reviewed(fake, repo, url, gh_url)
    code, log, outputs, summary = run_action(repo, apply_inputs(url), event_name="push", github_api=gh_url)
    assert code == 0, log
    assert outputs["complete"] == "true" and outputs["create"] == "2" and outputs["exit-code"] == "0"
    assert outputs["remaining"] == "0" and outputs["failed"] == "0" and outputs["plan-fingerprint"] == fingerprint
    assert f"Reviewed on #7: this is exactly the reviewed plan (`{fingerprint[:19]}…`)" in summary
    assert "Apply complete: 2 created, 0 updated, 0 deleted, 0 failed, 0 remaining." in summary
    assert "<summary>Done (2)</summary>" in summary and '+ created "Refill ready"' in summary
    assert len(emulator.workflows) == 2
    assert fake.writes() == [("POST", "/repos/clinic/voicebot-workflows/issues/7/comments")]  # apply writes nothing
    assert_no_key(summary, outputs, unmasked(log), open(outputs["plan-file"]).read())


def test_apply_refuses_a_plan_that_differs_from_the_reviewed_one(repo, api_url, github):
    url, emulator = api_url
    gh_url, fake = github
    reviewed(fake, repo, url, gh_url)
    emulator.add_workflow(name="Refill ready", message="someone made it by hand meanwhile")
    code, log, outputs, summary = run_action(repo, apply_inputs(url), event_name="push", github_api=gh_url)
    assert code == 1 and outputs["exit-code"] == "1" and outputs["complete"] == "false"
    assert "### voicebot-sync apply refused" in summary
    assert "**Refusing to apply** (nothing was changed)" in summary
    assert '1 change not in the reviewed plan' in summary and 'update "Refill ready"' in summary
    assert "::error title=voicebot-sync apply::Refusing to apply" in log and "The plan it would have applied" in summary
    assert len(emulator.workflows) == 1  # nothing changed
    code, log, outputs, summary = run_action(repo, apply_inputs(url, **{"allow-plan-change": "true"}),
                                             event_name="push", github_api=gh_url)
    assert code == 0 and "`allow-plan-change` is true" in summary
    assert sorted(w["name"] for w in emulator.workflows) == ["Appointment reminder", "Refill ready"]


def test_a_plan_comment_with_only_a_fingerprint_needs_exactly_that_plan(repo, api_url, github):
    """Plans too big for per-change hashes carry the fingerprint alone: apply compares whole plans."""
    url, emulator = api_url
    gh_url, fake = github
    reviewed(fake, repo, url, gh_url)
    comment = fake.comments[7][0]
    comment["body"] = CHANGES_RE.sub("", comment["body"])
    emulator.add_workflow(name="Made by hand", message="m")  # unmanaged: not part of the plan's changes
    code, log, outputs, summary = run_action(repo, apply_inputs(url), event_name="push", github_api=gh_url)
    assert code == 0, log
    assert "this is exactly the reviewed plan" in summary and len(emulator.workflows) == 3

    write_workflow(repo / "workflows", "Lab results", "Your results are in.")
    code, log, outputs, summary = run_action(repo, apply_inputs(url), event_name="push", github_api=gh_url)
    assert code == 1 and "is not the plan reviewed on #7" in summary and len(emulator.workflows) == 3


def test_direct_push_applies_and_says_so(repo, api_url, github):
    url, emulator = api_url
    gh_url, _ = github
    code, log, outputs, summary = run_action(repo, apply_inputs(url), event_name="push", github_api=gh_url)
    assert code == 0 and "No pull request found for commit `0123456` (a direct push)" in summary
    assert len(emulator.workflows) == 2


def test_a_pr_without_a_plan_comment_is_refused(repo, api_url, github):
    url, emulator = api_url
    gh_url, fake = github
    fake.pulls[SHA] = [{"number": 9, "merge_commit_sha": SHA, "merged_at": "2026-11-25T00:00:00Z"}]
    fake.add_comment(9, "LGTM")
    code, log, outputs, summary = run_action(repo, apply_inputs(url), event_name="push", github_api=gh_url)
    assert code == 1 and "#9 carries no reviewed voicebot-sync plan for `default:workflows`" in summary
    assert emulator.workflows == []


def test_apply_refuses_when_github_cannot_be_read(repo, api_url, github):
    url, emulator = api_url
    gh_url, fake = github
    fake.fail[("GET", r"/repos/.*/commits/.*/pulls")] = 403
    code, log, outputs, summary = run_action(repo, apply_inputs(url), event_name="push", github_api=gh_url)
    assert code == 1 and "could not read the reviewed plan" in summary and "HTTP 403" in summary
    assert emulator.workflows == []


@pytest.mark.parametrize("fail_on_incomplete,expected", [("false", 0), ("true", 3)])
def test_apply_that_runs_out_of_time_reports_incomplete(repo, api_url, github, fail_on_incomplete, expected):
    url, emulator = api_url
    gh_url, _ = github
    for i in range(3):
        write_workflow(repo / "workflows", f"Extra {i}", "m")
    inputs = apply_inputs(url, **{"rate-limit": "3/1m", "max-duration": "2s", "fail-on-incomplete": fail_on_incomplete})
    code, log, outputs, summary = run_action(repo, inputs, event_name="workflow_dispatch", github_api=gh_url)
    assert code == expected, log
    assert outputs["complete"] == "false" and outputs["exit-code"] == "3" and outputs["remaining"] == "3"
    assert "Apply stopped: 2 created" in summary and "Not started (3)" in summary and "Stopped: time budget" in summary
    assert "Run apply again to finish" in summary
    assert "::warning title=voicebot-sync apply::Apply stopped before finishing (3 remaining)" in log
    # The apply process paces itself: its list + 2 creates fill the 3/1m window; the rest could not start within 2s.
    assert len(emulator.workflows) == 2


def test_a_cancelled_apply_stops_cleanly_and_reports_what_remains(repo, api_url, github):
    url, emulator = api_url
    gh_url, _ = github
    write_workflow(repo / "workflows", "Extra", "m")
    # list + one create fill the 2/1m window; the next create waits a minute, and the job is cancelled meanwhile.
    started = time.monotonic()
    code, log, outputs, summary = run_action(repo, apply_inputs(url, **{"rate-limit": "2/1m"}), event_name="push",
                                             github_api=gh_url, cancel_when=lambda: emulator.stats["writes"] >= 1)
    assert time.monotonic() - started < 15
    assert code == 0, log
    assert outputs["complete"] == "false" and outputs["exit-code"] == "3" and outputs["remaining"] == "2"
    assert "Stopped: SIGINT received" in summary and "Not started (2)" in summary and len(emulator.workflows) == 1


def test_the_scheduled_follow_up_finishes_the_reviewed_plan_and_nothing_else(repo, api_url, github):
    url, emulator = api_url
    gh_url, fake = github
    for i in range(3):
        write_workflow(repo / "workflows", f"Extra {i}", "m")
    reviewed(fake, repo, url, gh_url)
    first = run_action(repo, apply_inputs(url, **{"rate-limit": "3/1m", "max-duration": "2s"}),
                       event_name="push", github_api=gh_url)
    assert first[0] == 0 and first[2]["complete"] == "false" and len(emulator.workflows) == 2
    # The hourly run (GITHUB_SHA: the default branch's head, the same merge) applies what remains of the review.
    code, log, outputs, summary = run_action(repo, apply_inputs(url), event_name="schedule", github_api=gh_url)
    assert code == 0 and outputs["complete"] == "true" and outputs["create"] == "3", summary
    assert "3 of its 5 changes remain (the others were applied already)" in summary
    assert len(emulator.workflows) == 5
    # In sync: the next run changes nothing.
    code, log, outputs, summary = run_action(repo, apply_inputs(url), event_name="schedule", github_api=gh_url)
    assert code == 0 and outputs["changes"] == "false" and "**No changes.**" in summary
    # A hand edit in the dashboard was never reviewed: the scheduled run refuses to overwrite it.
    emulator.add_workflow(name="Extra 9", message="m")
    (repo / "workflows" / "extra-9.yaml").write_text('name: "Extra 9"\nmessage: changed\n')
    code, log, outputs, summary = run_action(repo, apply_inputs(url), event_name="schedule", github_api=gh_url)
    assert code == 1 and '1 change not in the reviewed plan' in summary and 'update "Extra 9"' in summary


def test_the_docs_show_the_examples_and_every_input_and_output():
    docs = open(os.path.join(ROOT, "docs/github-action.md"), encoding="utf-8").read()
    for name in ("plan.yml", "apply.yml", "drift.yml", "merge-queue.yml"):
        example = open(os.path.join(ROOT, "examples/github", name), encoding="utf-8").read()
        assert f"```yaml\n{example}```" in docs, name
    action = load_action()
    for name in action["inputs"]:
        assert f"| `{name}` |" in docs, name
    for name in action["outputs"]:
        assert f"| `{name}` |" in docs, name


def test_apply_with_a_wrong_key_fails_with_one_clear_line(repo, api_url, github):
    url, emulator = api_url
    gh_url, _ = github
    code, log, outputs, summary = run_action(repo, {**apply_inputs(url), "api-key": "vbk-wrong-key"},
                                             event_name="push", github_api=gh_url)
    assert code == 1 and outputs["exit-code"] == "1" and outputs["complete"] == "false"
    assert "### voicebot-sync apply failed" in summary and "Apply failed before it reported a result" in summary
    assert re.search(r"^::error title=voicebot-sync apply::.+", log, re.M) and "Traceback" not in log
    assert "vbk-wrong-key" not in summary and emulator.workflows == []


# -- secrets never leave (issue 9) ---------------------------------------------------


class EchoingVoicebot:
    """A Voicebot API that answers every request with an error quoting the request's Authorization
    header back, as a careless proxy or server might."""

    def __enter__(self):
        from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
        import threading

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self):
                echo = self.headers.get("Authorization", "")
                data = json.dumps({"message": f"bad request; you sent Authorization: {echo}",
                                   "detail": f"header was {echo}"}).encode()
                self.send_response(400)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            do_POST = do_PATCH = do_DELETE = do_GET

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        threading.Thread(target=self.server.serve_forever, kwargs={"poll_interval": 0.01}, daemon=True).start()
        return f"http://127.0.0.1:{self.server.server_address[1]}/voicebot/v1"

    def __exit__(self, *exc):
        self.server.shutdown()
        self.server.server_close()


SECRET = "sk-test-abc123"


def test_a_key_with_a_trailing_newline_and_a_server_echoing_it_never_leaks(repo, github):
    gh_url, fake = github
    with EchoingVoicebot() as url:
        code, log, outputs, summary = run_action(repo, {"api-url": url, "api-key": SECRET + "\n", "rate-limit": "off"},
                                                 event=pr_event(), github_api=gh_url)
    assert code == 1 and outputs["exit-code"] == "1", log
    assert "### voicebot-sync plan failed" in summary
    (comment,) = fake.comments[7]  # the failure replaces the plan comment
    # The runner learns the key's mask first; nothing else carries it, in any form.
    assert log.startswith(f"::add-mask::{SECRET}\n")
    shown = log.replace(f"::add-mask::{SECRET}", "")
    for text in (shown, summary, comment["body"], json.dumps(outputs), (repo / "env").read_text()):
        assert SECRET not in text
        assert "Bearer sk-" not in text


def test_the_github_token_never_reaches_the_comment_or_the_summary(repo, api_url, github):
    url, _ = api_url
    gh_url, fake = github
    # A definition whose message quotes the job's token (say, pasted by mistake into a file).
    write_workflow(repo / "workflows", "Pasted", f"code {TOKEN} here")
    code, log, outputs, summary = run_action(repo, inputs_for(url), event=pr_event(), github_api=gh_url)
    assert code == 0, log
    body = fake.comments[7][0]["body"]
    for text in (body, summary, unmasked(log), json.dumps(outputs)):
        assert TOKEN not in text and KEY not in text
    assert "code *** here" in body


# -- inputs and the environment ----------------------------------------------------------


def test_empty_inputs_leave_job_level_variables_in_force(repo, api_url, github):
    url, emulator = api_url
    gh_url, _ = github
    action = load_action()
    for step in action["runs"]["steps"]:
        assert not [k for k in step.get("env", {}) if k.startswith("VOICEBOT_")], step.get("name")
    job_env = {"VOICEBOT_API_URL": url, "VOICEBOT_API_KEY": KEY, "VOICEBOT_RATE_LIMIT": "off"}
    code, log, outputs, summary = run_action(repo, {"comment": "false"}, event=pr_event(), github_api=gh_url,
                                             job_env=job_env)
    assert code == 0, log
    assert outputs["create"] == "2" and emulator.stats["requests"] == 1


def test_the_api_key_input_reaches_the_variable_the_environment_names(repo, api_url, github):
    """docs/configuration.md's layout: production reads its key from VOICEBOT_PROD_KEY; the api-key input must work."""
    url, emulator = api_url
    gh_url, fake = github
    (repo / "voicebot-sync.yaml").write_text("environments:\n  staging: {}\n  production:\n    api_key_env: VOICEBOT_PROD_KEY\n")
    code, log, outputs, summary = run_action(repo, inputs_for(url, environment="production"), event=pr_event(),
                                             github_api=gh_url)
    assert code == 0, log + summary
    assert outputs["create"] == "2" and fake.comments[7][0]["body"].startswith("<!-- voicebot-sync-plan:production:")
    assert_no_key(summary, outputs, unmasked(log))
    # The general variable is still not read for production (the tool's own rule), only the input.
    code, log, outputs, summary = run_action(repo, {"api-url": url, "rate-limit": "off", "environment": "production"},
                                             event=pr_event(), github_api=gh_url, job_env={"VOICEBOT_API_KEY": KEY})
    assert code == 1 and "VOICEBOT&#95;PROD&#95;KEY" in summary


def test_each_use_of_the_action_gets_its_own_plan_file(repo, api_url):
    url, _ = api_url
    first = run_action(repo, inputs_for(url, comment="false"), event=pr_event())
    second = run_action(repo, inputs_for(url, comment="false"), event=pr_event())
    assert first[0] == second[0] == 0
    a, b = first[2]["plan-file"], second[2]["plan-file"]
    assert a != b and os.path.exists(a) and os.path.exists(b)
    assert os.path.commonpath([a, str(repo)]) == str(repo)  # under RUNNER_TEMP
    assert "__voicebot-sync" in a  # named after the step (GITHUB_ACTION), then a random part


# -- forged reviews (issue 9) ---------------------------------------------------------


def forged(fake, repo, url, gh_url, author, number=7):
    """A plan made without posting, then its exact comment posted by ``author``; the PR merged as SHA."""
    from voicebot_sync.github.comment import comment_body
    from voicebot_sync.core.plan import Plan

    code, log, outputs, _ = run_action(repo, inputs_for(url, comment="false"), event=pr_event(number), github_api=gh_url)
    assert code == 0, log
    body = comment_body(Plan.load(outputs["plan-file"]), "<!-- voicebot-sync-plan:default:workflows -->")
    comment = fake.add_comment(number, body, author)
    fake.pulls[SHA] = [{"number": number, "merge_commit_sha": SHA, "merged_at": "2026-11-25T00:00:00Z"}]
    return comment


def test_a_plan_comment_by_anyone_but_the_bot_is_not_a_review(repo, api_url, github):
    url, emulator = api_url
    gh_url, fake = github
    comment = forged(fake, repo, url, gh_url, "mallory")
    code, log, outputs, summary = run_action(repo, apply_inputs(url), event_name="push", github_api=gh_url)
    assert code == 1 and outputs["complete"] == "false"
    assert "#7 carries no reviewed voicebot-sync plan" in summary
    assert "Ignored 1 comment(s) that begin with the plan marker but were written by mallory" in summary
    assert emulator.workflows == [] and emulator.stats["writes"] == 0  # nothing written
    # The plan step never updates someone else's comment: it posts its own beside it.
    body = comment["body"]
    code, log, outputs, summary = run_action(repo, inputs_for(url), event=pr_event(), github_api=gh_url)
    assert code == 0 and comment["body"] == body and len(fake.comments[7]) == 2
    assert fake.comments[7][1]["user"]["login"] == "github-actions[bot]"
    assert "written by mallory" in summary and "Plan comment created on #7" in summary


def test_the_ignored_author_is_escaped_in_the_summary(repo, api_url, github):
    url, emulator = api_url
    gh_url, fake = github
    forged(fake, repo, url, gh_url, "@org/team <b>x</b>")
    code, log, outputs, summary = run_action(repo, apply_inputs(url), event_name="push", github_api=gh_url)
    from voicebot_sync.text.escaping import md_text

    assert code == 1 and "@org" not in summary and "<b>" not in summary and md_text("@org/team <b>x</b>") in summary


def test_trusted_commenter_names_the_apps_login(repo, api_url, github):
    url, emulator = api_url
    gh_url, fake = github
    forged(fake, repo, url, gh_url, "voicebot-plans[bot]")
    code, log, outputs, summary = run_action(repo, apply_inputs(url), event_name="push", github_api=gh_url)
    assert code == 1 and emulator.workflows == []  # by default only github-actions[bot] counts
    code, log, outputs, summary = run_action(repo, apply_inputs(url, **{"trusted-commenter": "voicebot-plans[bot]"}),
                                             event_name="push", github_api=gh_url)
    assert code == 0, summary
    assert "this is exactly the reviewed plan" in summary and len(emulator.workflows) == 2


# -- drift -----------------------------------------------------------------------------


def test_drift_reports_into_the_summary_and_an_output(repo, api_url, github):
    url, emulator = api_url
    gh_url, _ = github
    emulator.add_workflow(name="Appointment reminder", message="Hello [name], see you on [date].")
    emulator.add_workflow(name="Refill ready", message="Your refill is ready.")
    code, log, outputs, summary = run_action(repo, inputs_for(url, command="drift"), event_name="schedule",
                                             github_api=gh_url)
    assert code == 0, log
    assert outputs["drift"] == "false" and outputs["exit-code"] == "0" and "### voicebot-sync drift" in summary
    write_workflow(repo / "workflows", "Refill ready", "Your refill is ready for pickup.")  # the remote now differs
    code, log, outputs, summary = run_action(repo, inputs_for(url, command="drift"), event_name="schedule",
                                             github_api=gh_url)
    assert code == 0 and outputs["drift"] == "true" and outputs["exit-code"] == "2"
    assert "Refill ready" in summary and "::warning title=voicebot-sync drift::Drift" in log
    code, log, outputs, summary = run_action(repo, inputs_for(url, command="drift", **{"fail-on-drift": "true"}),
                                             event_name="schedule", github_api=gh_url)
    assert code == 2 and outputs["drift"] == "true"
    assert emulator.stats["writes"] == 0  # drift only reads


# -- a list of environments: one comment, a section each, each applied against its own --------------


@pytest.fixture
def production_api():
    """A second API for production: the environments of one list run at once, each against its own."""
    emulator = Emulator(api_keys=[KEY])
    with running(emulator) as url:
        yield url, emulator


def two_environments(repo, production_url):
    (repo / "voicebot-sync.yaml").write_text(f"environments:\n  staging: {{}}\n  production:\n    api_url: {production_url}\n")


def test_a_list_of_environments_posts_one_comment_with_a_section_each(repo, api_url, production_api, github):
    url, emulator = api_url
    gh_url, fake = github
    two_environments(repo, production_api[0])
    inputs = {"api-key": KEY, "rate-limit": "off", "environment": "staging,production", "api-url": ""}
    (repo / "voicebot-sync.yaml").write_text(f"api_url: {url}\n" + (repo / "voicebot-sync.yaml").read_text())
    code, log, outputs, summary = run_action(repo, inputs, event=pr_event(), github_api=gh_url)
    assert code == 0, log
    (comment,) = fake.comments[7]
    body = comment["body"]
    assert body.startswith("<!-- voicebot-sync-plan:staging,production:workflows -->\n")
    assert "<!-- voicebot-sync-plan-env: staging -->" in body and "<!-- voicebot-sync-plan-env: production -->" in body
    assert len(FINGERPRINT_RE.findall(body)) == 2 and len(CHANGES_RE.findall(body)) == 2
    assert "### voicebot-sync plan (staging)" in body and "### voicebot-sync plan (production)" in body
    assert outputs["create"] == "4" and outputs["changes"] == "true"  # summed over both
    assert outputs["plan-fingerprint"].startswith("staging=sha256:") and " production=sha256:" in outputs["plan-fingerprint"]
    assert emulator.stats["requests"] == production_api[1].stats["requests"] == 1  # one list each
    # Kept current: the next push updates the one comment.
    code, log, outputs, summary = run_action(repo, inputs, event=pr_event(), github_api=gh_url)
    assert code == 0 and len(fake.comments[7]) == 1 and "Plan comment updated on #7" in summary

    # Merged: each environment is applied against its own section.
    fake.pulls[SHA] = [{"number": 7, "merge_commit_sha": SHA, "merged_at": "2026-11-25T00:00:00Z"}]
    code, log, outputs, summary = run_action(repo, {**inputs, "command": "apply"}, event_name="push", github_api=gh_url)
    assert code == 0, log + summary
    assert "#### staging" in summary and "#### production" in summary
    assert summary.count("Reviewed on #7: this is exactly the reviewed plan") == 2
    assert len(emulator.workflows) == len(production_api[1].workflows) == 2
    assert outputs["complete"] == "true" and outputs["create"] == "4"


def test_each_environment_is_checked_against_its_own_section(repo, api_url, production_api, github):
    url, emulator = api_url
    gh_url, fake = github
    two_environments(repo, production_api[0])
    inputs = {"api-key": KEY, "rate-limit": "off", "environment": "staging,production"}
    (repo / "voicebot-sync.yaml").write_text(f"api_url: {url}\n" + (repo / "voicebot-sync.yaml").read_text())
    assert run_action(repo, inputs, event=pr_event(), github_api=gh_url)[0] == 0
    fake.pulls[SHA] = [{"number": 7, "merge_commit_sha": SHA, "merged_at": "2026-11-25T00:00:00Z"}]
    comment = fake.comments[7][0]
    # Production's section reviewed nothing: staging still applies what it reviewed, production refuses.
    comment["body"] = re.sub(r"(<!-- voicebot-sync-plan-env: production -->\n"
                             r"<!-- voicebot-sync-plan-fingerprint: \S+ -->\n)<!-- voicebot-sync-plan-changes: [0-9a-f ]* -->",
                             r"\1<!-- voicebot-sync-plan-changes:  -->", comment["body"])
    code, log, outputs, summary = run_action(repo, {**inputs, "command": "apply"}, event_name="push", github_api=gh_url)
    assert code == 1 and outputs["complete"] == "false"
    assert len(emulator.workflows) == 2 and production_api[1].workflows == []
    assert "**Refusing to apply (production)**" in summary and "2 changes not in the reviewed plan" in summary
    assert "::error title=voicebot-sync apply::Refusing to apply (production)" in log


# -- force -------------------------------------------------------------------------------------


def test_force_applies_past_the_share_guards_and_the_plan_says_when_it_is_needed(repo, api_url, github):
    url, emulator = api_url
    gh_url, fake = github
    for i in range(10):
        emulator.add_workflow(name=f"Old {i}", message="m")
    inputs = inputs_for(url, prune="true")
    code, log, outputs, summary = run_action(repo, inputs, event=pr_event(), github_api=gh_url)
    assert code == 0 and outputs["delete"] == "10", log
    body = fake.comments[7][0]["body"]
    assert "**Apply would refuse this plan:**" in body and "`force: true`" in body
    assert "**Apply would refuse this plan:**" in summary
    fake.pulls[SHA] = [{"number": 7, "merge_commit_sha": SHA, "merged_at": "2026-11-25T00:00:00Z"}]
    code, log, outputs, summary = run_action(repo, apply_inputs(url, prune="true"), event_name="push", github_api=gh_url)
    assert code == 1 and "refusing to delete 10 of 10" in summary and "set `force: true`" in summary
    assert len(emulator.workflows) == 10
    code, log, outputs, summary = run_action(repo, apply_inputs(url, prune="true", force="true"), event_name="push",
                                             github_api=gh_url)
    assert code == 0 and outputs["delete"] == "10" and len(emulator.workflows) == 2, summary


# -- the merge queue ---------------------------------------------------------------------------


def merge_group_event(number=7):
    return {"merge_group": {"head_sha": "abcdef1" + "0" * 33, "base_ref": "refs/heads/main",
                            "head_ref": f"refs/heads/gh-readonly-queue/main/pr-{number}-{'f' * 40}"}}


def test_the_merge_queue_passes_the_reviewed_plan_and_fails_a_stale_one(repo, api_url, github):
    url, emulator = api_url
    gh_url, fake = github
    fingerprint = reviewed(fake, repo, url, gh_url)
    assert REMOTE_RE.search(fake.comments[7][0]["body"])
    writes = len(fake.writes())
    code, log, outputs, summary = run_action(repo, inputs_for(url), event_name="merge_group", event=merge_group_event(),
                                             github_api=gh_url)
    assert code == 0, log + summary
    assert outputs["matches-review"] == "true" and outputs["plan-fingerprint"] == fingerprint
    assert "the plan matches the review" in summary and len(fake.writes()) == writes  # no comment from the queue
    # The remote changed since the review (a hand edit, or another merge applied): the check fails.
    emulator.add_workflow(name="Made by hand", message="m")
    code, log, outputs, summary = run_action(repo, inputs_for(url), event_name="merge_group", event=merge_group_event(),
                                             github_api=gh_url)
    assert code == 1 and outputs["matches-review"] == "false"
    assert "the remote changed since the review on #7" in summary
    assert len(re.findall(r"^::error title=voicebot-sync merge queue::", log, re.M)) == 1
    # A change nobody reviewed (the queue merged it with something else) fails too.
    emulator.workflows.clear()
    write_workflow(repo / "workflows", "Lab results", "Your results are in.")
    code, log, outputs, summary = run_action(repo, inputs_for(url), event_name="merge_group", event=merge_group_event(),
                                             github_api=gh_url)
    assert code == 1 and '1 change not in the plan reviewed on #7: create "Lab results"' in summary
    assert emulator.stats["writes"] == 0


def test_the_merge_queue_refuses_without_a_trusted_plan_comment(repo, api_url, github):
    url, emulator = api_url
    gh_url, fake = github
    forged(fake, repo, url, gh_url, "mallory")
    code, log, outputs, summary = run_action(repo, inputs_for(url), event_name="merge_group", event=merge_group_event(),
                                             github_api=gh_url)
    assert code == 1 and "#7 carries no reviewed voicebot-sync plan" in summary and "written by mallory" in summary
    code, log, outputs, summary = run_action(repo, inputs_for(url), event_name="merge_group",
                                             event={"merge_group": {"head_ref": "refs/heads/elsewhere"}}, github_api=gh_url)
    assert code == 1 and "cannot tell the pull request of merge group" in summary


def test_the_merge_queue_example_reads_only():
    queue = yaml.safe_load(open(os.path.join(ROOT, "examples/github/merge-queue.yml")))
    assert "merge_group" in queue[True] and queue["permissions"] == {}
    (job,) = queue["jobs"].values()
    assert job["permissions"] == {"contents": "read", "pull-requests": "read"}
    assert "VOICEBOT_PLAN_KEY" in json.dumps(job) and job.get("environment") is None


# -- the ledger outlives the job (actions/cache) -------------------------------------------------


def test_the_ledger_lives_under_runner_temp_and_the_cache_steps_name_it_by_the_keys_fingerprint(repo, api_url):
    from voicebot_sync.text.redaction import fingerprint

    url, emulator = api_url
    steps = {}
    code, log, outputs, summary = run_action(repo, inputs_for(url, comment="false", **{"rate-limit": "6/1m"}),
                                             event=pr_event(), steps_seen=steps)
    assert code == 0, log
    ledger = read_outputs(repo / f".output{step_number('ledger')}")  # the ledger step's own GITHUB_OUTPUT
    assert ledger["fingerprint"] == fingerprint(KEY) and KEY not in json.dumps(ledger)
    state = os.path.join(str(repo), "voicebot-sync-state")
    assert ledger["dir"] == state and ledger["ledger-dir"] == os.path.join(state, "ledger")
    assert steps["run"]["VS_STATE_DIR"] == state
    # The plan's list request was recorded where the cache saves it, under the key's fingerprint.
    assert os.path.exists(os.path.join(state, "ledger", f"{fingerprint(KEY)}.json"))
    assert not os.path.exists(repo / ".voicebot-sync" / "ledger")
    action = load_action()["runs"]["steps"]
    names = [s.get("id") or s.get("uses", "").split("@")[0] for s in action]
    restore, save = (next(s for s in action if s.get("uses", "").startswith(f"actions/cache/{what}@")
                          and "ledger" in s["with"]["path"]) for what in ("restore", "save"))
    assert names.index("ledger") < action.index(restore) < names.index("run") < action.index(save)
    prefix = "voicebot-sync-ledger-${{ steps.ledger.outputs.fingerprint }}-"
    assert restore["with"]["restore-keys"] == prefix
    assert restore["with"]["key"] == save["with"]["key"] == prefix + "${{ github.run_id }}-${{ github.run_attempt }}"
    assert restore["with"]["path"] == save["with"]["path"] == "${{ steps.ledger.outputs.ledger-dir }}"
    assert save["if"].startswith("always()") and "fingerprint != ''" in restore["if"]


def test_the_record_of_applied_workflows_is_cached_apart_from_any_key_for_drift_on_a_fresh_runner(repo, api_url,
                                                                                                      github):
    url, emulator = api_url
    gh_url, fake = github
    code, log, outputs, summary = run_action(repo, apply_inputs(url), event_name="push", github_api=gh_url)
    assert code == 0, log
    ledger = read_outputs(repo / f".output{step_number('ledger')}")
    state = os.path.join(str(repo), "voicebot-sync-state")
    assert ledger["applied-dir"] == os.path.join(state, "applied")
    records = os.listdir(ledger["applied-dir"])  # what apply made, where the cache step saves it
    assert len(records) == 1 and KEY not in open(os.path.join(ledger["applied-dir"], records[0])).read()
    action = load_action()["runs"]["steps"]
    restore, save = (next(s for s in action if s.get("uses", "").startswith(f"actions/cache/{what}@")
                          and "applied-dir" in s["with"]["path"]) for what in ("restore", "save"))
    names = [s.get("id") for s in action]
    assert names.index("ledger") < action.index(restore) < names.index("run") < action.index(save)
    assert "fingerprint" not in restore["with"]["key"] + restore["with"]["restore-keys"]  # drift's key is another
    assert restore["with"]["restore-keys"] == "voicebot-sync-applied-" and save["if"] == "always() && inputs.command == 'apply'"


def test_without_a_key_the_ledger_step_names_nothing_and_validate_still_runs(repo):
    code, log, outputs, summary = run_action(repo, {"command": "validate"})
    assert code == 0 and read_outputs(repo / f".output{step_number('ledger')}")["fingerprint"] == ""
