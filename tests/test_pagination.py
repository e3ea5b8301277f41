"""A paginated list is followed, page by page, through the rate limiter; never read in part (issue 20)."""

from __future__ import annotations

import json

import httpx
import pytest

from voicebot_sync.api import pages
from voicebot_sync.api.client import VoicebotClient
from voicebot_sync.api.ratelimit import RateLimiter
from voicebot_sync.api.retry import RetryPolicy
from voicebot_sync.emulator import Emulator, running
from voicebot_sync.errors import UnexpectedAnswer

from conftest import KEY, write_workflow
from fakes import FakeClock

W = {"name": "W", "message": "m", "workflow_type": "ROBOCALL"}


def client_at(url, transport=None, windows=(), clock=None):
    clock = clock or FakeClock()
    return VoicebotClient(url, KEY, transport=transport, limiter=RateLimiter(list(windows), clock=clock,
                                                                             sleep=clock.sleep),
                          retry=RetryPolicy(max_retries=0, base=0.01))


def seeded(count, **options) -> Emulator:
    emulator = Emulator(api_keys=[KEY], **options)
    for i in range(count):
        emulator.add_workflow(name=f"W{i}", message="m")
    return emulator


# -- every style the emulator serves, over HTTP ----------------------------------------


# (A bare list cannot say page/pages: in every style it points onward by its Link header only.)
@pytest.mark.parametrize("shape,style", [("envelope", "next"), ("envelope", "page"), ("envelope", "cursor"),
                                         ("bare", "next"), ("bare", "cursor")])
def test_every_page_is_read_and_counted(shape, style):
    emulator = seeded(7, page_size=3, pagination=style, list_shape=shape)
    with running(emulator) as url, client_at(url) as client:
        names = [w["name"] for w in client.list_workflows()]
        assert names == [f"W{i}" for i in range(7)]
        assert client.list_pages == 3 and client.sent == 3 == emulator.stats["requests"]
        assert client.last_list.kind == shape
        assert client.last_list.style == ("link" if shape == "bare" else style)


@pytest.mark.parametrize("style", ["next", "page", "cursor"])
def test_an_empty_or_one_page_list_is_one_request(style):
    for count in (0, 2):
        emulator = seeded(count, page_size=2, pagination=style)
        with running(emulator) as url, client_at(url) as client:
            assert len(client.list_workflows()) == count
            assert (client.list_pages, emulator.stats["requests"]) == (1, 1)


def test_every_page_waits_for_the_rate_limit():
    clock = FakeClock()
    emulator = seeded(5, page_size=1, pagination="cursor")
    with running(emulator) as url, client_at(url, windows=[(2, 60.0)], clock=clock) as client:
        assert len(client.list_workflows()) == 5
    # 5 pages at 2 a minute: the third and the fifth waited a window each.
    assert sum(clock.sleeps) == pytest.approx(120.0)


def test_plan_counts_every_page_in_requests_and_eta(runner, tmp_path):
    from voicebot_sync.cli import main

    emulator = seeded(6, page_size=2, pagination="page")
    write_workflow(tmp_path / "workflows", "New one", "Hello.")
    with running(emulator) as url:
        result = runner.invoke(main, ["plan", str(tmp_path / "workflows"), "--format", "json", "--api-url", url,
                                      "--api-key", KEY, "--rate-limit", "3/1m"])
    assert result.exception is None or isinstance(result.exception, SystemExit), result.exception
    document = json.loads(result.stdout)
    # One create, and a list of 3 pages that apply reads again: 4 requests, 3 a minute.
    assert (document["summary"]["create"], document["requests"], document["estimated_seconds"]) == (1, 4, 60)


def test_apply_converges_against_a_paginated_list(runner, tmp_path):
    from voicebot_sync.cli import main

    emulator = seeded(5, page_size=2, pagination="next")
    for i in range(3):
        write_workflow(tmp_path / "workflows", f"W{i}", "m" if i else "changed")
    with running(emulator) as url:
        args = [str(tmp_path / "workflows"), "--api-url", url, "--api-key", KEY, "--rate-limit", "off"]
        first = runner.invoke(main, ["apply", "--yes", *args])
        again = runner.invoke(main, ["plan", "--detailed-exitcode", *args])
    assert first.exit_code == 0, first.output
    assert again.exit_code == 0, again.output
    assert [w["message"] for w in emulator.workflows][:3] == ["changed", "m", "m"]
    assert len(emulator.workflows) == 5  # the two on other pages are unmanaged, not missing


# -- never a partial remote, never the key elsewhere ------------------------------------


def answers(*bodies, headers=None):
    """A MockTransport answering the list with ``bodies`` in turn (the last one for ever); records URLs."""
    seen = []

    def handler(request):
        seen.append(str(request.url))
        body = bodies[min(len(seen), len(bodies)) - 1]
        return httpx.Response(200, json=body, headers=headers or {})

    return httpx.MockTransport(handler), seen


def item(i):
    return {**W, "id": f"w{i}", "name": f"W{i}"}


def test_a_next_link_to_another_host_is_refused_and_never_followed():
    transport, seen = answers({"status": "Ok", "data": [item(1)], "next": "https://evil.test/steal?page=2"})
    with pytest.raises(UnexpectedAnswer, match="evil.test.*never sends the key"):
        client_at("https://api.test/voicebot/v1", transport).list_workflows()
    assert seen == ["https://api.test/voicebot/v1/workflows"]


@pytest.mark.parametrize("link", ["http://api.test/voicebot/v1/workflows?page=2",  # another scheme
                                  "https://api.test:8443/voicebot/v1/workflows?page=2"])  # another port
def test_a_next_link_on_another_scheme_or_port_is_refused(link):
    transport, seen = answers({"status": "Ok", "data": [item(1)], "next": link})
    with pytest.raises(UnexpectedAnswer, match="never sends the key"):
        client_at("https://api.test/voicebot/v1", transport).list_workflows()
    assert len(seen) == 1


def test_a_relative_next_link_and_the_default_port_are_the_same_host():
    transport, seen = answers({"status": "Ok", "data": [item(1)], "next": "/voicebot/v1/workflows?page=2"},
                              {"status": "Ok", "data": [item(2)], "next": "https://api.test:443/voicebot/v1/workflows?page=3"},
                              {"status": "Ok", "data": [item(3)], "next": None})
    assert len(client_at("https://api.test/voicebot/v1", transport).list_workflows()) == 3
    assert seen[1:] == ["https://api.test/voicebot/v1/workflows?page=2", "https://api.test/voicebot/v1/workflows?page=3"]


@pytest.mark.parametrize("bodies,words", [
    # The next link points back at a page already read.
    ([{"status": "Ok", "data": [item(1)], "next": "https://api.test/voicebot/v1/workflows?page=2"},
      {"status": "Ok", "data": [item(2)], "next": "https://api.test/voicebot/v1/workflows?page=2"}], "already read"),
    # The same cursor twice.
    ([{"status": "Ok", "data": [item(1)], "next_cursor": "a"}, {"status": "Ok", "data": [item(2)], "next_cursor": "a"}],
     "cursor 'a' twice"),
    # A server that ignores ?page= answers page 1 again.
    ([{"status": "Ok", "data": [item(1)], "page": 1, "pages": 3}], "page 2 was asked for and page 1 came back"),
    # Items repeated between pages.
    ([{"status": "Ok", "data": [item(1)], "next_cursor": "a"}, {"status": "Ok", "data": [item(1)], "next_cursor": None}],
     "on two pages"),
    # The shape changes between pages.
    ([{"status": "Ok", "data": [item(1)], "next_cursor": "a"}, [item(2)]], "is a bare"),
    # The way onward changes between pages.
    ([{"status": "Ok", "data": [item(1)], "next_cursor": "a"},
      {"status": "Ok", "data": [item(2)], "next": "https://api.test/voicebot/v1/workflows?p=3"}], "two ways"),
    # The total changes while the list is read.
    ([{"status": "Ok", "data": [item(1)], "page": 1, "pages": 2, "total": 2},
      {"status": "Ok", "data": [item(2)], "page": 2, "pages": 2, "total": 3}], "total changed"),
    # More is said to exist, and nothing points to it.
    ([{"status": "Ok", "data": [item(1)], "has_more": True}], "has_more"),
    ([{"status": "Ok", "data": [item(1)], "total": 2}], "holds 2 workflows"),
])
def test_a_list_that_loops_repeats_or_changes_is_an_error_never_a_partial_remote(bodies, words):
    transport, seen = answers(*bodies)
    with pytest.raises(UnexpectedAnswer, match=words):
        client_at("https://api.test/voicebot/v1", transport).list_workflows()
    assert len(seen) <= 3


def test_the_page_limit_ends_an_endless_list(monkeypatch):
    monkeypatch.setattr(pages, "MAX_PAGES", 5)
    count = iter(range(10_000))

    def endless(request):
        n = next(count)
        return httpx.Response(200, json={"status": "Ok", "data": [item(n)], "next_cursor": f"c{n}"})

    client = client_at("https://api.test/voicebot/v1", httpx.MockTransport(endless))
    with pytest.raises(UnexpectedAnswer, match="more than 5 pages"):
        client.list_workflows()
    assert client.sent == 5


def test_a_cursor_is_sent_back_as_a_query_parameter_escaped():
    transport, seen = answers({"status": "Ok", "data": [item(1)], "next_cursor": "a b/c&d"},
                              {"status": "Ok", "data": [item(2)], "next_cursor": None, "has_more": False})
    assert len(client_at("https://api.test/voicebot/v1", transport).list_workflows()) == 2
    assert seen[1] == "https://api.test/voicebot/v1/workflows?cursor=a%20b%2Fc%26d"


def test_an_apply_report_counts_the_list_pages_in_its_minimum(tmp_path, monkeypatch):
    # The report's "minimum" is one request per change plus one per page of the list (it said + 1).
    import json as _json

    from click.testing import CliRunner

    from voicebot_sync.cli import main
    from voicebot_sync.emulator import Emulator, running

    from conftest import KEY, write_workflow

    monkeypatch.chdir(tmp_path)
    emulator = Emulator(api_keys=[KEY], page_size=2)
    for i in range(5):
        emulator.add_workflow(name=f"Old {i}", message="m")
    write_workflow(tmp_path / "workflows", "Alpha", "Hello [name]")
    with running(emulator) as url:
        result = CliRunner().invoke(main, ["apply", "--yes", "--format", "json"], env={
            "VOICEBOT_API_URL": url, "VOICEBOT_API_KEY": KEY, "VOICEBOT_RATE_LIMIT": "off"})
    assert result.exit_code == 0, result.output
    report = _json.loads(result.stdout)
    assert report["minimum_requests"] == 1 + 3 and report["requests"] == 4  # one create, three pages
