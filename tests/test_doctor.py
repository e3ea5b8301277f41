"""doctor: one list says whether voicebot-sync can work with a server; --write-test probes what it keeps (issue 20)."""

from __future__ import annotations

import email.utils
import json
import time

import httpx
import pytest

from voicebot_sync.cli import main
from voicebot_sync.core.events import Events
from voicebot_sync.commands.doctor import doctor
from voicebot_sync.read.settings import load_settings
from voicebot_sync.emulator import Emulator, running
from voicebot_sync.state.journal import Journal

from conftest import KEY

MANAGED_EXTRA = ["created_at", "owner_id", "status", "updated_at"]  # what the emulator adds to every workflow


def cli(runner, *args):
    result = runner.invoke(main, [str(a) for a in args])
    assert result.exception is None or isinstance(result.exception, SystemExit), result.exception
    return result


def connection(url, rate="off"):
    return ["--api-url", url, "--api-key", KEY, "--rate-limit", rate]


def settings_for(url, rate="off"):
    return load_settings({"api_url": url, "api_key": KEY, "rate_limit": rate}, environ={})


def seeded(*names, **options):
    emulator = Emulator(api_keys=[KEY], **options)
    for name in names:
        emulator.add_workflow(name=name, message="m")
    return emulator


# -- one request: what the list tells ---------------------------------------------------------


@pytest.mark.parametrize("options,shape,style,pages", [
    ({}, "envelope", None, 1),
    ({"list_shape": "bare"}, "bare", None, 1),
    ({"page_size": 2, "pagination": "next"}, "envelope", "next", 3),
    ({"page_size": 2, "pagination": "page"}, "envelope", "page", 3),
    ({"page_size": 2, "pagination": "cursor"}, "envelope", "cursor", 3),
    ({"page_size": 2, "list_shape": "bare"}, "bare", "link", 3),
])
def test_doctor_reports_the_list_shape_in_one_request_per_page(runner, options, shape, style, pages):
    emulator = seeded("A", "B", "C", "D", "E", **options)
    with running(emulator) as url:
        result = cli(runner, "doctor", "--format", "json", *connection(url))
    assert result.exit_code == 0, result.output
    document = json.loads(result.stdout)
    assert document["format_version"] == 1 and document["ok"] is True and document["reason"] is None
    assert (document["list"]["shape"], document["list"]["pagination"], document["list"]["pages"]) == (shape, style, pages)
    assert document["list"]["workflows"] == 5
    assert document["requests"] == pages == emulator.stats["requests"]
    assert document["extra_fields"] == MANAGED_EXTRA
    assert document["answer_seconds"] >= 0 and abs(document["clock_skew_seconds"]) < 5  # the emulator sends Date
    assert document["write_test"] is None


def test_doctor_text_says_it_can_work(runner):
    with running(seeded("A")) as url:
        result = cli(runner, "doctor", *connection(url))
    assert result.exit_code == 0, result.output
    assert "ok    list: the envelope {data, message, status}; 1 workflow in one page, no pagination" in result.stdout
    assert "info  fields beyond the managed ones: created_at, owner_id, status, updated_at" in result.stdout
    assert result.stdout.rstrip().endswith("Result: voicebot-sync can work with this server (1 request).")


def test_duplicate_names_exact_and_after_nfc_are_warnings(runner):
    emulator = seeded("Same", "Same", "Caf\u00e9", "Cafe\u0301", "Other")
    with running(emulator) as url:
        result = cli(runner, "doctor", "--format", "json", *connection(url))
    assert result.exit_code == 0
    document = json.loads(result.stdout)
    assert [d["name"] for d in document["duplicate_names"]] == ["Same"]
    assert len(document["duplicate_names"][0]["ids"]) == 2
    assert document["nfc_duplicate_names"][0]["names"] == sorted(["Caf\u00e9", "Cafe\u0301"])
    assert len(document["warnings"]) == 2


@pytest.mark.parametrize("emulator,words", [
    (Emulator(api_keys=["another-key"]), "API key is missing or wrong"),
    (Emulator(api_keys=[KEY], html_answers=True), "HTML page"),
    (Emulator(api_keys=[KEY], null_name=True), "'name' is None"),
])
def test_a_server_the_tool_cannot_work_with_is_exit_1_with_one_line(runner, emulator, words):
    emulator.add_workflow(name="A", message="m")
    with running(emulator) as url:
        text = cli(runner, "doctor", *connection(url))
        as_json = cli(runner, "doctor", "--format", "json", *connection(url))
    assert text.exit_code == as_json.exit_code == 1
    (line,) = text.stderr.strip().splitlines()
    assert line.startswith("error: ") and words in line and KEY not in text.output
    document = json.loads(as_json.stdout)
    assert document["ok"] is False and words in document["reason"]


def test_rate_limit_headers_clock_skew_and_budget(tmp_path):
    skewed = email.utils.formatdate(time.time() + 3600, usegmt=True)

    def server(request):
        return httpx.Response(200, json={"status": "Ok", "data": []},
                              headers={"Date": skewed, "X-RateLimit-Remaining": "5", "X-Other": "1"})

    result = doctor(settings_for("https://api.test/voicebot/v1", "6/1m,60/1h"), transport=httpx.MockTransport(server))
    assert result.ok and result.rate_limit_headers == {"x-ratelimit-remaining": "5"}
    assert 3590 < result.clock_skew_seconds < 3610
    assert any("clock is +3" in w and "NTP" in w for w in result.warnings)
    # The ledger saw doctor's one request.
    assert [(w["window"], w["left"]) for w in result.budget["windows"]] == [("6/1m", 5), ("60/1h", 59)]


def test_several_environments_each_get_a_section(runner, tmp_path):
    with running(seeded("A")) as good, running(Emulator(api_keys=["other"])) as bad:
        (tmp_path / "voicebot-sync.yaml").write_text(
            f"rate_limit: 'off'\nenvironments:\n  good:\n    api_url: {good}\n  bad:\n    api_url: {bad}\n")
        result = runner.invoke(main, ["doctor", "--all-environments", "--format", "json",
                                      "--config", str(tmp_path / "voicebot-sync.yaml")], env={"VOICEBOT_API_KEY": KEY})
    assert result.exit_code == 1
    environments = json.loads(result.stdout)["environments"]
    assert (environments["good"]["ok"], environments["bad"]["ok"]) == (True, False)
    assert "error: [bad]" in result.stderr


# -- the write test -----------------------------------------------------------------------


def test_write_test_probes_in_four_requests_and_leaves_nothing(runner):
    emulator = seeded("A")
    with running(emulator) as url:
        result = cli(runner, "doctor", "--write-test", "--yes", "--format", "json", *connection(url))
    assert result.exit_code == 0, result.output
    probe = json.loads(result.stdout)["write_test"]
    assert probe["kept"] == ["include_reply", "response_options", "call_back_url"] and probe["not_kept"] == []
    assert (probe["list_lag"], probe["deleted"], probe["requests"], probe["config_line"]) == (False, True, 4, None)
    assert probe["probe"].startswith("voicebot-sync doctor probe ") and probe["probe"].endswith("(safe to delete)")
    assert emulator.stats["requests"] == 5 and emulator.stats["writes"] == 2
    assert [w["name"] for w in emulator.workflows] == ["A"]
    assert Journal.for_account(url, KEY).entries == {}


def test_write_test_finds_fields_the_server_drops_and_prints_the_config_line(runner):
    emulator = Emulator(api_keys=[KEY], omit_fields="include_reply,response_options")
    with running(emulator) as url:
        result = cli(runner, "doctor", "--write-test", "--yes", *connection(url))
    assert result.exit_code == 0, result.output
    assert "warn  not kept: include_reply, response_options" in result.stdout
    assert "hint  add to voicebot-sync.yaml: unkept_fields: [include_reply, response_options]" in result.stdout
    assert "optional fields kept: call_back_url" in result.stdout
    assert emulator.workflows == []


def test_write_test_sees_a_list_that_lags():
    emulator = Emulator(api_keys=[KEY], list_lag=600.0)
    with running(emulator) as url:
        result = doctor(settings_for(url), write_test=True)
    assert result.ok and result.write_test.listed is False and result.write_test.deleted
    assert any("list lags behind writes" in w for w in result.warnings)
    assert emulator.workflows == []


def test_write_test_does_not_look_in_a_paginated_list_to_stay_within_four_requests():
    emulator = seeded("A", "B", "C", page_size=1)
    with running(emulator) as url:
        result = doctor(settings_for(url), write_test=True)
    assert result.write_test.listed is None and result.write_test.requests == 3
    assert result.requests == 3 + 3


def test_write_test_refused_without_a_terminal_and_without_yes_sends_nothing(runner):
    emulator = Emulator(api_keys=[KEY])
    with running(emulator) as url:
        result = cli(runner, "doctor", "--write-test", *connection(url))
    assert result.exit_code == 1 and "pass --yes" in result.stderr
    assert emulator.stats["requests"] == 0


def test_write_test_refused_when_the_budget_left_is_too_small(runner):
    emulator = Emulator(api_keys=[KEY])
    with running(emulator) as url:
        result = cli(runner, "doctor", "--write-test", "--yes", *connection(url, "4/1m"))
    assert result.exit_code == 1
    assert "rate budget left does not let its 4 requests start at once" in result.stderr
    assert emulator.stats["requests"] == 1 and emulator.stats["writes"] == 0


def test_write_test_asks_on_a_terminal(runner, monkeypatch):
    emulator = Emulator(api_keys=[KEY])
    monkeypatch.setattr("voicebot_sync.cli.doctor._on_terminal", lambda: True)
    with running(emulator) as url:
        result = runner.invoke(main, ["doctor", "--write-test", *connection(url)], input="n\n")
    assert result.exit_code == 1 and "Create, read back and delete one probe workflow" in result.output
    assert emulator.stats["writes"] == 0


# -- a stop in the middle leaves nothing behind ------------------------------------------------


def interrupt_after(method):
    def hook(record):
        if record.method == method and (method == "POST" or record.path.startswith("/workflows/")):
            raise KeyboardInterrupt

    return hook


class Requests(Events):
    """Events that hand every request record to ``hook``."""

    def __init__(self, hook):
        self.request = hook


@pytest.mark.parametrize("method", ["POST", "GET"])  # the create's answer never read (no id), or read (id known)
@pytest.mark.parametrize("next_run", ["doctor", "apply"])
def test_a_stop_in_the_middle_of_the_write_test_is_cleaned_up_by_the_next_run(runner, tmp_path, method, next_run):
    emulator = seeded("A")
    with running(emulator) as url:
        with pytest.raises(KeyboardInterrupt):
            doctor(settings_for(url), Requests(interrupt_after(method)), write_test=True)
        assert len(emulator.workflows) == 2  # the probe was made, and left
        (left,) = Journal.for_account(url, KEY).entries.values()
        assert left.action == "probe" and (left.id is None) == (method == "POST")
        if next_run == "doctor":
            result = cli(runner, "doctor", "--format", "json", *connection(url))
            assert json.loads(result.stdout)["leftover_probes_removed"] == [left.name]
        else:
            (tmp_path / "workflows").mkdir()
            result = cli(runner, "apply", "--yes", tmp_path / "workflows", *connection(url))
            assert "removed the probe" in result.stderr
    assert result.exit_code == 0, result.output
    assert [w["name"] for w in emulator.workflows] == ["A"]
    assert Journal.for_account(url, KEY).entries == {}


def test_a_lost_create_answer_is_exit_1_and_the_next_doctor_removes_the_probe(runner):
    emulator = Emulator(api_keys=[KEY], fault_drop_after_write=1.0)
    with running(emulator) as url:
        first = cli(runner, "doctor", "--write-test", "--yes", *connection(url))
        assert first.exit_code == 1 and "no answer" in first.stderr
        assert len(emulator.workflows) == 1
        emulator.fault_drop_after_write = 0.0
        second = cli(runner, "doctor", *connection(url))
    assert second.exit_code == 0 and "removed a probe" in second.stdout
    assert emulator.workflows == []


def test_a_probe_not_in_the_journal_is_reported_never_deleted(runner):
    emulator = seeded("voicebot-sync doctor probe 12345678 (safe to delete)")
    with running(emulator) as url:
        result = cli(runner, "doctor", *connection(url))
    assert result.exit_code == 0 and "a doctor probe is on the remote" in result.stdout
    assert len(emulator.workflows) == 1


@pytest.mark.parametrize("command", [["doctor"], ["export", "--out-dir", "exported"]])
def test_doctor_and_export_give_up_on_a_429_only_server_at_max_wait(runner, command, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    with running(Emulator(api_keys=[KEY], always_429=True, retry_after="none")) as url:
        result = cli(runner, *command, *connection(url), "--max-wait", "0s")
    assert result.exit_code == 1, result.output
    assert "answered 429" in result.stderr and "--max-wait" in result.stderr
    assert "--max-wait" in cli(runner, command[0], "--help").output
