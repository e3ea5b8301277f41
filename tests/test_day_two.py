"""What a user meets on day two (issue 18): every message true, every option where it works."""

import json
import os

import pytest
from click.testing import CliRunner

from voicebot_sync.cli import main
from voicebot_sync.emulator import Emulator, running

from conftest import KEY, write_workflow


def invoke(runner, *args, **kw):
    result = runner.invoke(main, [str(a) for a in args], **kw)
    assert result.exception is None or isinstance(result.exception, SystemExit), result.exception
    assert KEY not in result.output + (result.stderr or "")
    return result


@pytest.fixture
def two_envs(tmp_path, monkeypatch):
    """Two environments, each on its own emulator and key (config names the key variables)."""
    monkeypatch.chdir(tmp_path)
    staging, production = Emulator(api_keys=["k-staging"]), Emulator(api_keys=["k-prod"])
    with running(staging) as s_url, running(production) as p_url:
        (tmp_path / "voicebot-sync.yaml").write_text(
            "rate_limit: 'off'\nenvironments:\n"
            f"  staging: {{api_url: '{s_url}', api_key_env: STAGING_KEY}}\n"
            f"  production: {{api_url: '{p_url}', api_key_env: PROD_KEY}}\n")
        monkeypatch.setenv("STAGING_KEY", "k-staging")
        monkeypatch.setenv("PROD_KEY", "k-prod")
        yield staging, production


# -- 1: apply without --prune shows the unmanaged workflows it leaves alone --------------------


def test_apply_without_prune_after_a_deleted_definition_names_the_unmanaged_workflow(runner, api, emulator, workflows):
    assert invoke(runner, "apply", "--yes", workflows).exit_code == 0
    os.remove(workflows / "refill-ready.yaml")
    result = invoke(runner, "apply", "--yes", workflows)
    assert result.exit_code == 0
    assert "Refill ready" in result.stdout and "--prune" in result.stdout
    assert "The remote matches the definitions" not in result.stdout
    plan = invoke(runner, "plan", workflows)
    assert plan.stdout.splitlines()[-2] in result.stdout  # the same summary line as plan


# -- 6: apply over several environments shows each plan -------------------------------------------


def test_apply_over_two_environments_prints_each_plan_and_its_field_changes(runner, two_envs, tmp_path):
    write_workflow(tmp_path / "workflows", "Reminder", "Hello [name]")
    assert invoke(runner, "apply", "--env", "staging,production", "--yes").exit_code == 0
    write_workflow(tmp_path / "workflows", "Reminder", "Hello [name], see you soon")
    result = invoke(runner, "apply", "--env", "staging,production", "--yes")
    assert result.exit_code == 0, result.stderr
    for env in ("staging", "production"):
        assert f"[{env}]   ~ update \"Reminder\"" in result.stdout
        assert f"[{env}] Plan: 0 to add, 1 to change, 0 to destroy." in result.stdout
    assert "see you soon" in result.stdout


# -- 2: --env a,b and --all-environments only where they work ------------------------------------


@pytest.mark.parametrize("command", ["budget", "config", "render", "export"])
def test_one_environment_commands_do_not_offer_several(runner, command):
    out = invoke(runner, command, "--help").output
    assert "--all-environments" not in out and "staging,production" not in out
    assert "--env" in out


@pytest.mark.parametrize("command", ["validate", "plan", "apply", "drift"])
def test_several_environment_commands_offer_them(runner, command):
    out = invoke(runner, command, "--help").output
    assert "--all-environments" in out and "staging,production" in out


def test_a_one_environment_command_refuses_a_list_naming_where_lists_work(runner, two_envs):
    result = invoke(runner, "budget", "--env", "staging,production")
    assert result.exit_code == 1
    assert "budget takes one environment" in result.stderr and "plan" in result.stderr
    assert "no environment" not in result.stderr


# -- 3: a wrong key names the variable it came from -------------------------------------------------


def test_a_wrong_key_from_an_environments_variable_names_that_variable(runner, two_envs, tmp_path, monkeypatch):
    write_workflow(tmp_path / "workflows", "Reminder", "Hello [name]")
    monkeypatch.setenv("STAGING_KEY", "k-wrong")
    result = invoke(runner, "plan", "--env", "staging")
    assert result.exit_code == 1
    assert "check STAGING_KEY" in result.stderr and "VOICEBOT_API_KEY" not in result.stderr


def test_a_wrong_key_given_on_the_command_line_names_the_option(runner, api, workflows):
    result = invoke(runner, "plan", "--api-key", "k-wrong", workflows)
    assert result.exit_code == 1 and "check --api-key" in result.stderr


# -- 4 and 14: what init writes --------------------------------------------------------------------


def test_after_init_the_local_emulator_is_not_paced_by_the_remotes_quota(runner, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    assert invoke(runner, "init").exit_code == 0
    doc = json.loads(invoke(runner, "config", "--api-url", "local", "--format", "json").stdout)
    assert doc["settings"]["rate_limit"]["value"] == "off"
    # Given for this run, it paces local too (to watch the limiter at work).
    doc = json.loads(invoke(runner, "config", "--api-url", "local", "--rate-limit", "6/1m", "--format", "json").stdout)
    assert doc["settings"]["rate_limit"]["value"] == "6/1m"
    # The remote keeps the file's quota.
    doc = json.loads(invoke(runner, "config", "--format", "json").stdout)
    assert doc["settings"]["rate_limit"]["value"] == "6/1m,60/1h"


def test_init_keeps_the_state_folder_out_of_git(runner, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    assert invoke(runner, "init").exit_code == 0
    assert ".voicebot-sync/" in (tmp_path / ".gitignore").read_text().splitlines()
    (tmp_path / ".gitignore").write_text("node_modules/\n")  # a user's own file is added to, never replaced
    result = invoke(runner, "init")
    assert result.exit_code == 0
    assert (tmp_path / ".gitignore").read_text().splitlines() == ["node_modules/", ".voicebot-sync/"]
    assert invoke(runner, "init").stdout.startswith("Nothing to write")


# -- 7: validate says each problem once, and names every environment it checked ---------------------


@pytest.fixture
def env_repo(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "voicebot-sync.yaml").write_text("environments:\n  staging: {}\n  production: {}\n")
    (tmp_path / "workflows").mkdir()
    return tmp_path / "workflows"


def test_a_base_problem_is_reported_once_not_once_per_environment(runner, env_repo):
    (env_repo / "b.yaml").write_text('name: B\nmesage: "typo"\n')
    result = invoke(runner, "validate")
    assert result.exit_code == 1
    problem_lines = [line for line in result.stderr.splitlines() if "b.yaml:" in line]
    assert len(problem_lines) == 2  # 'mesage' is unknown, 'message' is missing: each once
    assert not any("(environment" in line for line in problem_lines)
    assert "2 validation problems found" in result.stderr


def test_an_environments_own_problem_is_tagged_with_it(runner, env_repo):
    (env_repo / "a.yaml").write_text(
        "name: A\nmessage: Hello\nenvironments:\n  staging: {message: 'Hi [nme]'}\n"
        "parameters: {}\n")
    result = invoke(runner, "validate")
    assert result.exit_code == 1
    lines = [line for line in result.stderr.splitlines() if "a.yaml:" in line]
    assert len(lines) == 1 and "(environment staging)" in lines[0] and "[nme]" in lines[0]


def test_validate_over_a_list_of_environments_names_each(runner, env_repo):
    (env_repo / "a.yaml").write_text("name: A\nmessage: Hello\n")
    result = invoke(runner, "validate", "--env", "staging,production")
    assert result.exit_code == 0, result.stderr
    assert "staging" in result.stdout and "production" in result.stdout
    doc = json.loads(invoke(runner, "validate", "--all-environments", "--format", "json").stdout)
    assert doc["environments"] == ["staging", "production"] or sorted(doc["environments"]) == ["production", "staging"]


# -- 10: export always round-trips; other template syntaxes warn, never block -----------------------


def test_export_of_a_message_with_braces_validates_with_a_warning_and_plans_no_changes(runner, api, emulator, tmp_path):
    emulator.add_workflow(name="Code", message="Your code is {code}. Say {{name}} to the nurse.")
    out = tmp_path / "exported"
    assert invoke(runner, "export", "--out-dir", out).exit_code == 0
    result = invoke(runner, "validate", out)
    assert result.exit_code == 0, result.stderr
    assert "warning:" in result.stderr and "{code}" in result.stderr and "[name]" in result.stderr
    assert invoke(runner, "plan", out, "--detailed-exitcode").exit_code == 0


def test_a_brace_warning_under_environments_is_said_once(runner, env_repo):
    (env_repo / "a.yaml").write_text("name: A\nmessage: Hello {name}\n")
    result = invoke(runner, "validate")
    assert result.exit_code == 0
    assert result.stderr.count("warning:") == 1


# -- 11: a syntax error where it starts; an empty file said -----------------------------------------


def test_an_unclosed_quote_is_reported_where_it_opens(runner, tmp_path):
    d = tmp_path / "wf"
    d.mkdir()
    (d / "a.yaml").write_text('name: A\nmessage: "Hello [name]\ndescription: x\nworkflow_type: ROBOCALL\n')
    result = invoke(runner, "validate", d)
    assert result.exit_code == 1
    (line,) = [line for line in result.stderr.splitlines() if "a.yaml:" in line]
    assert "a.yaml:2: YAML syntax error" in line and "quote" in line and "line 5" in line


def test_an_empty_definition_file_is_said_not_skipped_in_silence(runner, tmp_path):
    d = tmp_path / "wf"
    d.mkdir()
    (d / "empty.yaml").write_text("")
    (d / "comments.yaml").write_text("# nothing yet\n")
    result = invoke(runner, "validate", d)
    assert result.exit_code == 0
    assert "empty.yaml" in result.stderr and "comments.yaml" in result.stderr and "no definition" in result.stderr


# -- 13: a bad value is quoted short ---------------------------------------------------------------


def test_validate_quotes_at_most_24_characters_of_a_bad_value(runner, tmp_path):
    token = "vbk-" + "0123456789abcdef" * 3  # a key pasted into the wrong field
    d = tmp_path / "wf"
    d.mkdir()
    (d / "a.yaml").write_text(f"name: A\nmessage: hi\nworkflow_type: {token}\n{token}: 1\n")
    result = invoke(runner, "validate", d)
    assert result.exit_code == 1
    assert token[:24] not in result.stderr and token[:23] in result.stderr


# -- 12: read-only commands give a 429-only server a bounded wait, and say what it did --------------


def test_a_read_only_client_gives_up_on_a_429_only_server_within_its_total_wait():
    import httpx

    from voicebot_sync.commands.common import Connection, make_client
    from voicebot_sync.errors import RateLimited

    from fakes import FakeClock

    clock = FakeClock()
    answers = []

    def always_429(request):
        answers.append(1)
        return httpx.Response(429, headers={"Retry-After": str(6 * 2 ** (len(answers) - 1))}, json={"message": "slow"})

    conn = Connection("https://api.test/voicebot/v1", "k-123456", [], transport=httpx.MockTransport(always_429),
                      max_wait=60.0)
    client = make_client(conn, clock=clock, sleep=clock.sleep)
    with pytest.raises(RateLimited) as info:
        client.list_workflows()
    assert sum(clock.sleeps) <= 60.0
    message = str(info.value)
    assert "429" in message and f"{len(answers)} requests" in message and "Retry-After 48s" in message
    assert "--max-wait" in message


def test_plan_against_a_429_only_server_stops_at_max_wait_and_says_what_the_server_did(runner, workflows, monkeypatch):
    server = Emulator(api_keys=[KEY], always_429=True)
    with running(server) as url:
        monkeypatch.setenv("VOICEBOT_API_KEY", KEY)
        result = invoke(runner, "plan", workflows, "--api-url", url, "--max-wait", "0s")
    assert result.exit_code == 1
    assert "answered 429" in result.stderr and "another client" not in result.stderr
    assert "--max-wait" in invoke(runner, "drift", "--help").output


# -- 17: the emulator answers every method in JSON, and says how it reads workflow_type --------------


@pytest.mark.parametrize("method", ["TRACE", "CONNECT", "PROPFIND"])
def test_every_unknown_method_gets_the_json_405(method):
    import http.client
    from urllib.parse import urlsplit

    with running(Emulator(api_keys=[KEY])) as url:
        parts = urlsplit(url)
        conn = http.client.HTTPConnection(parts.hostname, parts.port, timeout=5)
        conn.request(method, parts.path + "/workflows", headers={"Authorization": f"Bearer {KEY}"})
        response = conn.getresponse()
        body = json.loads(response.read())
        conn.close()
    assert response.status == 405 and body["status"] == "Error" and response.getheader("Allow")


def test_the_emulator_documents_its_reading_of_workflow_type(runner):
    out = " ".join(invoke(runner, "emulator", "--help").output.split())
    assert "workflow_type" in out and "ROBOCALL" in out


# -- 15: a word diff in the terminal, render's worst case, and a skeleton that must be edited ---------


LONG = " ".join(f"word{i}" for i in range(160))  # ~1000 characters on one line


def test_text_plan_shows_a_word_diff_for_a_one_word_change_in_a_long_message():
    from voicebot_sync.core.planner import make_plan
    from voicebot_sync.output.render import render_text

    from fakes import FakeDefinition as D

    remote = [{"id": "6f1c", "name": "Long", "message": LONG, "description": "", "workflow_type": "ROBOCALL"}]
    changed = LONG.replace("word80", "WORD80")
    text = render_text(make_plan([D("Long", changed)], remote, api_url="https://api.test/voicebot/v1"))
    assert LONG not in text and changed not in text  # neither whole message
    assert "[-word80-]" in text and "{+WORD80+}" in text
    assert "word79" in text and "word150" not in text  # some context, not everything
    assert max(len(line) for line in text.splitlines()) < 200


def test_text_plan_keeps_the_short_before_and_after():
    from voicebot_sync.core.planner import make_plan
    from voicebot_sync.output.render import render_text

    from fakes import FakeDefinition as D

    remote = [{"id": "6f1c", "name": "S", "message": "Hi there", "description": "", "workflow_type": "ROBOCALL"}]
    text = render_text(make_plan([D("S", "Hi you")], remote, api_url="u"))
    assert '      message: "Hi there" -> "Hi you"' in text


def test_render_shows_the_worst_case_and_warns_when_a_value_is_over_its_max_length(runner, tmp_path):
    path = tmp_path / "a.yaml"
    path.write_text("name: A\nmessage: Hello [name], see you on [date].\nparameters:\n"
                    "  name: {max_length: 10, example: Ada}\n  date: {max_length: 20, example: Monday}\n")
    result = invoke(runner, "render", path)
    assert result.exit_code == 0
    assert "at most 50 characters" in result.stderr  # 20 fixed + 10 + 20
    result = invoke(runner, "render", path, "--set", "name=Bartholomew-Alexander")
    assert result.exit_code == 0
    assert "warning: --set name: 21 characters, over its max_length 10" in result.stderr


def test_a_skeleton_from_new_does_not_validate_until_its_message_is_edited(runner, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    assert invoke(runner, "new", "Reminder").exit_code == 0
    result = invoke(runner, "validate", "workflows")
    assert result.exit_code == 1
    (problem,) = [line for line in result.stderr.splitlines() if "reminder.yaml:" in line]
    assert "edit" in problem.lower() and "message" in problem
    path = tmp_path / "workflows" / "reminder.yaml"
    text = path.read_text()
    start = text.index("message: |\n") + len("message: |\n")
    end = text.index("parameters:")
    path.write_text(text[:start] + "  Hello [name], your [topic] is ready.\n" + text[end:])
    assert invoke(runner, "validate", "workflows").exit_code == 0


def test_the_actions_apply_summary_names_unmanaged_workflows_too(tmp_path):
    from test_github_action import apply_inputs, run_action

    write_workflow(tmp_path / "workflows", "Reminder", "Hello [name]")
    emulator = Emulator(api_keys=[KEY])
    emulator.add_workflow(name="Reminder", message="Hello [name]")
    emulator.add_workflow(name="Made by hand", message="m")
    with running(emulator) as url:
        code, log, outputs, summary = run_action(tmp_path, apply_inputs(url, **{"allow-plan-change": "true"}),
                                                 event_name="workflow_dispatch")
    assert code == 0, log
    assert "1 unmanaged remote workflow left alone" in summary and "matches the definitions" not in summary
