"""The emulator behaves like the documented Voicebot workflow API, in-process and over HTTP."""

from __future__ import annotations

import contextlib
import email.utils
import json
import os
import threading
import time
import uuid

import httpx
import pytest

from voicebot_sync.emulator import server as emulator_module
from voicebot_sync.emulator import Emulator, local_transport, main_serve, make_wsgi_app, running

from fakes import EMULATOR_KEY as KEY, REMINDER, FakeClock


@pytest.fixture(params=["wsgi", "http"])
def connect(request):
    """Factory: an httpx.Client on a given Emulator, in-process (WSGI) or over a real socket."""
    stack = contextlib.ExitStack()

    def make(emulator: Emulator, key: str | None = KEY) -> httpx.Client:
        headers = {"Authorization": f"Bearer {key}"} if key else {}
        if request.param == "wsgi":
            transport = httpx.WSGITransport(app=make_wsgi_app(emulator))
            client = httpx.Client(transport=transport, base_url="http://emulator/voicebot/v1", headers=headers)
        else:
            client = httpx.Client(base_url=stack.enter_context(running(emulator)), headers=headers)
        return stack.enter_context(client)

    make.mode = request.param
    with stack:
        yield make


@pytest.fixture
def api(connect):
    """A client on a fresh emulator that requires KEY."""
    emulator = Emulator(api_keys=[KEY])
    client = connect(emulator)
    client.emulator = emulator
    return client


def call(method: str, path: str = "/voicebot/v1/workflows", body=None, key: str | None = KEY, **headers):
    """Arguments for Emulator.handle, for the unit-level tests."""
    if key:
        headers["Authorization"] = f"Bearer {key}"
    raw = body if isinstance(body, bytes) else (json.dumps(body).encode() if body is not None else b"")
    return method, path, headers, raw


# -- CRUD and envelope -------------------------------------------------------


def test_crud_round_trip_uses_the_documented_envelope_and_messages(api):
    created = api.post("/workflows", json=REMINDER)
    assert created.status_code in (200, 201)
    body = created.json()
    assert (body["status"], body["message"]) == ("Ok", "workflow created successfully")
    workflow = body["data"]
    assert uuid.UUID(workflow["id"]).version == 4
    assert {k: workflow[k] for k in REMINDER} == REMINDER
    assert workflow["status"] == "ACTIVE" and workflow["owner_id"]
    assert workflow["created_at"].endswith("Z") and workflow["updated_at"]
    wid = workflow["id"]

    listed = api.get("/workflows").json()
    assert (listed["status"], listed["message"]) == ("Ok", "workflows retrieved successfully")
    assert listed["data"] == [workflow]

    got = api.get(f"/workflows/{wid}").json()
    assert (got["message"], got["data"]) == ("workflow retrieved successfully", workflow)

    updated = api.put(f"/workflows/{wid}", json={**REMINDER, "name": "Reminder v2"}).json()
    assert updated["message"] == "workflow updated successfully"
    assert updated["data"]["name"] == "Reminder v2" and updated["data"]["id"] == wid

    deleted = api.delete(f"/workflows/{wid}")
    assert deleted.status_code == 200
    assert deleted.json() == {"status": "Ok", "message": "workflow deleted successfully", "data": {}}
    assert api.get("/workflows").json()["data"] == []
    assert api.emulator.stats["writes"] == 3


def test_workflow_type_defaults_to_robocall_and_optional_fields_are_kept(api):
    data = api.post(
        "/workflows",
        json={
            "name": "Survey",
            "message": "Press 1 or 2",
            "include_reply": True,
            "response_options": {"1": "Yes", "2": "No"},
            "call_back_url": "https://example.com/hook",
            "colour": "blue",  # unknown fields are ignored
            "status": "INACTIVE",  # server-only fields cannot be set
        },
    ).json()["data"]
    assert data["workflow_type"] == "ROBOCALL"
    assert data["description"] == ""
    assert data["include_reply"] is True
    assert data["response_options"] == {"1": "Yes", "2": "No"}
    assert data["call_back_url"] == "https://example.com/hook"
    assert "colour" not in data and data["status"] == "ACTIVE"


def test_duplicate_names_are_allowed(api):
    first = api.post("/workflows", json=REMINDER).json()["data"]["id"]
    second = api.post("/workflows", json=REMINDER).json()["data"]["id"]
    assert first != second
    assert [w["name"] for w in api.get("/workflows").json()["data"]] == ["Reminder", "Reminder"]


def test_put_changes_only_the_given_fields(api):
    wid = api.post("/workflows", json=REMINDER).json()["data"]["id"]
    data = api.put(f"/workflows/{wid}", json={"message": "Bye [name]"}).json()["data"]
    assert data["message"] == "Bye [name]"
    assert {k: data[k] for k in ("name", "description", "workflow_type")} == {
        k: REMINDER[k] for k in ("name", "description", "workflow_type")
    }
    data = api.put(f"/workflows/{wid}", json={"workflow_type": "CONVERSATION"}).json()["data"]
    assert (data["workflow_type"], data["message"]) == ("CONVERSATION", "Bye [name]")


def test_trailing_slash_is_tolerated(api):
    wid = api.post("/workflows/", json=REMINDER).json()["data"]["id"]
    assert api.get("/workflows/").json()["data"][0]["id"] == wid
    assert api.get(f"/workflows/{wid}/").json()["data"]["id"] == wid


# -- errors ------------------------------------------------------------------


@pytest.mark.parametrize("key", [None, "wrong-key"])
def test_missing_or_wrong_key_is_401_with_envelope(connect, key):
    emulator = Emulator(api_keys=[KEY])
    client = connect(emulator, key=key)
    response = client.get("/workflows")
    assert response.status_code == 401
    assert response.json() == {"status": "Error", "message": "invalid or missing API key", "data": None}
    assert client.post("/workflows", json=REMINDER).status_code == 401
    assert emulator.workflows == []


def test_any_of_several_keys_is_accepted_and_counted_apart(connect):
    emulator = Emulator(api_keys=["key-a", "key-b"])
    assert connect(emulator, key="key-a").get("/workflows").status_code == 200
    assert connect(emulator, key="key-b").get("/workflows").status_code == 200
    assert emulator.stats["by_key"] == {"key-a": 1, "key-b": 1}


def test_no_keys_means_no_auth(connect):
    assert connect(Emulator(api_keys=None), key=None).get("/workflows").status_code == 200
    assert connect(Emulator(api_keys=[]), key=None).get("/workflows").status_code == 200


def test_unknown_workflow_and_unknown_path_are_404(api):
    missing = f"/workflows/{uuid.uuid4()}"
    for response in (api.get(missing), api.put(missing, json={"name": "x"}), api.delete(missing)):
        assert response.status_code == 404
        assert response.json()["status"] == "Error" and response.json()["data"] is None
    assert api.get("/workflow").status_code == 404
    assert api.get(f"{missing}/calls").status_code == 404
    assert api.emulator.stats["writes"] == 0


def test_wrong_method_is_405(api):
    assert api.patch("/workflows", json=REMINDER).status_code == 405
    response = api.post(f"/workflows/{uuid.uuid4()}", json=REMINDER)
    assert response.status_code == 405 and response.json()["status"] == "Error"


@pytest.mark.parametrize(
    "body, message",
    [
        (b"{not json", "invalid JSON body"),
        (b"", "invalid JSON body"),
        (b'["a list"]', "request body must be a JSON object"),
        ({"message": "Hi"}, "name is required"),
        ({"name": "", "message": "Hi"}, "name is required"),
        ({"name": "X"}, "message is required"),
        ({"name": "X", "message": "Hi", "workflow_type": "SMS"}, "workflow_type must be ROBOCALL or CONVERSATION"),
        ({"name": "X", "message": "Hi", "workflow_type": "robocall"}, "workflow_type must be ROBOCALL or CONVERSATION"),
        ({"name": "X", "message": "a" * 1001}, "message must not exceed 1000 characters"),
        ({"name": 7, "message": "Hi"}, "name must be a string"),
        ({"name": "X", "message": ["Hi"]}, "message must be a string"),
        ({"name": "X", "message": "Hi", "description": 3}, "description must be a string"),
        ({"name": "X", "message": "Hi", "include_reply": "yes"}, "include_reply must be a boolean"),
        ({"name": "X", "message": "Hi", "response_options": ["Yes"]}, "response_options must be an object of strings"),
        ({"name": "X", "message": "Hi", "response_options": {"1": 2}}, "response_options must be an object of strings"),
        ({"name": "X", "message": "Hi", "call_back_url": 1}, "call_back_url must be a string"),
    ],
)
def test_invalid_create_is_400_and_stores_nothing(api, body, message):
    content = body if isinstance(body, bytes) else json.dumps(body).encode()
    response = api.post("/workflows", content=content, headers={"Content-Type": "application/json"})
    assert response.status_code == 400
    assert response.json() == {"status": "Error", "message": message, "data": None}
    assert api.emulator.workflows == []


def test_message_of_exactly_1000_characters_is_accepted(api):
    assert api.post("/workflows", json={"name": "X", "message": "a" * 1000}).status_code in (200, 201)


@pytest.mark.parametrize(
    "body, message",
    [
        ({"message": "a" * 1001}, "message must not exceed 1000 characters"),
        ({"workflow_type": "SMS"}, "workflow_type must be ROBOCALL or CONVERSATION"),
        ({"name": ""}, "name must not be empty"),
        ({"name": None}, "name must be a string"),
    ],
)
def test_invalid_update_is_400_and_changes_nothing(api, body, message):
    wid = api.post("/workflows", json=REMINDER).json()["data"]["id"]
    response = api.put(f"/workflows/{wid}", json=body)
    assert (response.status_code, response.json()["message"]) == (400, message)
    assert {k: api.emulator.workflows[0][k] for k in REMINDER} == REMINDER


# -- persistence -------------------------------------------------------------


def test_state_survives_a_restart_on_the_same_data_file(tmp_path, connect):
    data_file = tmp_path / "state.json"
    first = connect(Emulator(data_file=str(data_file)), key=None)
    kept = first.post("/workflows", json=REMINDER).json()["data"]
    gone = first.post("/workflows", json={"name": "Gone", "message": "x"}).json()["data"]
    first.delete(f"/workflows/{gone['id']}")
    assert json.loads(data_file.read_text())["workflows"][0]["id"] == kept["id"]
    assert os.listdir(tmp_path) == ["state.json"]  # the temporary file was renamed, not left behind

    second = connect(Emulator(data_file=str(data_file)), key=None)
    assert second.get("/workflows").json()["data"] == [kept]


def test_local_transport_creates_the_state_directory_and_persists(tmp_path):
    state = tmp_path / ".voicebot-sync" / "emulator.json"
    with httpx.Client(transport=local_transport(str(state)), base_url="http://local/voicebot/v1") as client:
        assert client.post("/workflows", json=REMINDER).status_code in (200, 201)
    assert state.exists()
    with httpx.Client(transport=local_transport(str(state)), base_url="http://local/voicebot/v1") as client:
        assert [w["name"] for w in client.get("/workflows").json()["data"]] == ["Reminder"]


def test_unreadable_data_file_is_a_clear_error(tmp_path):
    bad = tmp_path / "state.json"
    bad.write_text("{oops")
    with pytest.raises(ValueError, match="cannot be read"):
        Emulator(data_file=str(bad))


def test_add_workflow_seeds_state_without_a_request(tmp_path):
    emulator = Emulator(data_file=str(tmp_path / "s.json"))
    seeded = emulator.add_workflow(name="Seeded", message="Hi", status="INACTIVE")
    assert emulator.workflows == [seeded]
    assert seeded["status"] == "INACTIVE" and seeded["workflow_type"] == "ROBOCALL"
    assert emulator.stats["requests"] == 0
    assert Emulator(data_file=str(tmp_path / "s.json")).workflows == [seeded]


# -- rate limiting -------------------------------------------------------------


def test_every_window_counts_and_retry_after_rounds_up():
    clock = FakeClock()
    emulator = Emulator(api_keys=[KEY], rate_limit=[(2, 1.0), (3, 10.0)], clock=clock)
    assert emulator.handle(*call("GET")).status == 200
    clock.now += 0.1
    assert emulator.handle(*call("GET")).status == 200
    clock.now += 0.1
    # Third request within 1s: the 1s window is full until 1000.0 + 1.0, 0.8s away -> 1.
    limited = emulator.handle(*call("GET"))
    assert limited.status == 429
    assert limited.headers["Retry-After"] == "1"
    assert limited.json()["status"] == "Error" and limited.json()["data"] is None

    clock.now = 1001.0  # the oldest has left the 1s window
    assert emulator.handle(*call("GET")).status == 200
    clock.now = 1001.5  # now the 10s window holds 3: free at 1010.0, 8.5s away -> 9
    assert emulator.handle(*call("GET")).headers["Retry-After"] == "9"
    clock.now = 1009.9
    assert emulator.handle(*call("GET")).headers["Retry-After"] == "1"
    # Rejected requests were not recorded, so the window frees exactly on time.
    clock.now = 1010.0
    assert emulator.handle(*call("GET")).status == 200
    assert emulator.stats["rate_limited"] == 3 and emulator.stats["requests"] == 7


def test_retry_after_as_http_date():
    clock = FakeClock()
    emulator = Emulator(rate_limit=[(1, 30.0)], clock=clock, retry_after="http-date")
    emulator.handle(*call("GET", key=None))
    clock.now += 0.5
    before = time.time()
    header = emulator.handle(*call("GET", key=None)).headers["Retry-After"]
    assert header.endswith(" GMT")
    at = email.utils.parsedate_to_datetime(header).timestamp()
    assert before + 29.5 <= at <= time.time() + 30.5


def test_retry_after_can_be_left_out():
    emulator = Emulator(rate_limit=[(1, 30.0)], clock=FakeClock(), retry_after="none")
    emulator.handle(*call("GET", key=None))
    limited = emulator.handle(*call("GET", key=None))
    assert limited.status == 429 and "Retry-After" not in limited.headers


def test_each_key_has_its_own_quota_and_401s_do_not_count():
    emulator = Emulator(api_keys=["a", "b"], rate_limit=[(1, 60.0)], clock=FakeClock())
    for _ in range(3):
        assert emulator.handle(*call("GET", key="wrong")).status == 401
    assert emulator.handle(*call("GET", key="a")).status == 200
    assert emulator.handle(*call("GET", key="a")).status == 429
    assert emulator.handle(*call("GET", key="b")).status == 200


def test_rate_limit_over_the_wire(connect):
    emulator = Emulator(api_keys=[KEY], rate_limit=[(1, 60.0)], clock=FakeClock())
    client = connect(emulator)
    assert client.post("/workflows", json=REMINDER).status_code in (200, 201)
    limited = client.post("/workflows", json=REMINDER)
    assert (limited.status_code, limited.headers["Retry-After"]) == (429, "60")
    assert limited.json()["status"] == "Error"
    assert len(emulator.workflows) == 1


def test_rate_limit_with_the_real_clock():
    emulator = Emulator(rate_limit=[(1, 0.2)])
    assert emulator.handle(*call("GET", key=None)).status == 200
    assert emulator.handle(*call("GET", key=None)).status == 429
    time.sleep(0.25)
    assert emulator.handle(*call("GET", key=None)).status == 200


# -- quirks and faults ---------------------------------------------------------


def test_quirks_strip_trailing_whitespace_and_return_null_description(api, connect):
    emulator = Emulator(quirks=True)
    client = connect(emulator, key=None)
    data = client.post("/workflows", json={"name": "Q", "message": "Hello [name]\n  ", "description": ""}).json()["data"]
    assert data["message"] == "Hello [name]"
    assert data["description"] is None
    wid = data["id"]
    data = client.put(f"/workflows/{wid}", json={"description": "Some text \n"}).json()["data"]
    assert data["description"] == "Some text"
    # Without quirks the text is stored as sent.
    plain = api.post("/workflows", json={"name": "P", "message": "Hi\n"}).json()["data"]
    assert (plain["message"], plain["description"]) == ("Hi\n", "")


def test_fault_5xx_answers_500_without_acting(connect):
    emulator = Emulator(fault_5xx=1.0, fault_seed=1)
    client = connect(emulator, key=None)
    response = client.post("/workflows", json=REMINDER)
    assert response.status_code == 500
    assert response.json() == {"status": "Error", "message": "internal error", "data": None}
    assert client.get("/workflows").status_code == 500
    assert emulator.workflows == []
    assert emulator.stats["faults"] == 2 and emulator.stats["writes"] == 0


def test_faults_follow_the_seed():
    def pattern(seed):
        emulator = Emulator(fault_5xx=0.5, fault_seed=seed)
        return [emulator.handle(*call("GET", key=None)).status for _ in range(20)]

    assert pattern(7) == pattern(7)
    assert set(pattern(7)) == {200, 500}


def test_drop_after_write_acts_then_loses_the_answer(connect):
    emulator = Emulator(api_keys=[KEY], fault_drop_after_write=1.0, fault_seed=3)
    client = connect(emulator)
    lost = ConnectionAbortedError if connect.mode == "wsgi" else httpx.RemoteProtocolError
    with pytest.raises(lost):
        client.post("/workflows", json=REMINDER)
    assert [w["name"] for w in emulator.workflows] == ["Reminder"]
    # Reads are never dropped: the client can look before it retries.
    listed = client.get("/workflows")
    assert listed.status_code == 200 and listed.json()["data"][0]["name"] == "Reminder"
    # Failed writes are not carried out, so not dropped either.
    assert client.put(f"/workflows/{uuid.uuid4()}", json={"name": "x"}).status_code == 404
    assert emulator.stats["dropped"] == 1 and emulator.stats["writes"] == 1


def test_drop_after_write_persists_before_dropping(tmp_path):
    data_file = tmp_path / "state.json"
    emulator = Emulator(data_file=str(data_file), fault_drop_after_write=1.0)
    assert emulator.handle(*call("POST", body=REMINDER, key=None)).drop
    assert [w["name"] for w in Emulator(data_file=str(data_file)).workflows] == ["Reminder"]


# -- serving -----------------------------------------------------------------


def test_concurrent_creates_over_http_all_land():
    emulator = Emulator()
    with running(emulator) as url:
        assert url.startswith("http://127.0.0.1:") and url.endswith("/voicebot/v1")

        def create(i):
            with httpx.Client(base_url=url) as client:
                assert client.post("/workflows", json={"name": f"W{i}", "message": "Hi"}).status_code in (200, 201)

        threads = [threading.Thread(target=create, args=(i,)) for i in range(8)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
    assert sorted(w["name"] for w in emulator.workflows) == sorted(f"W{i}" for i in range(8))
    assert len({w["id"] for w in emulator.workflows}) == 8


def test_main_serve_announces_itself_without_the_keys(monkeypatch, capsys):
    real_serve = emulator_module.serve

    def serve_then_interrupt(*args, **kwargs):
        server = real_serve(*args, **kwargs)

        def interrupted(*a, **k):
            raise KeyboardInterrupt

        server.serve_forever = interrupted
        return server

    monkeypatch.setattr(emulator_module, "serve", serve_then_interrupt)
    assert main_serve("127.0.0.1", 0, ["secret-one", "secret-two"], None, "6/1m,60/1h") == 0
    out = capsys.readouterr().out
    assert out.startswith("voicebot-sync emulator listening on http://127.0.0.1:")
    assert "/voicebot/v1 (keys: 2, rate limit: 6/1m,60/1h, data: memory)" in out
    assert "secret" not in out

    assert main_serve("127.0.0.1", 0, [], "state.json", "off", quirks=True) == 0
    assert "(keys: 0, rate limit: off, data: state.json)" in capsys.readouterr().out
