"""Nothing duplicated, nothing deleted by accident: strict answers, lost creates with a
lagging list, the journal, stops, plan files, narrow commands (issue 10)."""

import dataclasses
import json
import uuid

import httpx
import pytest
from hypothesis import HealthCheck, given, settings, strategies as st

from voicebot_sync.api.client import VoicebotClient, workflow_path
from voicebot_sync.errors import PlanError, ServerError, UnexpectedAnswer
from voicebot_sync.apply.executor import Executor
from voicebot_sync.state.journal import Journal
from voicebot_sync.core.plan import Plan
from voicebot_sync.core.planner import make_plan
from voicebot_sync.api.ratelimit import RateLimiter
from voicebot_sync.api.retry import RetryPolicy

from conftest import PROPERTY_EXAMPLES
from fakes import FakeApi, FakeClock, FakeDefinition as D
from fakes import client_for


# -- the answer is read strictly ------------------------------------------------------


# -- lost creates, a list that lags, the journal -----------------------------------------


def test_a_lost_create_with_a_list_that_lags_is_adopted_not_repeated(tmp_path):
    clock = FakeClock()
    api = FakeApi(clock=clock, list_lag=6.0)  # the list shows a create 6 s after it was made
    api.faults = [("POST", "lose")]
    client = client_for(api.transport(), clock=clock, max_retries=5)
    plan = make_plan([D("Reminder")], client.list_workflows(), api_url="u")
    journal = Journal(str(tmp_path / "journal.json"))
    report = Executor(client, journal=journal, settle=10.0).run(plan)
    assert [w["name"] for w in api.workflows.values()] == ["Reminder"]  # exactly once
    assert report.count("created") == 1 and report.complete
    # Kept as confirmed for the settle time (a list may not show it yet), never as uncertain.
    assert [e.state for e in Journal(journal.path).entries.values()] == ["created"]


def test_a_create_lost_to_a_kill_is_looked_for_by_the_next_run_before_it_creates(tmp_path):
    clock = FakeClock()
    api = FakeApi(clock=clock, list_lag=6.0)
    # The killed run: its POST reached the server, then the process died (the journal kept it).
    journal = Journal(str(tmp_path / "journal.json"))
    journal.begin("create", "Reminder", None, {"name": "Reminder", "message": "Hello [name]"})
    api.handle(httpx.Request("POST", "https://api.test/voicebot/v1/workflows",
                             json={"name": "Reminder", "message": "Hello [name]"}))
    # The next run at once: the list does not show it yet, so the plan wants to create it...
    client = client_for(api.transport(), clock=clock)
    plan = make_plan([D("Reminder")], client.list_workflows(), api_url="u")
    assert [c.action for c in plan.changes] == ["create"]
    # ...but the executor reads the journal and looks again before it creates.
    report = Executor(client, journal=Journal(journal.path), settle=10.0).run(plan)
    assert [w["name"] for w in api.workflows.values()] == ["Reminder"]
    assert report.count("created") == 1
    assert "earlier run" in report.outcomes[0].note


def test_two_applies_in_a_row_with_a_list_that_lags_create_once(tmp_path):
    clock = FakeClock()
    api = FakeApi(clock=clock, list_lag=6.0)
    for _ in range(2):
        client = client_for(api.transport(), clock=clock)
        plan = make_plan([D("Reminder")], client.list_workflows(), api_url="u")
        Executor(client, journal=Journal(str(tmp_path / "journal.json")), settle=10.0).run(plan)
        clock.sleep(1.0)
    assert [w["name"] for w in api.workflows.values()] == ["Reminder"]


def test_a_second_signal_during_a_post_reports_it_uncertain_and_keeps_it_in_the_journal(tmp_path):
    api = FakeApi()

    def interrupted(request):
        if request.method == "POST":
            api.handle(request)  # the server made it...
            raise KeyboardInterrupt  # ...and the second Ctrl-C arrived before the answer
        return api.handle(request)

    client = client_for(interrupted)
    plan = make_plan([D("A"), D("B")], client.list_workflows(), api_url="u")
    journal = Journal(str(tmp_path / "journal.json"))
    executor = Executor(client, journal=journal, settle=0)
    with pytest.raises(KeyboardInterrupt):
        executor.run(plan)
    report = executor.last_report
    assert [(o.change.name, o.status) for o in report.outcomes] == [("A", "uncertain")]
    assert [c.name for c in report.remaining] == ["B"]  # only B is "not started"
    assert [e.name for e in Journal(journal.path).pending_creates()] == ["A"]


# -- plan files ----------------------------------------------------------------------------


# -- convergence under random faults and interruptions (property) ----------------------


# Names a normalising server stores otherwise: two spaces, a combining accent (NFD).
ODD_NAMES = ["W  1", "We\u0301 2"]


@settings(max_examples=PROPERTY_EXAMPLES or 40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    wanted=st.sets(st.sampled_from([f"W{i}" for i in range(6)] + ODD_NAMES), max_size=6),
    existing=st.sets(st.sampled_from([f"W{i}" for i in range(3, 9)]), max_size=6),
    faults=st.lists(st.tuples(st.sampled_from(["POST", "PUT", "DELETE", "GET"]),
                              st.sampled_from(["lose", "500", "500-after", "connect", "interrupt"])), max_size=8),
    prune=st.booleans(),
    lag=st.sampled_from([0.0, 4.0]),
    server=st.sampled_from(["plain", "normalises names", "GET by id lags"]),
)
def test_random_faults_and_interruptions_converge_to_each_definition_exactly_once(tmp_path, wanted, existing, faults,
                                                                                   prune, lag, server):
    import re
    import unicodedata

    clock = FakeClock()
    api = FakeApi([{"name": n, "message": "old"} for n in sorted(existing)], clock=clock, list_lag=lag,
                  normalise_names=server == "normalises names", get_lag=server == "GET by id lags")
    for w in api.workflows.values():
        api.created_at[w["id"]] = -1e9  # made long ago: listed
    interrupts = [m for m, f in faults if f == "interrupt"]
    api.faults = [(m, f) for m, f in faults if f != "interrupt"]

    def handler(request):
        if interrupts and request.method == interrupts[0]:
            interrupts.pop(0)
            api.handle(request)
            raise KeyboardInterrupt
        return api.handle(request)

    definitions = [D(n, "new") for n in sorted(wanted)]
    journal_path = str(tmp_path / f"journal-{uuid.uuid4().hex}.json")  # one per example: tmp_path is shared
    for _ in range(12):
        client = client_for(httpx.MockTransport(handler), clock=clock, max_retries=3)
        try:
            plan = make_plan(definitions, client.list_workflows(), api_url="u", prune=prune)
            report = Executor(client, journal=Journal(journal_path), settle=5.0).run(plan)
        except KeyboardInterrupt:
            continue
        except (ServerError, UnexpectedAnswer, Exception) as exc:  # a read that failed every retry: run again
            if isinstance(exc, AssertionError):
                raise
            continue
        if report.complete and not plan.changes:
            break
        clock.sleep(1.0)
    def folded(name):  # one identity, however the server stored the name
        return re.sub(r"\s+", " ", unicodedata.normalize("NFC", name)).strip()

    names = sorted(folded(w["name"]) for w in api.workflows.values())
    for n in wanted:
        assert names.count(folded(n)) == 1, (names, wanted)
    if not prune:
        for n in existing - wanted:
            assert n in names  # never deleted without --prune
    else:
        assert sorted(names) == sorted(folded(n) for n in wanted)


# -- narrow commands, export -----------------------------------------------------------------


def _cli(runner, *args):
    from voicebot_sync.cli import main

    result = runner.invoke(main, [str(a) for a in args])
    assert result.exception is None or isinstance(result.exception, SystemExit), result.exception
    return result


def test_prune_with_paths_narrower_than_the_workflows_directory_is_refused(api, runner, workflows, monkeypatch,
                                                                           emulator):
    monkeypatch.chdir(workflows.parent)
    (workflows.parent / "voicebot-sync.yaml").write_text("prune: true\n")
    emulator.add_workflow(name="Made by hand", message="m")
    one = sorted(workflows.iterdir())[0]
    result = _cli(runner, "apply", "--yes", one)
    assert result.exit_code == 1 and "narrower than the workflows directory" in result.stderr
    assert "Made by hand" in [w["name"] for w in emulator.workflows]  # nothing was deleted
    assert _cli(runner, "plan", one).exit_code == 1
    assert _cli(runner, "plan", workflows).exit_code == 0  # the whole directory is fine


def test_a_hidden_or_leftover_file_is_named_in_the_plan(api, runner, workflows, monkeypatch):
    monkeypatch.chdir(workflows.parent)
    (workflows / ".draft.yaml").write_text("name: Draft\nmessage: hi\n")
    result = _cli(runner, "plan")
    assert result.exit_code == 0 and "not read" in result.output and ".draft.yaml" in result.output


def test_export_never_overwrites_definitions_without_force(api, runner, workflows, emulator):
    emulator.add_workflow(name="Remote one", message="m")
    result = _cli(runner, "export", "--out-dir", workflows)
    assert result.exit_code == 1 and "--force" in result.stderr
    assert sorted(p.name for p in workflows.iterdir()) == ["appointment-reminder.yaml", "lab-results.yaml",
                                                             "refill-ready.yaml"]


def test_export_round_trips_a_name_with_surrounding_whitespace_by_pinning_its_id(api, runner, tmp_path, emulator):
    w = emulator.add_workflow(name="Reminder ", message="m")
    assert _cli(runner, "export", "--out-dir", tmp_path / "out").exit_code == 0
    text = (tmp_path / "out" / "reminder.yaml").read_text()
    assert f"id: {w['id']}" in text
    result = _cli(runner, "plan", "--detailed-exitcode", tmp_path / "out")
    assert result.exit_code == 0, result.output + result.stderr


# -- over HTTP, against the emulator's faults ---------------------------------------------------


def test_over_http_an_envelope_that_says_error_is_never_an_empty_remote(runner, workflows, monkeypatch, tmp_path,
                                                                       quick_backoff):
    from voicebot_sync.emulator import Emulator, running

    from conftest import KEY

    emulator = Emulator(api_keys=[KEY], fault_status_error=1.0)
    emulator.add_workflow(name="Appointment reminder", message="Hello [name], your appointment is on [date] at [time].")
    with running(emulator) as url:
        result = _cli(runner, "apply", "--yes", workflows, "--api-url", url, "--api-key", KEY, "--rate-limit", "off")
    assert result.exit_code == 1 and "Error" in result.stderr
    assert emulator.stats["requests"] == 1 + 5  # the list, retried (max_retries 5), never taken for empty
    assert len(emulator.workflows) == 1  # nothing created again


@pytest.mark.parametrize("fault", [{"list_shape": "nested"}, {"omit_fields": ("message",)},
                                   {"null_name": True}, {"html_answers": True}])
def test_over_http_a_list_that_is_not_the_whole_remote_stops_the_run(runner, workflows, fault):
    from voicebot_sync.emulator import Emulator, running

    from conftest import KEY

    emulator = Emulator(api_keys=[KEY], **fault)
    for name in ("Appointment reminder", "Refill ready", "Lab results"):
        emulator.add_workflow(name=name, message="m")
    with running(emulator) as url:
        result = _cli(runner, "apply", "--yes", "--prune", workflows, "--api-url", url, "--api-key", KEY,
                      "--rate-limit", "off")
    assert result.exit_code == 1
    assert len(emulator.workflows) == 3 and emulator.stats["writes"] == 0
    assert len(result.stderr.strip().splitlines()) == 1  # one line, at once (not retried)


def test_over_http_a_list_that_lags_and_lost_answers_never_duplicate(tmp_path):
    from voicebot_sync.commands.common import Connection, make_client
    from voicebot_sync.emulator import Emulator, running

    from conftest import KEY

    emulator = Emulator(api_keys=[KEY], list_lag=0.3, fault_drop_after_write=0.5, fault_seed=3)
    definitions = [D(f"W{i}") for i in range(6)]
    with running(emulator) as url:
        for _ in range(4):
            with make_client(Connection(url, KEY, [], max_retries=6, timeout=5, backoff_base=0.01)) as client:
                plan = make_plan(definitions, client.list_workflows(), api_url=url)
                report = Executor(client, journal=Journal(str(tmp_path / "j.json")), settle=0.5).run(plan)
            if report.complete and not plan.changes:
                break
    names = sorted(w["name"] for w in emulator.workflows)
    assert names == sorted(d.name for d in definitions)  # each exactly once
    assert emulator.stats["dropped"] >= 1


def test_a_trickling_answer_fails_within_the_total_deadline():
    import time as _time

    from voicebot_sync.api.client import VoicebotClient
    from voicebot_sync.emulator import Emulator, running
    from voicebot_sync.errors import AnswerLost

    emulator = Emulator(trickle=0.2)
    emulator.add_workflow(name="A", message="m" * 50)
    with running(emulator) as url:
        client = VoicebotClient(url, None, timeout=0.8, retry=RetryPolicy(max_retries=0))
        started = _time.monotonic()
        with pytest.raises(AnswerLost, match="in total"):
            client.list_workflows()
    assert _time.monotonic() - started < 5  # a read timeout alone would never fire


def test_a_retry_after_past_the_cap_is_refused_and_max_duration_bounds_every_wait():
    from voicebot_sync.errors import RateLimited
    from voicebot_sync.apply.stop import StopRequested, StopSignal

    client = client_for(lambda r: httpx.Response(429, headers={"Retry-After": "86400"}, json={"message": "slow"}))
    with pytest.raises(RateLimited, match="24h"):
        client.list_workflows()
    stop = StopSignal()
    stop.deadline = __import__("time").monotonic() + 10
    with pytest.raises(StopRequested):
        stop.sleep(1800)  # a wait past --max-duration is not started
    assert "max-duration" in stop.reason


def test_a_server_that_always_answers_429_is_given_up_with_a_clear_line():
    from voicebot_sync.errors import RateLimited

    calls = []

    def always(request):
        calls.append(1)
        return httpx.Response(429, headers={"Retry-After": "1"}, json={"message": "slow down"})

    client = client_for(always)
    with pytest.raises(RateLimited, match="still rate limited"):
        client.list_workflows()
    assert len(calls) == client.retry.max_rate_limited + 1


def test_a_hand_edited_remote_count_cannot_get_a_saved_plan_past_the_guards(tmp_path, monkeypatch):
    from click.testing import CliRunner

    from voicebot_sync.cli import main

    monkeypatch.chdir(tmp_path)
    runner = CliRunner()
    for i in range(12):
        (tmp_path / "workflows").mkdir(exist_ok=True)
        (tmp_path / "workflows" / f"w{i}.yaml").write_text(f"name: wf{i}\nmessage: hello {i}\n")
    assert _cli(runner, "apply", "--api-url", "local", "--yes").exit_code == 0
    for i in range(2, 12):
        (tmp_path / "workflows" / f"w{i}.yaml").unlink()
    assert _cli(runner, "plan", "--api-url", "local", "--prune", "--out", "p.json").exit_code == 0
    data = json.loads((tmp_path / "p.json").read_text())
    data["remote_count"] = 0
    data["apply_would_refuse"] = None
    (tmp_path / "p2.json").write_text(json.dumps(data))
    result = _cli(runner, "apply", "--plan", "p2.json", "--api-url", "local", "--yes")
    assert result.exit_code == 1 and "refusing to delete 10 of 12" in result.stderr
    # The empty-prune guard's count is inside the fingerprint: editing it is an edited plan.
    data["definitions"] = 99
    (tmp_path / "p3.json").write_text(json.dumps(data))
    assert "edited" in _cli(runner, "apply", "--plan", "p3.json", "--api-url", "local", "--yes").stderr


def test_settle_time_must_be_a_finite_number(tmp_path, monkeypatch):
    from click.testing import CliRunner

    monkeypatch.chdir(tmp_path)
    result = _cli(CliRunner(), "apply", "--api-url", "local", "--settle-time", "nan", "--yes")
    assert result.exit_code == 1 and "settle_time" in result.stderr


def test_an_id_like_a_path_deletes_exactly_its_own_workflow_over_http(tmp_path):
    from voicebot_sync.commands.common import Connection, make_client
    from voicebot_sync.emulator import Emulator, running

    from conftest import KEY

    emulator = Emulator(api_keys=[KEY])
    keep = emulator.add_workflow(name="Keep", message="m")
    odd = dict(emulator.add_workflow(name="Odd", message="m"))
    emulator.add_workflow(id="../workflows", name="Traversal", message="m")  # a server may hand out any id
    with running(emulator) as url:
        with make_client(Connection(url, KEY, [])) as client:
            client.delete_workflow("../workflows")
    assert sorted(w["name"] for w in emulator.workflows) == ["Keep", "Odd"]
    assert {keep["id"], odd["id"]} <= {w["id"] for w in emulator.workflows}
