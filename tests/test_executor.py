import httpx
import pytest

from voicebot_sync.api.client import VoicebotClient
from voicebot_sync.apply.executor import Events, Executor
from voicebot_sync.core.planner import make_plan
from voicebot_sync.api.ratelimit import RateLimiter, least_time
from voicebot_sync.api.retry import RetryPolicy
from voicebot_sync.apply.stop import StopRequested, StopSignal

from fakes import FakeApi, FakeClock, FakeDefinition as D

WINDOWS = [(6, 60.0), (60, 3600.0)]


def setup(api, clock=None, windows=WINDOWS, retries=3, stop=None):
    clock = clock or FakeClock()
    api.clock = clock
    stop = stop or StopSignal()

    def sleep(seconds):
        stop.check()
        clock.sleep(seconds)

    limiter = RateLimiter(windows, clock=clock, sleep=sleep)
    client = VoicebotClient("https://api.test/voicebot/v1", "k", transport=api.transport(), limiter=limiter,
                            retry=RetryPolicy(max_retries=retries))
    return client, clock


def plan_and_run(api, definitions, prune=False, **kw):
    client, clock = setup(api, **kw)
    plan = make_plan(definitions, client.list_workflows(), api_url="x", windows=WINDOWS, prune=prune)
    report = Executor(client).run(plan)
    return plan, report, client, clock


def names(api):
    return sorted(w["name"] for w in api.workflows.values())


def test_order_is_creates_then_updates_then_deletes_and_requests_are_exactly_one_per_change():
    api = FakeApi([{"name": "Old", "message": "m"}, {"name": "Keep", "message": "old"}])
    plan, report, client, _ = plan_and_run(api, [D("New"), D("Keep", "new")], prune=True)
    assert [m for m, _ in api.requests] == ["GET", "POST", "PUT", "DELETE"]
    assert report.complete and report.requests == 4 == plan.requests
    assert names(api) == ["Keep", "New"]


def test_update_sends_only_the_changed_fields():
    api = FakeApi([{"id": "w1", "name": "Keep", "message": "old", "description": "same", "workflow_type": "ROBOCALL"}])
    sent = []
    original = api.default_act

    def spy(method, path, request):
        if method == "PUT":
            import json
            sent.append(json.loads(request.content))
        return original(method, path, request)

    api.act = spy
    plan_and_run(api, [D("Keep", "new", description="same")])
    assert sent == [{"message": "new"}]


def test_apply_uses_the_whole_budget_and_no_more():
    api = FakeApi()
    definitions = [D(f"W{i:02}") for i in range(13)]
    plan, report, client, clock = plan_and_run(api, definitions)
    # 14 requests at 6/1m: the 14th may start at 120s, and does.
    assert report.requests == 14 and report.rate_limited == 0
    assert api.request_times[-1] - api.request_times[0] == least_time(14, WINDOWS) == 120


def test_apply_never_creates_twice_after_lost_answer():
    api = FakeApi()
    api.faults = [("POST", "lose")]
    plan, report, client, _ = plan_and_run(api, [D("Reminder")])
    assert names(api) == ["Reminder"]
    assert [m for m, _ in api.requests] == ["GET", "POST", "GET"]
    assert report.count("created") == 1 and report.outcomes[0].note == "confirmed after a lost answer"


def test_a_5xx_after_the_server_acted_is_checked_not_repeated():
    api = FakeApi()
    api.faults = [("POST", "500-after")]
    plan_and_run(api, [D("Reminder")])
    assert names(api) == ["Reminder"]


def test_a_5xx_before_the_server_acted_is_checked_then_retried():
    api = FakeApi()
    api.faults = [("POST", "500")]
    _, report, _, _ = plan_and_run(api, [D("Reminder")])
    assert names(api) == ["Reminder"]
    # The lost create is looked for at once and again a settle time later (a list may lag),
    # and only then sent again.
    assert [m for m, _ in api.requests] == ["GET", "POST", "GET", "GET", "POST"]
    assert report.retries == 1


def test_connect_error_on_write_is_retried_without_a_check():
    api = FakeApi()
    api.faults = [("POST", "connect")]
    plan_and_run(api, [D("Reminder")])
    assert [m for m, _ in api.requests] == ["GET", "POST", "POST"]


def test_lost_put_is_checked_with_a_get_before_repeating():
    api = FakeApi([{"id": "w1", "name": "A", "message": "old"}])
    api.faults = [("PUT", "lose")]
    _, report, _, _ = plan_and_run(api, [D("A", "new")])
    assert [m for m, _ in api.requests] == ["GET", "PUT", "GET"]
    assert api.workflows["w1"]["message"] == "new" and report.count("updated") == 1


def test_lost_delete_is_checked_and_a_vanished_workflow_counts_as_deleted():
    api = FakeApi([{"id": "w1", "name": "A", "message": "m"}])
    api.faults = [("DELETE", "lose")]
    _, report, _, _ = plan_and_run(api, [], prune=True)
    assert [m for m, _ in api.requests] == ["GET", "DELETE", "GET"]
    assert report.count("deleted") == 1 and api.workflows == {}


def test_4xx_fails_that_operation_and_the_others_go_on():
    api = FakeApi([{"id": "w1", "name": "A", "message": "m"}])
    original = api.default_act

    def reject_b(method, path, request):
        if method == "POST" and b'"B"' in request.content:
            return httpx.Response(400, json={"status": "Error", "message": "message too long"})
        return original(method, path, request)

    api.act = reject_b
    _, report, _, _ = plan_and_run(api, [D("A", "changed"), D("B"), D("C")])
    assert [o.status for o in report.outcomes] == ["failed", "created", "updated"]
    assert report.failed[0].error == "message too long"
    assert not report.complete and not report.remaining


def test_401_stops_the_whole_run_at_once():
    api = FakeApi()
    original = api.default_act
    api.act = lambda m, p, r: httpx.Response(401, json={"message": "invalid key"}) if m == "POST" else original(m, p, r)
    _, report, _, _ = plan_and_run(api, [D("A"), D("B"), D("C")])
    assert len(report.failed) == 1 and [c.name for c in report.remaining] == ["B", "C"]
    assert api.count("POST") == 1


def test_persistent_5xx_is_bounded_and_stops_starting_operations():
    api = FakeApi()
    api.faults = [("POST", "500")] * 100
    _, report, client, _ = plan_and_run(api, [D("A"), D("B")], retries=2)
    # 3 POSTs, each followed by a check list: the API is down, B is not started.
    assert api.count("POST") == 3
    assert len(report.failed) == 1 and [c.name for c in report.remaining] == ["B"]


def test_stop_request_finishes_nothing_new_and_lists_what_remains():
    api = FakeApi()
    stop = StopSignal()

    class StopAfterFirst(Events):
        def end(self, index, outcome):
            stop.request("SIGINT received")

    client, _ = setup(api, stop=stop)
    plan = make_plan([D("A"), D("B"), D("C")], client.list_workflows(), api_url="x", windows=WINDOWS)
    report = Executor(client, stop=stop, events=StopAfterFirst()).run(plan)
    assert report.count("created") == 1 and [c.name for c in report.remaining] == ["B", "C"]
    assert report.stopped == "SIGINT received"


def test_stop_during_a_rate_limit_wait_sends_nothing_more():
    api = FakeApi()
    stop = StopSignal()

    class StopOnWait(Events):
        def wait(self, seconds, why):
            stop.request("SIGTERM received")

    client, clock = setup(api, stop=stop)
    client.limiter.on_wait = StopOnWait().wait
    plan = make_plan([D(f"W{i}") for i in range(8)], client.list_workflows(), api_url="x", windows=WINDOWS)
    report = Executor(client, stop=stop).run(plan)
    # 1 list + 5 creates fill the 6/1m window; the 6th create's wait is where the stop lands.
    assert report.count("created") == 5 and len(report.remaining) == 3
    assert api.count("POST") == 5


def test_a_lost_post_is_checked_even_when_a_stop_arrives_during_the_check():
    api = FakeApi()
    api.faults = [("POST", "lose")]
    stop = StopSignal()
    client, clock = setup(api, stop=stop, windows=[(2, 60.0)])

    # The lost POST's check must wait for the window; the stop arrives then.
    client.limiter.on_wait = lambda s, why: stop.request("SIGINT received")
    plan = make_plan([D("A"), D("B")], client.list_workflows(), api_url="x", windows=[(2, 60.0)])
    report = Executor(client, stop=stop).run(plan)
    assert names(api) == ["A"] and report.count("created") == 1
    assert [c.name for c in report.remaining] == ["B"]


def test_deadline_stops_before_an_operation_that_could_not_start_in_time():
    api = FakeApi()
    client, clock = setup(api)
    plan = make_plan([D(f"W{i}") for i in range(8)], client.list_workflows(), api_url="x", windows=WINDOWS)
    report = Executor(client, deadline=clock() + 30).run(plan)
    assert report.count("created") == 5 and len(report.remaining) == 3
    assert "time budget" in report.stopped


def test_rerun_after_a_stop_converges_with_just_what_remains():
    api = FakeApi()
    client, clock = setup(api)
    defs = [D(f"W{i}") for i in range(8)]
    plan = make_plan(defs, client.list_workflows(), api_url="x", windows=WINDOWS)
    Executor(client, deadline=clock() + 30).run(plan)
    second = make_plan(defs, client.list_workflows(), api_url="x", windows=WINDOWS)
    assert second.summary["create"] == 3
    assert Executor(client).run(second).complete
    assert make_plan(defs, client.list_workflows(), api_url="x").changes == ()


def test_a_stop_while_waiting_for_the_rate_limit_names_no_request_in_flight():
    # Issue 18, item 5: the operation waiting for a slot was never sent; the notice and the report agree.
    from voicebot_sync.commands.apply import stop_notice

    api = FakeApi()
    stop = StopSignal()
    client, clock = setup(api, windows=[(1, 60.0)], stop=stop)
    plan = make_plan([D("A"), D("B")], [], api_url="x", windows=[(1, 60.0)])
    executor = Executor(client, stop=stop)
    notices = []
    original = client.limiter.sleep

    def interrupted(seconds):  # Ctrl-C during the wait for B's slot
        notices.append(stop_notice(executor))
        stop.request("SIGINT received")
        original(seconds)

    client.limiter.sleep = interrupted
    report = executor.run(plan)
    assert "waiting for the rate limit and will not start" in notices[0] and "in flight" not in notices[0]
    assert [c.name for c in report.remaining] == ["B"] and api.count("POST") == 1
