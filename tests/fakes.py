"""Test doubles shared by the unit tests: a fake clock, the emulator behind MockTransport with scripted faults."""

from __future__ import annotations

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
    """The emulator (the one fake of the API) as a function for httpx.MockTransport, with faults scripted
    request by request on top of its own options.

    ``faults`` holds (method, fault) pairs, each consumed by the next request of that method:
    "lose" (act, then raise ReadTimeout), "500" (answer 500 without acting),
    "500-after" (act, then answer 502), "connect" (ConnectError, nothing sent), "429".
    ``act`` is what the server does with a request after the faults (the emulator's ``handle``);
    a test may wrap it, e.g. to spy or refuse. ``list_lag``, ``get_lag`` and ``normalise_names``
    are the emulator's options, on ``clock`` (a FakeClock) when given.
    """

    def __init__(self, workflows=None, clock: FakeClock | None = None, list_lag: float = 0.0,
                 normalise_names: bool = False, get_lag: bool = False):
        from voicebot_sync.emulator import Emulator

        self.clock = clock
        self.emulator = Emulator(clock=clock or (lambda: 0.0), list_lag=list_lag, get_lag=get_lag,
                                 normalise_names="nfc-spaces" if normalise_names else "exact")
        for w in workflows or []:
            w = dict(w)
            w.setdefault("id", str(uuid.uuid4()))
            # A real server always answers with these (the client refuses items without them).
            w.setdefault("message", "")
            w.setdefault("workflow_type", "ROBOCALL")
            self.emulator.add_workflow(**w)
            self.created_at[w["id"]] = -1e18  # made long ago: listed whatever the lag
        self.requests: list[tuple[str, str]] = []
        self.faults: list[tuple[str, str]] = []  # (method, fault)
        self.request_times: list[float] = []
        self.act = self.default_act

    @property
    def workflows(self) -> dict[str, dict]:
        """The emulator's records by id (live: a test may read or change them)."""
        return self.emulator._records

    @property
    def created_at(self) -> dict[str, float]:
        """The emulator's creation times by id, on its clock (for list_lag)."""
        return self.emulator._born

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
        answer = self.emulator.handle(method, request.url.raw_path.decode("ascii"), dict(request.headers),
                                      request.read())
        return httpx.Response(answer.status, headers=answer.headers, content=answer.body)

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


# -- helpers several test files share --------------------------------------------------


def client_for(handler, clock=None, max_retries=2):
    """A client over ``handler`` (a function or a transport) on a fake clock, with quick retries."""
    from voicebot_sync.api.client import VoicebotClient
    from voicebot_sync.api.ratelimit import RateLimiter
    from voicebot_sync.api.retry import RetryPolicy

    clock = clock or FakeClock()
    transport = handler if isinstance(handler, httpx.BaseTransport) else httpx.MockTransport(handler)
    return VoicebotClient("https://api.test/voicebot/v1", "k-123456", transport=transport,
                          limiter=RateLimiter([], clock=clock, sleep=clock.sleep),
                          retry=RetryPolicy(max_retries=max_retries, base=0.01))


def problems_of(*paths, **kw):
    """The problems load_definitions raises for ``paths`` (it must raise)."""
    import pytest

    from voicebot_sync.errors import ValidationError
    from voicebot_sync.read.definitions import load_definitions

    with pytest.raises(ValidationError) as info:
        load_definitions([str(p) for p in paths], **kw)
    return [str(p) for p in info.value.problems]


def write(path, text):
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")
    return path


def validate_cli(*paths):
    """``voicebot-sync validate PATHS`` through click: never a traceback, never an exception but SystemExit."""
    from click.testing import CliRunner

    from voicebot_sync.cli import main

    result = CliRunner().invoke(main, ["validate", *map(str, paths)])
    assert result.exception is None or isinstance(result.exception, SystemExit), repr(result.exception)
    assert "Traceback" not in result.output
    return result


def bounded_problems(path):
    """The problems of one hostile file, read within 50 MiB (and 2 s) of memory and time."""
    import time
    import tracemalloc

    from voicebot_sync.errors import ValidationError
    from voicebot_sync.read.definitions import load_definitions

    started = time.perf_counter()
    tracemalloc.start()
    try:
        load_definitions([str(path)])
        found = []
    except ValidationError as exc:
        found = [str(p) for p in exc.problems]
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    assert time.perf_counter() - started < 2, "took too long"
    assert peak < 50 * 2**20, f"peak memory {peak / 2**20:.0f} MiB"
    return found
