"""The emulator's fault and quirk options, over real HTTP: each makes it misbehave in one documented way."""

from __future__ import annotations

import email.utils
import inspect
import json
import os
import subprocess
import sys
import threading
import time
import uuid

import httpx
import pytest

from voicebot_sync.emulator import FAULT_OPTIONS, Emulator, local_transport, running

from fakes import EMULATOR_KEY as KEY, REMINDER, FakeClock


@pytest.fixture
def serve():
    """Factory: an httpx.Client over real HTTP on a given Emulator (served until the test ends)."""
    clients = []
    servers = []

    def make(emulator: Emulator, key: str | None = KEY, **client_options) -> httpx.Client:
        context = running(emulator)
        url = context.__enter__()
        servers.append(context)
        headers = {"Authorization": f"Bearer {key}"} if key else {}
        client = httpx.Client(base_url=url, headers=headers, **client_options)
        clients.append(client)
        return client

    yield make
    for client in clients:
        client.close()
    for context in reversed(servers):
        context.__exit__(None, None, None)


def create(client: httpx.Client, name: str = "Reminder") -> dict:
    response = client.post("/workflows", json={**REMINDER, "name": name})
    assert response.status_code == 201, response.text
    return response.json()["data"]


# -- the options table ---------------------------------------------------------


def test_fault_options_match_the_emulator_keywords():
    parameters = inspect.signature(Emulator).parameters
    names = [name for name, *_ in FAULT_OPTIONS]
    assert len(names) == len(set(names))
    for name, kind, default, help_text in FAULT_OPTIONS:
        assert name in parameters, name
        assert parameters[name].kind is inspect.Parameter.KEYWORD_ONLY
        assert parameters[name].default == default, name
        assert help_text and help_text.endswith("."), name
        assert kind in (bool, int, float, str, tuple) or (isinstance(kind, tuple) and default in kind), name
    for existing in ("retry_after", "quirks", "fault_5xx", "fault_drop_after_write", "fault_seed"):
        assert existing in names
    # Every option is documented in the class docstring.
    for name in names + ["shared_file"]:
        assert f"``{name}``" in Emulator.__doc__, name


def test_all_options_off_is_the_documented_api(serve):
    defaults = {name: default for name, _, default, _ in FAULT_OPTIONS}
    client = serve(Emulator(api_keys=[KEY], **defaults))
    workflow = create(client)
    assert client.get("/workflows").json() == {
        "status": "Ok", "message": "workflows retrieved successfully", "data": [workflow],
    }


@pytest.mark.parametrize(
    "options",
    [{"list_shape": "xml"}, {"page_size": 0}, {"list_lag": -1}, {"trickle": -0.1}, {"shared_file": True}],
)
def test_bad_option_values_are_refused(options):
    with pytest.raises(ValueError):
        Emulator(**options)


# -- 1. "Error" envelopes on HTTP 200 ----------------------------------------


def test_status_error_answers_200_with_an_error_envelope_without_acting(serve):
    emulator = Emulator(api_keys=[KEY], fault_status_error=1.0, fault_seed=1)
    seeded = emulator.add_workflow(name="Seeded", message="Hi")
    client = serve(emulator)

    created = client.post("/workflows", json=REMINDER)
    assert created.status_code == 200
    assert created.json() == {"status": "Error", "message": "internal inconsistency", "data": {}}
    listed = client.get("/workflows")
    assert (listed.status_code, listed.json()) == (200, {"status": "Error", "message": "internal inconsistency", "data": []})
    assert client.get(f"/workflows/{seeded['id']}").json()["data"] == {}
    assert client.put(f"/workflows/{seeded['id']}", json={"name": "Renamed"}).json()["status"] == "Error"
    assert client.delete(f"/workflows/{seeded['id']}").json()["status"] == "Error"
    # None of the writes was carried out.
    assert emulator.workflows == [seeded]
    assert emulator.stats["writes"] == 0 and emulator.stats["faults"] == 5
    # Failures are not turned into status errors: they stay what they were.
    assert client.get(f"/workflows/{uuid.uuid4()}").status_code == 404
    assert client.post("/workflows", json={"name": "X"}).status_code == 400


def test_status_error_share_follows_the_seed_and_rolls_back_only_its_writes(tmp_path):
    def run(seed, data_file):
        emulator = Emulator(data_file=str(data_file), fault_status_error=0.5, fault_seed=seed)
        answers = []
        for i in range(20):
            body = json.dumps({"name": f"W{i}", "message": "m"}).encode()
            answers.append(emulator.handle("POST", "/voicebot/v1/workflows", {}, body).json()["status"])
        kept = [w["name"] for w in Emulator(data_file=str(data_file)).workflows]
        return answers, kept

    answers, kept = run(5, tmp_path / "first.json")
    assert (answers, kept) == run(5, tmp_path / "second.json")
    assert set(answers) == {"Ok", "Error"}
    assert kept == [f"W{i}" for i, status in enumerate(answers) if status == "Ok"]


# -- 2. pagination ------------------------------------------------------------------


def test_page_size_paginates_the_list_with_next_links(serve):
    emulator = Emulator(api_keys=[KEY], page_size=2)
    for i in range(5):
        emulator.add_workflow(name=f"W{i}", message="m")
    client = serve(emulator)
    host = client.base_url.netloc.decode()

    first = client.get("/workflows")
    body = first.json()
    assert (body["status"], body["message"]) == ("Ok", "workflows retrieved successfully")
    assert [w["name"] for w in body["data"]] == ["W0", "W1"]
    assert (body["page"], body["pages"], body["total"]) == (1, 3, 5)
    assert body["next"] == f"http://{host}/voicebot/v1/workflows?page=2"
    assert first.headers["Link"] == f'<{body["next"]}>; rel="next"'

    names, url = [], "/workflows"
    while url:
        body = client.get(url).json()
        names += [w["name"] for w in body["data"]]
        url = body["next"]
    assert names == [f"W{i}" for i in range(5)]
    assert body["page"] == 3 and body["next"] is None

    assert client.get("/workflows", params={"page": 9}).json()["data"] == []
    for bad in ("0", "-1", "two"):
        response = client.get("/workflows", params={"page": bad})
        assert (response.status_code, response.json()["message"]) == (400, "page must be a positive integer")


def test_empty_paginated_list_is_one_empty_page(serve):
    body = serve(Emulator(api_keys=[KEY], page_size=3)).get("/workflows").json()
    assert (body["data"], body["next"], body["page"], body["pages"], body["total"]) == ([], None, 1, 1, 0)


# -- 3. eventual consistency -------------------------------------------------------


def test_list_lag_hides_new_workflows_from_the_list_only(serve):
    clock = FakeClock()
    emulator = Emulator(api_keys=[KEY], list_lag=5.0, clock=clock)
    old = emulator.add_workflow(name="Old", message="m")  # seeded state is listed at once
    client = serve(emulator)
    new = create(client, "New")

    assert [w["name"] for w in client.get("/workflows").json()["data"]] == ["Old"]
    assert client.get(f"/workflows/{new['id']}").json()["data"]["name"] == "New"
    assert client.put(f"/workflows/{new['id']}", json={"message": "changed"}).status_code == 200
    clock.now += 4.9
    assert [w["id"] for w in client.get("/workflows").json()["data"]] == [old["id"]]
    clock.now += 0.1
    assert [w["name"] for w in client.get("/workflows").json()["data"]] == ["Old", "New"]

    later = create(client, "Later")
    assert client.delete(f"/workflows/{later['id']}").status_code == 200
    clock.now += 10
    assert [w["name"] for w in client.get("/workflows").json()["data"]] == ["Old", "New"]


# -- 4. endless 429 -----------------------------------------------------------------


@pytest.mark.parametrize("retry_after", ["seconds", "http-date", "none"])
def test_always_429_answers_every_request_429(serve, retry_after):
    emulator = Emulator(api_keys=[KEY], always_429=True, retry_after=retry_after)
    client = serve(emulator)
    for response in (client.get("/workflows"), client.post("/workflows", json=REMINDER), client.get("/nowhere")):
        assert response.status_code == 429
        assert response.json()["status"] == "Error" and response.json()["data"] is None
        if retry_after == "seconds":
            assert response.headers["Retry-After"] == "1"
        elif retry_after == "http-date":
            assert email.utils.parsedate_to_datetime(response.headers["Retry-After"]).timestamp() <= time.time() + 2
        else:
            assert "Retry-After" not in response.headers
    assert serve(emulator, key="wrong").get("/workflows").status_code == 429
    assert emulator.workflows == [] and emulator.stats["rate_limited"] == 4


# -- 5. trickled bodies -------------------------------------------------------------


def test_trickle_sends_headers_at_once_and_the_body_byte_by_byte(serve):
    client = serve(Emulator(api_keys=[KEY], trickle=0.004))
    started = time.monotonic()
    with client.stream("GET", "/workflows") as response:
        assert response.status_code == 200
        headers_after = time.monotonic() - started
        length = int(response.headers["Content-Length"])
        chunks = list(response.iter_raw())
    elapsed = time.monotonic() - started
    body = b"".join(chunks)
    assert json.loads(body) == {"status": "Ok", "message": "workflows retrieved successfully", "data": []}
    assert len(body) == length and len(chunks) > 1  # it arrived in pieces
    assert headers_after < 0.1 and elapsed >= 0.8 * 0.004 * length


def test_trickle_defeats_a_read_timeout_and_does_not_block_shutdown():
    emulator = Emulator(trickle=0.1)
    context = running(emulator)
    url = context.__enter__()
    try:
        # Each byte comes well within the read timeout, so only a total deadline would stop the client.
        with httpx.Client(base_url=url, timeout=httpx.Timeout(5.0, read=0.5)) as client:
            with client.stream("GET", "/workflows") as response:
                length = int(response.headers["Content-Length"])
                received, deadline = b"", time.monotonic() + 0.35
                for chunk in response.iter_raw():
                    received += chunk
                    if time.monotonic() > deadline:
                        break
        assert 1 <= len(received) < length
    finally:
        started = time.monotonic()
        context.__exit__(None, None, None)
        assert time.monotonic() - started < 1.0


def test_trickle_does_not_apply_in_process():
    from voicebot_sync.emulator import make_wsgi_app

    transport = httpx.WSGITransport(app=make_wsgi_app(Emulator(trickle=10.0)))
    with httpx.Client(transport=transport, base_url="http://emulator/voicebot/v1") as client:
        assert client.get("/workflows").json()["data"] == []


# -- 6. echoed keys -----------------------------------------------------------------


def test_echo_auth_on_401_repeats_the_authorization_header(serve):
    emulator = Emulator(api_keys=[KEY], echo_auth_on_401=True)
    response = serve(emulator, key="vbk-leaked-secret").get("/workflows")
    assert response.status_code == 401
    assert response.json() == {"status": "Error", "message": "invalid key: Bearer vbk-leaked-secret", "data": None}
    # No header, nothing to echo; a valid key is not refused.
    assert serve(emulator, key=None).get("/workflows").json()["message"] == "invalid or missing API key"
    assert serve(emulator).get("/workflows").status_code == 200
    # Off by default.
    assert serve(Emulator(api_keys=[KEY]), key="vbk-leaked-secret").get("/workflows").json()["message"] == (
        "invalid or missing API key"
    )


# -- 7. captive portal --------------------------------------------------------------


def test_html_answers_are_a_login_page_for_every_request(serve):
    emulator = Emulator(api_keys=[KEY], html_answers=True)
    client = serve(emulator)
    for response in (client.get("/workflows"), client.post("/workflows", json=REMINDER), serve(emulator, key=None).get("/x")):
        assert response.status_code == 200
        assert response.headers["Content-Type"].startswith("text/html")
        assert response.text.startswith("<!DOCTYPE html>") and "Sign in" in response.text
        with pytest.raises(ValueError):
            response.json()
    assert emulator.workflows == []


# -- 8. list shapes -----------------------------------------------------------------


def test_list_shape_bare_is_a_json_array(serve):
    client = serve(Emulator(api_keys=[KEY], list_shape="bare"))
    workflow = create(client)  # other answers keep the envelope
    assert client.get("/workflows").json() == [workflow]
    assert client.get(f"/workflows/{workflow['id']}").json()["data"] == workflow


def test_list_shape_nested_wraps_the_workflows(serve):
    client = serve(Emulator(api_keys=[KEY], list_shape="nested"))
    workflow = create(client)
    assert client.get("/workflows").json() == {
        "status": "Ok",
        "message": "workflows retrieved successfully",
        "data": {"warnings": [], "workflows": [workflow]},
    }


def test_bare_pages_point_onward_with_a_link_header(serve):
    emulator = Emulator(api_keys=[KEY], list_shape="bare", page_size=1)
    for i in range(2):
        emulator.add_workflow(name=f"W{i}", message="m")
    client = serve(emulator)
    first = client.get("/workflows")
    assert [w["name"] for w in first.json()] == ["W0"]
    assert first.headers["Link"].endswith('/voicebot/v1/workflows?page=2>; rel="next"')
    last = client.get("/workflows?page=2")
    assert [w["name"] for w in last.json()] == ["W1"] and "Link" not in last.headers


# -- 9. missing fields and null names ----------------------------------------------


@pytest.mark.parametrize("omit", [("message",), ("workflow_type",), "message,description"])
def test_omit_fields_leaves_fields_out_of_list_and_get(serve, omit):
    client = serve(Emulator(api_keys=[KEY], omit_fields=omit))
    workflow = create(client)
    gone = set(omit.split(",") if isinstance(omit, str) else omit)
    assert gone <= set(workflow)  # the create answer is complete
    for shown in (client.get("/workflows").json()["data"][0], client.get(f"/workflows/{workflow['id']}").json()["data"]):
        assert set(shown) == set(workflow) - gone
        assert {k: shown[k] for k in shown} == {k: v for k, v in workflow.items() if k not in gone}


def test_null_name_returns_names_as_null(serve):
    emulator = Emulator(api_keys=[KEY], null_name=True)
    client = serve(emulator)
    workflow = create(client)
    assert client.get("/workflows").json()["data"][0]["name"] is None
    assert client.get(f"/workflows/{workflow['id']}").json()["data"]["name"] is None
    assert emulator.workflows[0]["name"] == "Reminder"  # stored as sent


# -- 10. a state file shared between processes -------------------------------------


def test_shared_file_emulators_lose_no_writes(tmp_path):
    data_file = str(tmp_path / "state.json")
    emulators = [Emulator(data_file=data_file, shared_file=True) for _ in range(2)]
    errors = []

    def create_many(emulator, prefix):
        try:
            for i in range(20):
                body = json.dumps({"name": f"{prefix}{i}", "message": "m"}).encode()
                assert emulator.handle("POST", "/voicebot/v1/workflows", {}, body).status == 201
        except BaseException as exc:  # surfaced below
            errors.append(exc)

    threads = [threading.Thread(target=create_many, args=(e, p)) for e, p in zip(emulators, "AB")]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    expected = sorted(f"{p}{i}" for p in "AB" for i in range(20))
    assert sorted(w["name"] for w in Emulator(data_file=data_file).workflows) == expected
    # Each sees the other's writes on its next request.
    assert len(emulators[0].workflows) == 40
    listed = emulators[1].handle("GET", "/voicebot/v1/workflows", {}, b"").json()["data"]
    assert sorted(w["name"] for w in listed) == expected


def test_local_transport_is_safe_across_processes(tmp_path):
    state = tmp_path / ".voicebot-sync" / "emulator.json"
    script = (
        "import sys, httpx\n"
        "from voicebot_sync.emulator import local_transport\n"
        "with httpx.Client(transport=local_transport(sys.argv[1]), base_url='http://local/voicebot/v1') as c:\n"
        "    for i in range(20):\n"
        "        r = c.post('/workflows', json={'name': sys.argv[2] + str(i), 'message': 'm'})\n"
        "        assert r.status_code == 201, r.text\n"
    )
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [os.getcwd(), os.environ.get("PYTHONPATH")]))}
    procs = [subprocess.Popen([sys.executable, "-c", script, str(state), p], env=env) for p in "XY"]
    assert [p.wait(timeout=60) for p in procs] == [0, 0]
    with httpx.Client(transport=local_transport(str(state)), base_url="http://local/voicebot/v1") as client:
        names = sorted(w["name"] for w in client.get("/workflows").json()["data"])
    assert names == sorted(f"{p}{i}" for p in "XY" for i in range(20))


# -- 11. the message rule stands -------------------------------------------------


def test_message_limit_holds_with_every_quirk_on(serve):
    client = serve(Emulator(api_keys=[KEY], quirks=True, page_size=1, list_shape="nested", omit_fields=("message",)))
    response = client.post("/workflows", json={"name": "X", "message": "a" * 1001})
    assert (response.status_code, response.json()["message"]) == (400, "message must not exceed 1000 characters")
    assert client.post("/workflows", json={"name": "X", "message": "a" * 1000}).status_code == 201
