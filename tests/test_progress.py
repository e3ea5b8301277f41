import io
import json

from voicebot_sync.api.client import RequestRecord
from voicebot_sync.apply.executor import Executor, Outcome, Report
from voicebot_sync.core.plan import Change
from voicebot_sync.core.planner import make_plan
from voicebot_sync.output.progress import LineEvents, RequestLog, TerminalEvents, summary_lines

from fakes import FakeDefinition as D
from test_executor import setup, FakeApi


def run_with(events_class, count=8):
    api = FakeApi()
    client, clock = setup(api)
    out = io.StringIO()
    events = events_class(out)
    client.limiter.on_wait = events.wait
    plan = make_plan([D(f"W{i}") for i in range(count)], client.list_workflows(), api_url="x", windows=[(6, 60.0)])
    report = Executor(client, events=events).run(plan)
    return out.getvalue(), report


def test_terminal_shows_a_status_line_with_done_total_wait_and_eta():
    text, _ = run_with(TerminalEvents)
    assert "[5/8] waiting 1m: rate limit 6/1m; ETA 1m" in text  # the status line, rewritten in place
    assert "\r\x1b[2K[6/8] + created \"W5\"" in text
    assert "Apply complete: 8 created" in text


def test_ci_lines_are_timestamped_and_announce_long_waits():
    text, _ = run_with(LineEvents)
    lines = text.splitlines()
    assert lines[0].endswith("applying 8 changes; the rate limit allows them in 1m at the least")
    assert any(line.endswith("waiting 1m: rate limit 6/1m") for line in lines)
    assert any(line.endswith('[8/8] + created "W7" (id ' + line.split("(id ")[-1]) for line in lines if "[8/8]" in line)
    assert all(line[:4].isdigit() for line in lines[:-2])


def test_summary_names_failures_and_what_remains():
    report = Report(total=3, requests=3, least_seconds=0)
    report.outcomes = [Outcome(Change("create", "A"), "failed", error="message too long")]
    report.remaining = [Change("update", "B", "id-b")]
    report.stopped = "SIGINT received"
    text = "\n".join(summary_lines(report))
    assert "0 created, 0 updated, 0 deleted, 1 failed, 1 remaining" in text
    assert 'failed: create "A": message too long' in text and 'Not started (1): update "B"' in text
    assert "Run apply again to finish" in text


def test_request_log_writes_json_lines(tmp_path):
    log = RequestLog(str(tmp_path / "log.jsonl"))
    log(RequestRecord("POST", "/workflows", 201, 1, 0.012, None, 1_700_000_000.0))
    log.close()
    (record,) = [json.loads(line) for line in (tmp_path / "log.jsonl").read_text().splitlines()]
    assert record == {"time": "2023-11-14T22:13:20.000+00:00", "method": "POST", "path": "/workflows", "status": 201,
                      "attempt": 1, "duration_ms": 12.0, "error": None}
