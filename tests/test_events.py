"""core/events.py: one protocol for what a command tells its face; Events itself does nothing."""

import httpx

from voicebot_sync.commands.common import Connection, make_client
from voicebot_sync.core.events import Events

from conftest import KEY
from fakes import FakeClock

LISTED = {"status": "Ok", "data": []}


class Recorded(Events):
    def __init__(self):
        self.seen = []

    def note(self, text):
        self.seen.append(("note", text))

    def wait(self, seconds, why):
        self.seen.append(("wait", why))

    def request(self, record):
        self.seen.append(("request", record.method, record.status))

    def retry(self, why, seconds):
        self.seen.append(("retry", seconds))


def test_the_null_implementation_accepts_every_event_and_does_nothing():
    events = Events()
    for name, args in [("note", ("x",)), ("wait", (1.0, "why")), ("request", (None,)), ("retry", ("why", 1.0)),
                       ("start", (None, None)), ("tick", (1.0,)), ("begin", (1, None)), ("end", (1, None)),
                       ("finish", (None,))]:
        assert getattr(events, name)(*args) is None


def test_a_client_tells_one_events_object_its_requests_and_retries():
    answers = iter([httpx.Response(503), httpx.Response(200, json=LISTED)])
    events, clock = Recorded(), FakeClock()
    # No rate windows: a limit would bring the (wall-clock) ledger of the key into the test.
    conn = Connection("https://api.test/voicebot/v1", KEY, [], backoff_base=0.01,
                      transport=httpx.MockTransport(lambda request: next(answers)))
    with make_client(conn, events=events, clock=clock, sleep=clock.sleep) as client:
        assert client.list_workflows() == []
    kinds = [e[0] for e in events.seen]
    assert ("request", "GET", 503) in events.seen and ("request", "GET", 200) in events.seen
    assert "retry" in kinds
    assert clock.sleeps  # on the given clock: no real waiting


def test_waits_can_go_to_their_own_audience():
    events, progress, clock = Recorded(), Recorded(), FakeClock()
    answers = iter([httpx.Response(429, headers={"Retry-After": "7"}), httpx.Response(200, json=LISTED)])
    conn = Connection("https://api.test/voicebot/v1", KEY, [], transport=httpx.MockTransport(lambda r: next(answers)))
    with make_client(conn, events=events, waits=progress, clock=clock, sleep=clock.sleep) as client:
        client.list_workflows()
    assert [e[0] for e in progress.seen] == ["wait"]
    assert [e[0] for e in events.seen] == ["request", "request"]
