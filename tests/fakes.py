"""Test doubles shared by the unit tests: a fake clock and an in-memory API behind MockTransport."""

from __future__ import annotations

import json
import uuid

import httpx


class FakeClock:
    """A monotonic clock that only moves when something sleeps on it."""

    def __init__(self, start: float = 1000.0):
        self.now = start
        self.sleeps: list[float] = []

    def __call__(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.now += seconds


class FakeApi:
    """The workflow API as a plain function for httpx.MockTransport, with hooks to inject faults.

    ``fail`` maps a (method, kind) to a list of faults consumed one per matching request:
    "lose" (act, then raise ReadTimeout), "500" (answer 500 without acting),
    "500-after" (act, then answer 500), "connect" (ConnectError, nothing sent), "429".
    """

    def __init__(self, workflows=None, clock: FakeClock | None = None, list_lag: float = 0.0,
                 normalise_names: bool = False, get_lag: bool = False):
        self.list_lag = list_lag  # seconds a created workflow stays out of the list (needs a clock)
        self.normalise_names = normalise_names  # stores names in NFC with runs of spaces collapsed
        self.get_lag = get_lag  # GET by id lags like the list
        self.created_at: dict[str, float] = {}
        self.workflows: dict[str, dict] = {}
        for w in workflows or []:
            w = dict(w)
            w.setdefault("id", str(uuid.uuid4()))
            # A real server always answers with these (the client refuses items without them).
            w.setdefault("message", "")
            w.setdefault("workflow_type", "ROBOCALL")
            self.workflows[w["id"]] = w
        self.requests: list[tuple[str, str]] = []
        self.faults: list[tuple[str, str]] = []  # (method, fault)
        self.clock = clock
        self.request_times: list[float] = []
        # What the server does with a request (after faults): a test may wrap it, e.g. to spy or refuse.
        self.act = self.default_act

    def transport(self) -> httpx.MockTransport:
        return httpx.MockTransport(self.handle)

    def _fault(self, method: str) -> str | None:
        for i, (m, fault) in enumerate(self.faults):
            if m == method:
                del self.faults[i]
                return fault
        return None

    def handle(self, request: httpx.Request) -> httpx.Response:
        method, path = request.method, request.url.path
        self.requests.append((method, path))
        if self.clock:
            self.request_times.append(self.clock())
        fault = self._fault(method)
        if fault == "connect":
            raise httpx.ConnectError("connection refused", request=request)
        if fault == "429":
            return httpx.Response(429, json={"status": "Error", "message": "too many requests"}, headers={"Retry-After": "7"})
        if fault == "500":
            return httpx.Response(500, json={"status": "Error", "message": "internal error"})
        response = self.act(method, path, request)
        if fault == "lose":
            raise httpx.ReadTimeout("timed out", request=request)
        if fault == "500-after":
            return httpx.Response(502, text="Bad Gateway")
        return response

    def default_act(self, method: str, path: str, request: httpx.Request) -> httpx.Response:
        parts = path.rstrip("/").split("/")
        wid = parts[-1] if parts[-1] != "workflows" else None
        if method == "GET" and wid is None:
            now = self.clock() if self.clock else 0.0
            visible = [w for w in self.workflows.values()
                       if now - self.created_at.get(w["id"], -1e18) >= self.list_lag]
            return httpx.Response(200, json={"status": "Ok", "message": "ok", "data": visible})
        if method == "POST":
            body = self._stored(json.loads(request.content))
            w = {"id": str(uuid.uuid4()), "description": "", "workflow_type": "ROBOCALL", **body}
            self.workflows[w["id"]] = w
            self.created_at[w["id"]] = self.clock() if self.clock else 0.0
            return httpx.Response(200, json={"status": "Ok", "message": "created", "data": w})
        lagging = self.get_lag and self.clock and self.clock() - self.created_at.get(wid, -1e18) < self.list_lag
        if wid not in self.workflows or (method == "GET" and lagging):
            return httpx.Response(404, json={"status": "Error", "message": "workflow not found", "data": None})
        if method == "GET":
            return httpx.Response(200, json={"status": "Ok", "data": self.workflows[wid]})
        if method == "PUT":
            self.workflows[wid].update(self._stored(json.loads(request.content)))
            return httpx.Response(200, json={"status": "Ok", "data": self.workflows[wid]})
        if method == "DELETE":
            del self.workflows[wid]
            return httpx.Response(200, json={"status": "Ok", "data": {}})
        return httpx.Response(405)

    def _stored(self, body: dict) -> dict:
        if self.normalise_names and isinstance(body.get("name"), str):
            import re
            import unicodedata

            body = {**body, "name": re.sub(r"\s+", " ", unicodedata.normalize("NFC", body["name"])).strip()}
        return body

    def count(self, method: str) -> int:
        return sum(1 for m, _ in self.requests if m == method)


class FakeDefinition:
    """A definition without a file, for planner and executor tests."""

    def __init__(self, name, message="Hello [name]", *, id=None, source=None, line=1, **fields):
        self.fields = {"name": name, "message": message, **fields}
        self.name = name
        self.id = id
        self.source = source or f"workflows/{name.lower().replace(' ', '-')}.yaml"
        self.line = line

    def desired(self):
        from voicebot_sync.core.model import desired_fields

        return desired_fields(self.fields)


# A key and a workflow body for the emulator's own tests.
EMULATOR_KEY = "test-key-123"
REMINDER = {
    "name": "Reminder",
    "description": "Appointment reminder",
    "workflow_type": "ROBOCALL",
    "message": "Hello [name], your appointment is on [date]",
}
