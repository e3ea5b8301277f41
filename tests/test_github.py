"""The Action's parts on their own: runner files, the REST client against a fake GitHub
over HTTP, the plan comment and the reviewed-plan lookup."""

from __future__ import annotations

import io
import json
import re
import subprocess
import sys

import httpx
import pytest

from voicebot_sync.github import comment as github_comment, inputs as github_inputs, steps as github_steps
from voicebot_sync.github.comment import (
    CHANGES_RE, COMMENT_LIMIT, FINGERPRINT_RE, comment_body, marker_for, merged_pull, plan_comment, reviewed_plan,
    upsert_comment,
)
from voicebot_sync.github.rest import GitHubApi, GitHubError
from voicebot_sync.github.runner import SUMMARY_LIMIT, Runner, annotation
from voicebot_sync.core.plan import Change, Plan

from fake_github import FakeGitHub, serving

TOKEN = "ghs_faketoken"
REPO = "clinic/voicebot-workflows"
MARKER = "<!-- voicebot-sync-plan:default:workflows -->"


def read_outputs(path) -> dict[str, str]:
    text = open(path, encoding="utf-8").read()
    return {m.group(1): m.group(3) for m in re.finditer(r"^(\S+?)<<(\S+)\n(.*?)\n\2$", text, re.S | re.M)}


def make_plan(n: int, message: str = "Hello [name].") -> Plan:
    changes = [Change("create", f"Workflow {i:05}", source=f"workflows/w{i}.yaml",
                      after={"name": f"Workflow {i:05}", "description": "", "workflow_type": "ROBOCALL", "message": message})
               for i in range(n)]
    return Plan(api_url="https://voicebot.example.org/voicebot/v1", remote_fingerprint="sha256:" + "0" * 64,
                changes=changes, estimated_seconds=0)


@pytest.fixture
def gh():
    fake = FakeGitHub(TOKEN)
    with serving(fake) as url:
        yield fake, GitHubApi(TOKEN, REPO, url)


# -- the runner's files ------------------------------------------------------------


def test_annotation_escapes_like_the_runner_expects():
    assert annotation("error", "wf/a,b:c.yaml", 3, "50% bad\nline") == "::error file=wf/a%2Cb%3Ac.yaml,line=3::50%25 bad%0Aline"
    assert annotation("warning", "a.yaml", 0, "no line") == "::warning file=a.yaml::no line"


def test_outputs_are_multiline_safe(tmp_path):
    out = tmp_path / "out"
    out.write_text("")
    runner = Runner({"GITHUB_OUTPUT": str(out)})
    runner.set_output("plan", "line one\nline two\nEOF")
    runner.set_output("changes", True)
    assert read_outputs(out) == {"plan": "line one\nline two\nEOF", "changes": "true"}


def test_every_line_of_a_secret_is_masked():
    out = io.StringIO()
    Runner({}, out=out).mask("first\nsecond\n")
    assert out.getvalue() == "::add-mask::first\n::add-mask::second\n"
    out = io.StringIO()
    Runner({}, out=out).mask("")
    assert out.getvalue() == ""


def test_the_summary_never_passes_githubs_limit(tmp_path):
    summary = tmp_path / "summary"
    summary.write_text("")
    runner = Runner({"GITHUB_STEP_SUMMARY": str(summary)})
    runner.summary("a" * 600_000)
    runner.summary("```diff\n" + "+é line\n" * 100_000 + "```")  # 800 kB more, two bytes per é
    runner.summary("one more note")
    text = summary.read_text(encoding="utf-8")
    assert len(text.encode("utf-8")) <= SUMMARY_LIMIT
    assert "cut here (GitHub's 1 MiB limit)" in text and text.count("```") % 2 == 0


def test_a_huge_plan_is_cut_for_the_summary_with_a_pointer_to_the_plan_file():
    text = github_steps.summary_markdown(make_plan(1_500, "x" * 900), None)
    assert len(text.encode("utf-8")) <= SUMMARY_LIMIT - 10_000
    assert "the full plan is in this step's log and in the plan file (output `plan-file`)" in text
    assert text.count("```") % 2 == 0


def test_event_sha_and_run_url(tmp_path):
    event = tmp_path / "event.json"
    event.write_text(json.dumps({"pull_request": {"number": 12}, "after": "abc"}))
    env = {"GITHUB_EVENT_PATH": str(event), "GITHUB_EVENT_NAME": "pull_request", "GITHUB_REPOSITORY": REPO,
           "GITHUB_RUN_ID": "99"}
    runner = Runner(env)
    assert runner.pull_request_number == 12 and runner.sha == "abc"
    assert runner.run_url == f"https://github.com/{REPO}/actions/runs/99"
    assert Runner({**env, "GITHUB_EVENT_NAME": "push"}).pull_request_number is None
    assert Runner({"GITHUB_EVENT_PATH": str(tmp_path / "missing")}).event == {}


# -- the REST client -----------------------------------------------------------------


def test_comments_follow_every_page(gh):
    fake, api = gh
    for i in range(250):
        fake.add_comment(7, f"comment {i}")
    assert [c["body"] for c in api.comments(7)] == [f"comment {i}" for i in range(250)]
    assert [url for _, url in fake.requests] == [
        f"/repos/{REPO}/issues/7/comments?per_page=100&page=1",
        f"/repos/{REPO}/issues/7/comments?per_page=100&page=2",
        f"/repos/{REPO}/issues/7/comments?per_page=100&page=3",
    ]


def test_pages_without_link_headers_stop_at_a_short_page():
    def handler(request):
        page = int(request.url.params["page"])
        return httpx.Response(200, json=[{"id": i} for i in range(100 if page < 3 else 5)])

    api = GitHubApi(TOKEN, REPO, "https://api.github.test", transport=httpx.MockTransport(handler))
    assert len(api.comments(1)) == 205


def test_a_next_page_on_another_host_is_not_followed():
    def handler(request):
        return httpx.Response(200, json=[], headers={"Link": '<https://evil.example/steal?page=2>; rel="next"'})

    api = GitHubApi(TOKEN, REPO, "https://api.github.test", transport=httpx.MockTransport(handler))
    with pytest.raises(GitHubError, match="another host"):
        api.comments(1)


def test_errors_carry_the_status_and_githubs_message(gh):
    fake, api = gh
    fake.forbid_writes = True
    with pytest.raises(GitHubError, match="HTTP 403 Resource not accessible by integration") as info:
        api.create_comment(7, "x")
    assert info.value.status == 403
    with pytest.raises(GitHubError, match="HTTP 401 Bad credentials"):
        GitHubApi("wrong", REPO, fake.base).comments(7)


def test_an_unreachable_github_is_a_github_error():
    api = GitHubApi(TOKEN, REPO, "http://127.0.0.1:9")
    with pytest.raises(GitHubError, match="unreachable") as info:
        api.comments(7)
    assert info.value.status is None


# -- the plan comment ----------------------------------------------------------------


def test_upsert_finds_its_comment_on_a_later_page_and_updates_it(gh):
    fake, api = gh
    for i in range(150):
        fake.add_comment(7, f"chatter {i}")
    assert upsert_comment(api, 7, f"{MARKER}\nfirst", MARKER) == "created"
    for i in range(60):
        fake.add_comment(7, f"more chatter {i}")
    assert upsert_comment(api, 7, f"{MARKER}\nsecond", MARKER) == "updated"
    mine = [c for c in fake.comments[7] if c["body"].startswith(MARKER)]
    assert [c["body"] for c in mine] == [f"{MARKER}\nsecond"] and mine[0]["user"]["type"] == "Bot"


def test_a_reply_quoting_the_plan_comment_is_not_the_plan_comment(gh):
    fake, api = gh
    upsert_comment(api, 7, f"{MARKER}\nthe plan", MARKER)
    fake.add_comment(7, f"> {MARKER}\n> the plan\n\nLooks good")
    fake.add_comment(7, f"{MARKER}\nforged by a person")
    assert upsert_comment(api, 7, f"{MARKER}\nnew plan", MARKER) == "updated"
    assert [c["body"] for c in fake.comments[7]][0] == f"{MARKER}\nnew plan"
    assert plan_comment(fake.comments[7], MARKER)["body"] == f"{MARKER}\nnew plan"


def test_another_scope_gets_its_own_comment(gh):
    fake, api = gh
    staging = marker_for(Runner({"VOICEBOT_ENV": "staging"}))
    production = marker_for(Runner({"VOICEBOT_ENV": "production", "VS_PATH": "prod/ shared/"}))
    assert production == "<!-- voicebot-sync-plan:production:prod/ shared/ -->"
    upsert_comment(api, 7, f"{staging}\nA", staging)
    assert upsert_comment(api, 7, f"{production}\nB", production) == "created"
    assert len(fake.comments[7]) == 2


def test_the_marker_cannot_end_the_html_comment():
    marker = marker_for(Runner({"VS_PATH": "evil-->\n### x", "VOICEBOT_SYNC_CONFIG": "a--b.yaml"}))
    assert marker.count("-->") == 1 and marker.endswith(" -->") and "\n" not in marker
    assert marker == "<!-- voicebot-sync-plan:default:evil-_ ___ x:a-b.yaml -->"


def test_comment_body_carries_fingerprint_change_hashes_and_a_link():
    plan = make_plan(3)
    body = comment_body(plan, MARKER, run_url="https://github.com/o/r/actions/runs/1")
    assert body.startswith(MARKER + "\n")
    assert FINGERPRINT_RE.search(body).group(1) == plan.plan_fingerprint
    assert CHANGES_RE.search(body).group(1).split() == [c.fingerprint for c in plan.changes]
    assert "[job summary](https://github.com/o/r/actions/runs/1)" in body and "cut here" not in body


def test_a_plan_too_big_for_its_hashes_carries_the_fingerprint_alone():
    plan = make_plan(6_000)
    body = comment_body(plan, MARKER)
    assert len(body) <= COMMENT_LIMIT
    assert FINGERPRINT_RE.search(body) and not CHANGES_RE.search(body)
    # render's own cut pointer (no second copy of it here), and the tail's link
    assert "_The plan is cut here to fit; the full plan is in the job summary._" in body


def test_the_comment_is_cut_at_exactly_githubs_limit():
    plan = make_plan(200, "x" * 900)
    body = comment_body(plan, MARKER, run_url="https://github.com/o/r/actions/runs/1")
    assert COMMENT_LIMIT - 2_500 < len(body) <= COMMENT_LIMIT and body.count("```") % 2 == 0
    assert len(CHANGES_RE.search(body).group(1).split()) == 200


# -- the reviewed plan ---------------------------------------------------------------


def test_the_pull_request_merged_as_the_commit_is_preferred():
    sha = "a" * 40
    pulls = [{"number": 1}, {"number": 2, "merged_at": "t", "merge_commit_sha": "b" * 40},
             {"number": 3, "merged_at": "t", "merge_commit_sha": sha}]
    assert merged_pull(pulls, sha)["number"] == 3
    assert merged_pull(pulls[:2], sha)["number"] == 2
    assert merged_pull(pulls[:1], sha)["number"] == 1
    assert merged_pull([], sha) is None


def test_reviewed_plan_reads_the_markers_of_the_plan_comment(gh):
    fake, api = gh
    sha = "c" * 40
    fake.pulls[sha] = [{"number": 7, "merged_at": "t", "merge_commit_sha": sha}]
    plan = make_plan(2)
    upsert_comment(api, 7, comment_body(plan, MARKER), MARKER)
    reviewed = reviewed_plan(api, sha, MARKER)
    assert (reviewed.number, reviewed.fingerprint) == (7, plan.plan_fingerprint)
    assert reviewed.changes == [c.fingerprint for c in plan.changes]
    assert reviewed_plan(api, "d" * 40, MARKER).number is None


def test_markers_inside_the_rendered_plan_are_ignored(gh):
    fake, api = gh
    sha = "c" * 40
    fake.pulls[sha] = [{"number": 7, "merged_at": "t", "merge_commit_sha": sha}]
    fake.add_comment(7, f"{MARKER}\n### voicebot-sync plan\n<!-- voicebot-sync-plan-changes: abcdefabcdef -->", "github-actions[bot]")
    reviewed = reviewed_plan(api, sha, MARKER)
    assert reviewed.number == 7 and not reviewed.has_plan


# -- posting from the plan step --------------------------------------------------------


def test_no_token_no_comment_and_a_note():
    assert "No GitHub token" in github_steps.comment_on(None, 7, "body", MARKER)


def test_a_pull_request_the_token_cannot_see_is_a_note_not_a_failure(gh):
    fake, api = gh
    fake.fail[("GET", r"/repos/.*/issues/7/comments")] = 404
    note = github_steps.comment_on(api, 7, f"{MARKER}\nplan", MARKER)
    assert "may not comment on #7 (HTTP 404" in note


def test_github_down_is_a_note_not_a_failure():
    note = github_steps.comment_on(GitHubApi(TOKEN, REPO, "http://127.0.0.1:9"), 7, "body", MARKER)
    assert note.startswith("_Could not post the plan on #7: GitHub API unreachable")


def test_the_steps_run_the_commands_in_process_and_settings_never_hold_the_github_token(monkeypatch, tmp_path):
    """No child process: the settings come from the step's variables (never the GitHub token), and the tool's
    typed errors become an exit code, an annotation and summary text."""
    monkeypatch.setattr(subprocess, "Popen", lambda *a, **k: pytest.fail("the steps must not start a process"))
    monkeypatch.chdir(tmp_path)
    summary, out, err = tmp_path / "summary", io.StringIO(), io.StringIO()
    summary.write_text("")
    env = {"VS_GITHUB_TOKEN": TOKEN, "GITHUB_TOKEN": TOKEN, "VOICEBOT_API_KEY": "", "VOICEBOT_ENV": "",
           "GITHUB_STEP_SUMMARY": str(summary), "RUNNER_TEMP": str(tmp_path)}
    runner = Runner(env, out=out, err=err)
    settings = github_inputs.settings_for(runner, None, need_key=False)
    assert settings.api_key is None and TOKEN not in repr(settings)
    assert github_steps.step_plan(runner) == 1  # ConfigError: no API key
    assert "::error title=voicebot-sync plan::no API key" in out.getvalue()
    assert "### voicebot-sync plan failed" in summary.read_text() and "error: no API key" in err.getvalue()


def test_the_module_runs_and_rejects_unknown_steps():
    ok = subprocess.run([sys.executable, "-m", "voicebot_sync.github", "--help"], capture_output=True, text=True)
    assert ok.returncode == 0 and "validate" in ok.stdout and "apply" in ok.stdout
    bad = subprocess.run([sys.executable, "-m", "voicebot_sync.github", "destroy"], capture_output=True, text=True)
    assert bad.returncode == 2 and "invalid choice" in bad.stderr


# -- every sink is redacted (issue 9) -----------------------------------------------------------


@pytest.fixture
def secret():
    from voicebot_sync.text.redaction import forget_secrets, register_secret

    register_secret("sk-test-abc123\n")
    yield "sk-test-abc123"
    forget_secrets()


def test_summary_outputs_annotations_and_commands_are_redacted(tmp_path, secret):
    out, summary = tmp_path / "out", tmp_path / "summary"
    out.write_text("")
    summary.write_text("")
    log = io.StringIO()
    runner = Runner({"GITHUB_OUTPUT": str(out), "GITHUB_STEP_SUMMARY": str(summary)}, out=log)
    runner.summary(f"server said: Authorization: Bearer {secret}")
    runner.set_output("plan", f"key {secret}")
    runner.error(f"failed with {secret}", title=f"t {secret}")
    runner.command(f"::notice::{secret}")
    line = annotation("error", f"{secret}.yaml", 1, f"bad {secret}")
    for text in (summary.read_text(), out.read_text(), log.getvalue(), line):
        assert secret not in text and "***" in text


def test_comment_bodies_are_redacted_on_the_way_out(gh, secret):
    fake, api = gh
    upsert_comment(api, 7, f"{MARKER}\nthe key is {secret}; Authorization: Bearer {secret}", MARKER)
    body = fake.comments[7][0]["body"]
    assert secret not in body and body.startswith(MARKER)


def test_annotation_uses_the_actions_escaping():
    assert annotation("error", "a,b:c.yaml", 2, "x\r\ny%") == "::error file=a%2Cb%3Ac.yaml,line=2::x%0D%0Ay%25"


def test_own_commands_pass_the_stdout_door_and_outside_text_does_not():
    from voicebot_sync.text.sinks import SafeStream

    raw = io.StringIO()
    stream = SafeStream(raw, actions=True)
    runner = Runner({}, out=stream)
    runner.command("::error title=x::ours")
    runner.log("workflows/a.yaml:1: bad")
    runner.command(annotation("error", "workflows/a.yaml", 1, "bad"))
    runner.log("::set-env name=X::forged?\n")
    runner.log("::add-mask::from outside\n")
    lines = raw.getvalue().splitlines()
    assert lines[0] == "::error title=x::ours" and lines[2] == "::error file=workflows/a.yaml,line=1::bad"
    assert not any(l.startswith("::set-env") or l.startswith("::add-mask") for l in lines)


# -- who wrote the plan comment -------------------------------------------------------------


def test_only_the_trusted_login_writes_the_plan_comment():
    comments = [
        {"id": 1, "body": f"{MARKER}\nforged", "user": {"login": "mallory", "type": "User"}},
        {"id": 2, "body": f"{MARKER}\nother app", "user": {"login": "other[bot]", "type": "Bot"}},
        {"id": 3, "body": f"{MARKER}\nreal", "user": {"login": "github-actions[bot]", "type": "Bot"}},
    ]
    assert plan_comment(comments, MARKER)["id"] == 3
    assert plan_comment(comments[:2], MARKER) is None  # a Bot type is not enough
    assert plan_comment(comments, MARKER, "Other[bot]")["id"] == 2
    found, ignored = github_comment.plan_comments(comments, MARKER)
    assert [c["id"] for c in ignored] == [1, 2]
    note = github_comment.ignored_note(ignored, "github-actions[bot]")
    assert "mallory" in note and "other&#91;bot&#93;" in note


def test_upsert_never_updates_someone_elses_comment(gh):
    fake, api = gh
    forged = fake.add_comment(7, f"{MARKER}\n{FINGERPRINT_RE.pattern}", "mallory")
    notes = []
    assert upsert_comment(api, 7, f"{MARKER}\nours", MARKER, notes=notes) == "created"
    assert forged["body"] == f"{MARKER}\n{FINGERPRINT_RE.pattern}" and "mallory" in notes[0]
    assert upsert_comment(api, 7, f"{MARKER}\nours again", MARKER) == "updated"
    assert [c["body"] for c in fake.comments[7]] == [forged["body"], f"{MARKER}\nours again"]


def test_reviewed_plan_ignores_a_forged_comment(gh):
    fake, api = gh
    sha = "e" * 40
    fake.pulls[sha] = [{"number": 7, "merged_at": "t", "merge_commit_sha": sha}]
    fake.add_comment(7, comment_body(make_plan(2), MARKER), "mallory")
    reviewed = reviewed_plan(api, sha, MARKER)
    assert reviewed.number == 7 and not reviewed.has_plan and reviewed.ignored[0]["user"]["login"] == "mallory"
    assert reviewed_plan(api, sha, MARKER, "mallory").has_plan


# -- inputs into the tool's environment --------------------------------------------------------


def test_empty_inputs_set_nothing_and_the_key_goes_where_the_environment_reads_it(tmp_path):
    from voicebot_sync.text.redaction import forget_secrets

    out = io.StringIO()
    env = github_inputs.action_environment({"VS_API_URL": "", "VS_RATE_LIMIT": "", "VS_API_KEY": "", "VOICEBOT_API_URL": "job"},
                                    out=out)
    assert env["VOICEBOT_API_URL"] == "job" and "VOICEBOT_RATE_LIMIT" not in env and "VOICEBOT_API_KEY" not in env
    assert not any(k.startswith("VS_API") for k in env)
    config = tmp_path / "voicebot-sync.yaml"
    config.write_text("environments:\n  production:\n    api_key_env: VOICEBOT_PROD_KEY\n")
    try:
        env = github_inputs.action_environment({"VS_API_KEY": " sk-prod-key-1 \n", "VS_ENVIRONMENT": "production",
                                         "VS_CONFIG": str(config)}, out=out)
        assert env["VOICEBOT_PROD_KEY"] == "sk-prod-key-1" and "VOICEBOT_API_KEY" not in env
        assert env["VOICEBOT_ENV"] == "production" and env["VOICEBOT_SYNC_CONFIG"] == str(config)
        assert "::add-mask::sk-prod-key-1" in out.getvalue()
        env = github_inputs.action_environment({"VS_API_KEY": "sk-general-1"}, out=out)
        assert env["VOICEBOT_API_KEY"] == "sk-general-1"
    finally:
        forget_secrets()


def test_the_action_resolves_each_environments_settings_once_per_step(tmp_path, monkeypatch):
    """The key's variable and the step share one resolution per environment; the step reads the key into it."""
    import io

    from voicebot_sync.read import settings as settings_module
    from voicebot_sync.github.runner import Runner

    monkeypatch.chdir(tmp_path)
    (tmp_path / "voicebot-sync.yaml").write_text("environments:\n  staging: {api_key_env: VOICEBOT_STAGING_KEY}\n"
                                                 "  production: {api_key_env: VOICEBOT_PROD_KEY}\n")
    loads = []
    real = settings_module.load_settings
    monkeypatch.setattr(settings_module, "load_settings",
                        lambda cli, *a, **kw: loads.append(cli.get("env")) or real(cli, *a, **kw))
    resolved: dict = {}
    environ = {"VS_API_KEY": "sk-shared-key-1", "VS_ENVIRONMENT": "staging,production",
               "VS_API_URL": "https://voicebot.example.org/voicebot/v1"}
    runner = Runner(github_inputs.action_environment(environ, out=io.StringIO(), resolved=resolved))
    runner.resolved = resolved
    staging = github_inputs.settings_for(runner, "staging")
    production = github_inputs.settings_for(runner, "production")
    github_inputs.ledger_fingerprint(runner)
    assert sorted(loads) == ["production", "staging"]  # one resolution each, for the key and for the step
    assert staging.api_key == production.api_key == "sk-shared-key-1"
    assert (staging.source("api_key"), production.source("api_key")) == ("VOICEBOT_STAGING_KEY", "VOICEBOT_PROD_KEY")
    staging.max_wait = 1.0  # a command adjusts its own copy, never the next one's
    assert github_inputs.settings_for(runner, "staging").max_wait is None
