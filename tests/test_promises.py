"""The promises at their seams (issue 17): each numbered finding, over HTTP against the emulator.

Redaction happens as outside text enters, before anything escapes, serialises or cuts it; a name
has one identity however the server or the file spells it; a confirmed create is never sent twice;
one account however its URL is spelled; refused writes are final; a second interrupt is 130; no
server text or state file is a bug (exit 70).
"""

import html
import json
import os
import re
import unicodedata

import pytest
from click.testing import CliRunner

from voicebot_sync.cli import main
from voicebot_sync.emulator import Emulator, running

from conftest import KEY, write_workflow


def _run(*args, env=None, runner=None):
    result = (runner or CliRunner()).invoke(main, [str(a) for a in args], env=env)
    assert result.exception is None or isinstance(result.exception, SystemExit), result.exception
    assert "Traceback" not in result.output + result.stderr
    assert result.exit_code != 70, result.stderr
    return result


def _decoded(text: str) -> str:
    """``text`` as its readers would decode it: JSON strings, HTML/Markdown entities, URL escapes."""
    from urllib.parse import unquote

    forms = [text, html.unescape(text), html.unescape(re.sub(r"<!--\s*-->", "", text)), unquote(text)]
    for chunk in re.findall(r'"(?:[^"\\]|\\.)*"', text):
        try:
            forms.append(json.loads(chunk))
        except ValueError:
            pass
    try:
        forms.append(json.dumps(json.loads(text), ensure_ascii=False))
    except ValueError:
        pass
    return "\n".join(forms)


def _leaks(key: str, text: str) -> bool:
    """The key, or any 12 characters of it in a row, in any decoded form of ``text``."""
    decoded = _decoded(text)
    return any(key[i:i + 12] in decoded for i in range(0, max(1, len(key) - 11)))


# Keys of every printable class the tool accepts: punctuation that Markdown, HTML, JSON and URLs escape.
KEYS = ["sk_live_Abc.Def=123456", 'Ab"cd\\efgh-0123456789', "k<y>&'quoted'`tick`*star*|pipe|#1@me:x~y!",
        "pct%41%2Fslash/plus+space_less_key", "A" * 30 + "\\u0041" + "B" * 10]


# -- 1, 2, 3: the key is never shown, in any form a reader decodes --------------------------------------

@pytest.mark.parametrize("key", KEYS)
def test_a_key_echoed_by_the_server_is_shown_in_no_output_format_and_no_file(tmp_path, monkeypatch, key):
    monkeypatch.chdir(tmp_path)
    write_workflow(tmp_path / "workflows", "Reminder", "Hello [name]")
    emulator = Emulator(api_keys=[key], echo_key=True)
    outputs = []
    with running(emulator) as url:
        env = {"VOICEBOT_API_URL": url, "VOICEBOT_API_KEY": key, "VOICEBOT_RATE_LIMIT": "off",
               "GITHUB_ACTIONS": "true"}
        for args in [("plan", "-v"), ("plan", "--format", "json"), ("plan", "--format", "markdown"),
                     ("plan", "--out", tmp_path / "plan.json"), ("drift", "--format", "markdown"),
                     ("apply", "-v", "--yes", "--format", "json", "--log-file", tmp_path / "requests.log"),
                     ("drift", "--format", "json")]:
            outputs.append(_run(*args, env=env))
        # A wrong key whose 401 message pads the key past every cut the client makes.
        wrong = key[:-1] + ("x" if key[-1] != "x" else "y")
        for fmt in ("text", "json", "markdown"):
            outputs.append(_run("plan", "-v", "--format", fmt, "--log-file", tmp_path / "wrong.log",
                                env={**env, "VOICEBOT_API_KEY": wrong}))
            assert outputs[-1].exit_code == 1
    for result in outputs:
        assert not _leaks(key, result.output + result.stderr)
        assert not _leaks(wrong, result.output + result.stderr)
    for dirpath, _dirs, files in os.walk(tmp_path):
        for name in files:
            if name.endswith(".yaml"):
                continue
            with open(os.path.join(dirpath, name), encoding="utf-8", errors="replace") as fh:
                text = fh.read()
            assert not _leaks(key, text) and not _leaks(wrong, text), name


def test_the_markdown_door_spells_no_registered_key_in_entities():
    from voicebot_sync.text.escaping import md_text
    from voicebot_sync.text.redaction import redact, register_secret

    register_secret("sk_live_Abc.Def=123456")
    shown = redact(md_text("name sk_live_Abc.Def=123456 end"))
    assert "123456" not in html.unescape(shown)


# -- 4: a confirmed create is never sent again while GET by id lags ------------------------------------

def test_a_confirmed_create_is_not_sent_again_when_get_by_id_and_the_list_both_lag(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    write_workflow(tmp_path / "workflows", "Alpha", "Hello [name]")
    emulator = Emulator(api_keys=[KEY], list_lag=60.0, get_lag=True)
    with running(emulator) as url:
        env = {"VOICEBOT_API_URL": url, "VOICEBOT_API_KEY": KEY, "VOICEBOT_RATE_LIMIT": "off"}
        # A settle time of 2 s (10 by default) keeps the test short: run 2 starts well inside it.
        first = _run("apply", "--yes", "--settle-time", "2", env=env)
        assert first.exit_code == 0
        second = _run("apply", "--yes", "--settle-time", "2", env=env)
    assert [w["name"] for w in emulator.workflows] == ["Alpha"]  # never two
    assert second.exit_code == 1 and "uncertain" in second.output + second.stderr
    assert "lost its answer" not in second.stderr  # it was confirmed: the note says so (issue 18, item 9)


# -- 5, 6: one identity of a name --------------------------------------------------------------------

@pytest.mark.parametrize("form", ["nfc", "spaces", "nfc-spaces"])
def test_a_server_that_normalises_names_never_gets_a_second_workflow_over_three_applies(tmp_path, monkeypatch, form):
    monkeypatch.chdir(tmp_path)
    decomposed = unicodedata.normalize("NFD", "Àṣẹ  ìrántí ọjọ́")  # Yoruba with combining marks, two spaces
    write_workflow(tmp_path / "workflows", decomposed, "Hello [name]", filename="yo.yaml")
    emulator = Emulator(api_keys=[KEY], normalise_names=form)
    with running(emulator) as url:
        env = {"VOICEBOT_API_URL": url, "VOICEBOT_API_KEY": KEY, "VOICEBOT_RATE_LIMIT": "off"}
        results = [_run("apply", "--yes", "--prune", env=env) for _ in range(3)]
    assert len(emulator.workflows) == 1
    assert all(r.exit_code == 0 for r in results), [r.stderr for r in results]
    assert "created" not in results[1].output.split("Apply")[-1] or "0 created" in results[1].output
    said = results[0].output + results[0].stderr
    assert "stored the name" in said  # said once, with the fix
    assert "did not keep name" not in said  # not a second time in the words of another check


def test_a_definition_in_another_unicode_form_updates_the_remote_name_and_prune_keeps_its_id(api, tmp_path,
                                                                                           monkeypatch, emulator):
    monkeypatch.chdir(tmp_path)
    original = emulator.add_workflow(name=unicodedata.normalize("NFC", "Rappel café"), message="Hello [name]")
    write_workflow(tmp_path / "workflows", unicodedata.normalize("NFD", "Rappel café"), "Hello [name]",
                   filename="fr.yaml")
    plan = _run("plan", "--prune", "--format", "json")
    changes = json.loads(plan.stdout)["changes"]
    assert [c["action"] for c in changes] == ["update"] and changes[0]["id"] == original["id"]
    _run("apply", "--yes", "--prune")
    assert [w["id"] for w in emulator.workflows] == [original["id"]]


def test_a_look_alike_name_is_never_created_beside_a_remote_one(api, tmp_path, monkeypatch, emulator):
    monkeypatch.chdir(tmp_path)
    emulator.add_workflow(name="Lab results", message="Hello [name]")
    write_workflow(tmp_path / "workflows", "Lab results", "Hello [name]", filename="a.yaml")
    write_workflow(tmp_path / "workflows", "Lab  results", "Hi [name]", filename="b.yaml")
    result = _run("apply", "--yes")
    assert result.exit_code == 1 and "spaces folded" in result.stderr  # validate sees it first
    assert len(emulator.workflows) == 1


def test_the_planner_never_creates_a_look_alike_of_a_remote_name_outside_the_scope():
    from voicebot_sync.errors import MatchError
    from voicebot_sync.core.model import Scope
    from voicebot_sync.core.planner import make_plan

    from fakes import FakeDefinition

    remote = [{"id": "1", "name": "Clinic\u00a0Lab results", "message": "m", "workflow_type": "ROBOCALL"}]
    with pytest.raises(MatchError) as info:
        make_plan([FakeDefinition("Clinic Lab results")], remote, api_url="u", scope=Scope(names=["Clinic Lab results"]))
    assert "would be created beside" in str(info.value.problems[0]) and "outside" in str(info.value.problems[0])


# -- 7: one account, however its URL is spelled ------------------------------------------------------

def test_two_spellings_of_one_url_and_two_keys_share_one_lock():
    from voicebot_sync.state.statedir import account_id, canonical_url

    spellings = ["https://api.example/voicebot/v1", "https://API.example:443//voicebot/v1/",
                 "https://api.example/voicebot/./v1", "https://api.example/%76oicebot/x/../v1"]
    assert len({canonical_url(u) for u in spellings}) == 1
    assert len({account_id(u, None) for u in spellings}) == 1


def test_a_server_that_merges_slashes_is_one_account_for_the_lock(tmp_path, monkeypatch):
    from voicebot_sync.state.lock import account_lock
    from voicebot_sync.errors import Locked

    monkeypatch.chdir(tmp_path)
    with account_lock("http://127.0.0.1:9/voicebot/v1", "key-one", timeout=0):
        with pytest.raises(Locked):
            with account_lock("http://127.0.0.1:9//voicebot/v1/", "key-two", timeout=0):
                pass


def test_apply_through_a_doubled_slash_reaches_a_merging_server(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    write_workflow(tmp_path / "workflows", "Alpha", "Hello [name]")
    emulator = Emulator(api_keys=[KEY], merge_slashes=True)
    with running(emulator) as url:
        doubled = url.replace("/voicebot", "//voicebot")
        env = {"VOICEBOT_API_KEY": KEY, "VOICEBOT_RATE_LIMIT": "off"}
        assert _run("apply", "--yes", "--api-url", url, env=env).exit_code == 0
        assert _run("apply", "--yes", "--api-url", doubled, env=env).exit_code == 0
    assert len(emulator.workflows) == 1


# -- 8: a refused write is final ---------------------------------------------------------------------

def test_a_refused_write_is_sent_once_and_the_independent_ones_go_on(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    emulator = Emulator(api_keys=[KEY])
    changed = emulator.add_workflow(name="Changed", message="old [name]")
    emulator.add_workflow(name="Gone", message="bye [name]")
    write_workflow(tmp_path / "workflows", "Changed", "new [name]")
    write_workflow(tmp_path / "workflows", "Added", "Hello [name]")
    puts = []

    original = emulator._update

    def refusing(workflow_id, body):
        puts.append(workflow_id)
        from voicebot_sync.emulator.wire import envelope

        return envelope(200, "message contains a forbidden word", {}, ok=False)

    emulator._update = refusing
    with running(emulator) as url:
        env = {"VOICEBOT_API_URL": url, "VOICEBOT_API_KEY": KEY, "VOICEBOT_RATE_LIMIT": "off"}
        result = _run("apply", "--yes", "--prune", "--format", "json", env=env)
    emulator._update = original
    assert puts == [changed["id"]]  # once
    assert emulator.stats["requests"] == 4  # list, create, the refused update, delete: nothing else
    report = json.loads(result.stdout)
    assert result.exit_code == 1 and report["created"] == 1 and report["deleted"] == 1
    assert "forbidden word" in report["failures"][0]["error"]
    assert sorted(w["name"] for w in emulator.workflows) == ["Added", "Changed"]


# -- 9: the second interrupt ---------------------------------------------------------------------------

def test_a_second_interrupt_after_a_create_was_sent_exits_130_and_says_what_is_unknown(api, tmp_path, monkeypatch,
                                                                                       emulator):
    from voicebot_sync.api.client import VoicebotClient
    from voicebot_sync.apply.stop import SecondSignal

    monkeypatch.chdir(tmp_path)
    write_workflow(tmp_path / "workflows", "Alpha", "Hello [name]")
    original = VoicebotClient.create_workflow

    def create_then_interrupted(self, fields):
        original(self, fields)
        raise SecondSignal  # the second Ctrl-C arrives while the answer is on its way

    monkeypatch.setattr(VoicebotClient, "create_workflow", create_then_interrupted)
    result = _run("apply", "--yes")
    assert result.exit_code == 130
    last = result.stderr.strip().splitlines()[-1]
    assert "nothing was changed" not in last and "uncertain" in last
    monkeypatch.setattr(VoicebotClient, "create_workflow", original)
    assert _run("apply", "--yes", "--settle-time", "0").exit_code == 0
    assert len(emulator.workflows) == 1  # the next run found it instead of creating it again


# -- 10, 11, 12: no server text and no state file is a bug ---------------------------------------------

@pytest.mark.parametrize("fmt", ["text", "json", "markdown"])
def test_a_lone_surrogate_in_a_remote_name_and_id_is_shown_never_a_crash(api, tmp_path, monkeypatch, emulator, fmt):
    monkeypatch.chdir(tmp_path)
    emulator.add_workflow(id="X\ud800Y", name="A\udfffB", message="m")
    write_workflow(tmp_path / "workflows", "Alpha", "Hello [name]")
    result = _run("plan", "--format", fmt, "--out", tmp_path / "plan.json")
    assert result.exit_code == 0
    if fmt == "text":
        assert "\\udfff" in result.output  # shown as its escape, never written raw


def test_a_list_nested_deeper_than_any_workflow_is_one_clear_line(tmp_path, monkeypatch):
    import httpx

    from voicebot_sync.commands.common import Connection, make_client
    from voicebot_sync.errors import UnexpectedAnswer

    body = b"[" * 100000 + b"]" * 100000
    client = make_client(Connection("http://127.0.0.1:1/voicebot/v1", KEY,
                                    transport=httpx.MockTransport(lambda r: httpx.Response(200, content=body))))
    with pytest.raises(UnexpectedAnswer, match="nested too deeply"):
        client.list_workflows()


@pytest.mark.parametrize("entry", [{"sent_at": "yesterday"}, {"sent_at": None}, {"sent_at": 1e400},
                                   {"name": ["a", "list"]}, {"state": "weird"}, {"fields": "x"}])
def test_a_journal_with_a_wrong_field_is_set_aside_with_one_warning(tmp_path, monkeypatch, entry):
    from voicebot_sync.state.journal import Journal

    good = {"op": "1", "action": "create", "name": "A", "id": None, "fields": {}, "sent_at": 1.0, "state": "sending"}
    path = tmp_path / "journal.json"
    text = json.dumps({"entries": [{**good, **entry}]}).replace("Infinity", "1e400")
    path.write_text(text)
    journal = Journal(str(path))
    assert journal.problem and "kept as" in journal.problem
    assert journal.entries == {} and (tmp_path / "journal.json.bad").exists()


def test_a_deeply_nested_ledger_or_plan_file_is_a_clear_line(api, tmp_path, monkeypatch, workflows):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "plan.json").write_text("[" * 50000 + "]" * 50000)
    result = _run("apply", "--plan", tmp_path / "plan.json", "--yes")
    assert result.exit_code == 1 and "nested too deeply" in result.stderr


def test_an_unreadable_ledger_never_stalls_a_read_only_plan(tmp_path, monkeypatch, workflows):
    from voicebot_sync.text.redaction import fingerprint

    monkeypatch.chdir(tmp_path)
    ledger_dir = os.path.join(os.environ["VOICEBOT_SYNC_STATE_DIR"], "ledger")
    os.makedirs(ledger_dir, exist_ok=True)
    with open(os.path.join(ledger_dir, fingerprint(KEY) + ".json"), "w") as fh:
        fh.write("[" * 50000)
    emulator = Emulator(api_keys=[KEY])
    with running(emulator) as url:
        result = _run("plan", workflows, "--api-url", url, "--api-key", KEY, "--rate-limit", "6/1m,60/1h")
    assert result.exit_code == 0 and "relies on the server's 429s" in result.stderr
    assert os.path.exists(os.path.join(ledger_dir, fingerprint(KEY) + ".json.bad"))


@pytest.mark.parametrize("value,seconds", [("5", 5.0), ("1.5", 1.5), ("1e3", None), ("-5", None), ("inf", None),
                                           ("0x10", None), ("+5", None), ("Wed, 21 Oct 2015 07:28:00", None),
                                           ("9" * 40, None)])
def test_retry_after_is_read_as_the_standard_says(value, seconds):
    from voicebot_sync.api.client import parse_retry_after

    assert parse_retry_after(value, now=0) == seconds


def test_two_files_whose_names_a_server_would_store_as_one_are_refused_by_validate(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    write_workflow(tmp_path / "workflows", "Lab results", "Hello [name]", filename="a.yaml")
    write_workflow(tmp_path / "workflows", "Lab\u3000 results", "Hi [name]", filename="b.yaml")  # ideographic space
    result = _run("validate")
    assert result.exit_code == 1 and "spaces folded" in result.stderr


def test_a_delete_of_an_id_that_is_not_valid_unicode_fails_alone_never_a_crash(api, tmp_path, monkeypatch, emulator):
    monkeypatch.chdir(tmp_path)
    emulator.add_workflow(id="X\ud800Y", name="Odd", message="m")
    emulator.add_workflow(name="Plain", message="m")
    write_workflow(tmp_path / "workflows", "Alpha", "Hello [name]")
    result = _run("apply", "--yes", "--prune", "--force")
    assert result.exit_code == 1 and "not valid Unicode" in result.output
    assert sorted(w["name"] for w in emulator.workflows) == ["Alpha", "Odd"]  # the others went on


# -- issue 19: one list parser of environments for the command line and the Action ------------------

@pytest.mark.parametrize("value,names", [("staging,production", ["staging", "production"]),
                                         ("staging production", ["staging", "production"]), ("", [])])
def test_one_parser_reads_environment_lists_for_both_faces(value, names):
    from voicebot_sync.commands.environments import parse_environments
    from voicebot_sync.github.inputs import environment_names

    assert parse_environments(value) == environment_names(value) == names


def test_an_environment_given_twice_is_refused_by_both_faces():
    from voicebot_sync.commands.environments import parse_environments
    from voicebot_sync.errors import UsageError
    from voicebot_sync.github.inputs import environment_names

    for parse in (parse_environments, environment_names):
        with pytest.raises(UsageError, match="given twice"):
            parse("staging,production,staging")


# -- 1: the key an echoing server sends back never reaches the PR comment, the summary or the outputs ----

@pytest.mark.parametrize("key", ["sk_live_Abc.Def=123456", 'Ab"cd\\efgh-0123456789'])
def test_the_action_never_shows_a_key_the_server_echoes(tmp_path, key):
    from fake_github import FakeGitHub, serving
    from test_github_action import pr_event, run_action

    write_workflow(tmp_path / "workflows", "Reminder", "Hello [name]")
    emulator = Emulator(api_keys=[key], echo_key=True)
    github = FakeGitHub("ghs_faketoken")
    with running(emulator) as url, serving(github) as gh_url:
        code, log, outputs, summary = run_action(tmp_path, {"api-url": url, "api-key": key, "rate-limit": "off"},
                                                 event=pr_event(), github_api=gh_url)
    assert code == 0, log
    (comment,) = github.comments[7]
    shown = log.replace(f"::add-mask::{key}", "")
    for text in (shown, summary, comment["body"], json.dumps(outputs), open(outputs["plan-file"]).read()):
        assert not _leaks(key, text)
