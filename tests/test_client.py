import email.utils

import httpx
import pytest

from voicebot_sync.api.client import VoicebotClient, parse_retry_after
from voicebot_sync.errors import AnswerLost, AuthError, ConnectionFailed, NotFound, RequestRejected, ServerError, Unreachable
from voicebot_sync.api.ratelimit import RateLimiter
from voicebot_sync.api.retry import RetryPolicy

from fakes import FakeApi, FakeClock
from voicebot_sync.api.client import VoicebotClient, workflow_path
from voicebot_sync.errors import UnexpectedAnswer

KEY = "sk-test-secret-0123456789"


def client_for(handler, clock=None, windows=(), **kw):
    clock = clock or FakeClock()
    limiter = RateLimiter(windows, clock=clock, sleep=clock.sleep)
    transport = handler if isinstance(handler, httpx.BaseTransport) else httpx.MockTransport(handler)
    return VoicebotClient("https://api.test/voicebot/v1", KEY, transport=transport, limiter=limiter, **kw)


WA = {"id": "a", "name": "A", "message": "m", "workflow_type": "ROBOCALL"}


def test_sends_bearer_key_and_unwraps_the_envelope():
    seen = {}

    def handler(request):
        seen["auth"] = request.headers["Authorization"]
        seen["path"] = request.url.path
        return httpx.Response(200, json={"status": "Ok", "message": "workflows retrieved successfully", "data": [WA]})

    assert client_for(handler).list_workflows() == [WA]
    assert seen == {"auth": f"Bearer {KEY}", "path": "/voicebot/v1/workflows"}


def test_accepts_a_plain_list_without_envelope():
    client = client_for(lambda r: httpx.Response(200, json=[WA]))
    assert client.list_workflows() == [WA]


@pytest.mark.parametrize(
    "status,error",
    [(401, AuthError), (403, AuthError), (404, NotFound), (400, RequestRejected), (422, RequestRejected), (500, ServerError), (503, ServerError)],
)
def test_statuses_become_typed_errors_with_the_servers_message(status, error):
    client = client_for(lambda r: httpx.Response(status, json={"status": "Error", "message": "the server's words"}), retry=RetryPolicy(max_retries=0))
    with pytest.raises(error) as info:
        client.create_workflow({"name": "x", "message": "y"})
    assert "the server's words" in str(info.value)
    assert f"HTTP {status}" in str(info.value)
    assert KEY not in str(info.value)


def test_error_without_envelope_still_names_the_status():
    client = client_for(lambda r: httpx.Response(502, text="<html>Bad Gateway</html>"), retry=RetryPolicy(max_retries=0))
    with pytest.raises(ServerError, match="HTTP 502"):
        client.list_workflows()


def test_connect_error_means_nothing_was_sent_and_read_timeout_means_answer_lost():
    def refuse(request):
        raise httpx.ConnectError("[Errno 111] Connection refused", request=request)

    def timeout(request):
        raise httpx.ReadTimeout("timed out", request=request)

    # Refused at the very first contact: it will not go away, so it is not retried.
    with pytest.raises(Unreachable) as info:
        client_for(refuse).create_workflow({"name": "x"})
    assert "cannot reach https://api.test/voicebot/v1" in str(info.value)
    # Refused after the server has answered once: transient, nothing was sent, safe to repeat.
    client = client_for(refuse)
    client.answered = 1
    with pytest.raises(ConnectionFailed) as info:
        client.create_workflow({"name": "x"})
    assert not isinstance(info.value, AnswerLost)
    with pytest.raises(AnswerLost):
        client_for(timeout).create_workflow({"name": "x"})


def test_429_is_waited_out_for_retry_after_seconds_then_repeated():
    clock = FakeClock()
    api = FakeApi(clock=clock)
    api.faults = [("GET", "429")]
    client = client_for(api.transport(), clock=clock)
    assert client.list_workflows() == []
    assert api.count("GET") == 2
    assert client.rate_limited == 1
    assert api.request_times[1] - api.request_times[0] == 7


def test_retry_after_as_http_date():
    clock = FakeClock()
    calls = []

    def handler(request):
        calls.append(clock())
        if len(calls) == 1:
            when = email.utils.formatdate(1_000_000 + 12, usegmt=True)
            return httpx.Response(429, headers={"Retry-After": when})
        return httpx.Response(200, json={"data": []})

    client = client_for(handler, clock=clock)
    import voicebot_sync.api.client as module

    original = module.time.time
    module.time.time = lambda: 1_000_000.0
    try:
        client.list_workflows()
    finally:
        module.time.time = original
    assert calls[1] - calls[0] == pytest.approx(12)


def test_parse_retry_after_forms():
    assert parse_retry_after("5") == 5
    assert parse_retry_after("1.5") == 1.5
    assert parse_retry_after(email.utils.formatdate(100, usegmt=True), now=90) == pytest.approx(10)
    assert parse_retry_after(email.utils.formatdate(100, usegmt=True), now=200) == 0
    assert parse_retry_after("soon") is None
    assert parse_retry_after(None) is None


def test_429_without_retry_after_waits_for_the_full_window_then_backs_off():
    clock = FakeClock()
    responses = [httpx.Response(429), httpx.Response(429), httpx.Response(200, json={"data": []})]
    times = []

    def handler(request):
        times.append(clock())
        return responses.pop(0)

    client = client_for(handler, clock=clock, windows=[(6, 60.0)])
    client.list_workflows()
    # No window of ours is full: back off by one slot of the shortest window (10s), then double.
    assert [round(b - a) for a, b in zip(times, times[1:])] == [10, 20]


def test_reads_are_retried_on_transient_faults_with_bounded_backoff():
    clock = FakeClock()
    api = FakeApi(clock=clock)
    api.faults = [("GET", "500"), ("GET", "connect")]
    client = client_for(api.transport(), clock=clock, retry=RetryPolicy(max_retries=3, base=1, cap=4))
    assert client.list_workflows() == []
    assert client.retries == 2
    gaps = [b - a for a, b in zip(api.request_times, api.request_times[1:])]
    assert 0.5 <= gaps[0] <= 1 and 1 <= gaps[1] <= 2


def test_reads_give_up_after_max_retries():
    client = client_for(lambda r: httpx.Response(503, json={"message": "down"}), retry=RetryPolicy(max_retries=2))
    with pytest.raises(ServerError, match="down"):
        client.list_workflows()
    assert client.sent == 3 and client.retries == 2


def test_writes_are_not_retried_by_the_client():
    api = FakeApi()
    api.faults = [("POST", "500")]
    client = client_for(api.transport())
    with pytest.raises(ServerError):
        client.create_workflow({"name": "x", "message": "m"})
    assert api.count("POST") == 1


def test_every_request_is_counted_by_the_limiter_and_recorded_without_the_key():
    records = []
    api = FakeApi()
    api.faults = [("GET", "500")]
    client = client_for(api.transport(), on_request=records.append)
    client.list_workflows()
    assert client.limiter.recorded == 2 == client.sent
    assert [(r.method, r.status, r.attempt) for r in records] == [("GET", 500, 1), ("GET", 200, 2)]
    assert KEY not in repr(records)


def test_backoff_bounds():
    policy = RetryPolicy(base=1, cap=8)
    for attempt, (low, high) in enumerate([(0.5, 1), (1, 2), (2, 4), (4, 8), (4, 8), (4, 8)], start=1):
        for _ in range(50):
            assert low <= policy.backoff(attempt) <= high


@pytest.mark.parametrize("bad", ["..", ".", "../x", "a/b", "a?b", "a#b", "%2e%2e", "", None, "None", "../../admin/users/1",
                                 "x?force=true&all=1", "y#frag"])
def test_an_id_is_always_exactly_one_path_segment(bad):
    seen = []

    def handler(request):
        seen.append(request.url.raw_path.decode())
        return httpx.Response(200, json={"status": "Ok", "data": {}})

    client = client_for(handler)
    try:
        client.delete_workflow(bad)
    except UnexpectedAnswer:
        assert not seen  # refused before anything was sent
        return
    (path,) = seen
    assert path.startswith("/voicebot/v1/workflows/")
    segment = path[len("/voicebot/v1/workflows/"):]
    assert segment and "/" not in segment and "?" not in segment and "#" not in segment
    assert segment not in (".", "..")


def test_workflow_path_encodes_everything_but_unreserved_characters():
    assert workflow_path("123e4567-e89b") == "/workflows/123e4567-e89b"
    assert workflow_path("a b/c") == "/workflows/a%20b%2Fc"


def test_retry_after_that_is_not_finite_is_no_answer():
    assert parse_retry_after("inf") is None and parse_retry_after("nan") is None
    assert parse_retry_after("1e999") is None and parse_retry_after("7") == 7
