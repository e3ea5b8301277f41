"""api/answers.py: an answer is read strictly; a list that is not the whole remote, an HTML page or a
write answered with an Error envelope is never taken for success."""

import httpx
import pytest
from voicebot_sync.api.client import VoicebotClient
from voicebot_sync.errors import ServerError, UnexpectedAnswer
from voicebot_sync.apply.executor import Executor
from voicebot_sync.core.planner import make_plan
from voicebot_sync.api.ratelimit import RateLimiter
from voicebot_sync.api.retry import RetryPolicy
from fakes import FakeApi, FakeClock, FakeDefinition as D
from fakes import client_for


W = {"id": "w1", "name": "A", "message": "m", "workflow_type": "ROBOCALL"}


@pytest.mark.parametrize("body,error", [
    ({"status": "Error", "message": "db down", "data": []}, ServerError),  # never an empty remote
    ({"status": "Ok", "data": {"warnings": [], "workflows": [W]}}, UnexpectedAnswer),  # not "the first list inside"
    ({"status": "Ok", "data": [W], "next": "https://api.test/voicebot/v1/workflows?page=2"}, UnexpectedAnswer),
    ({"status": "Ok", "data": [W], "total": 2}, UnexpectedAnswer),
    ({"status": "Ok", "data": [W], "page": 1, "pages": 3}, UnexpectedAnswer),
    ({"status": "Ok", "message": "no data key"}, UnexpectedAnswer),
    ({"status": "Ok", "data": [{"id": "w1", "name": "A", "workflow_type": "ROBOCALL"}]}, UnexpectedAnswer),
    ({"status": "Ok", "data": [{"id": "w1", "name": None, "message": "m", "workflow_type": "ROBOCALL"}]}, UnexpectedAnswer),
    ({"status": "Ok", "data": [{"name": "A", "message": "m", "workflow_type": "ROBOCALL"}]}, UnexpectedAnswer),
    ({"status": "Ok", "data": [{"id": "w1", "name": "A", "message": "m"}]}, UnexpectedAnswer),
])
def test_a_list_answer_that_is_not_the_whole_remote_is_an_error_never_an_empty_or_partial_remote(body, error):
    with pytest.raises(error):
        client_for(lambda r: httpx.Response(200, json=body), max_retries=0).list_workflows()


def test_an_html_login_page_is_one_error_at_once_without_retries():
    calls = []

    def portal(request):
        calls.append(1)
        return httpx.Response(200, text="<!DOCTYPE html><html>Sign in</html>", headers={"Content-Type": "text/html"})

    with pytest.raises(UnexpectedAnswer, match="HTML page"):
        client_for(portal, max_retries=5).list_workflows()
    assert len(calls) == 1


@pytest.mark.parametrize("method", ["PUT", "DELETE"])
def test_a_write_answered_200_with_status_error_is_never_reported_done(method):
    api = FakeApi([dict(W)])

    def handler(request):
        if request.method == method:
            return httpx.Response(200, json={"status": "Error", "message": "not saved", "data": {}})
        return api.handle(request)

    client = client_for(handler, max_retries=0)
    plan = make_plan([D("A", "new")] if method == "PUT" else [], client.list_workflows(), api_url="u",
                     prune=method == "DELETE")
    report = Executor(client, settle=0).run(plan)
    assert report.count("updated") == report.count("deleted") == 0
    assert not report.complete
