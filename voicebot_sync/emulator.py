"""A faithful local Voicebot workflow API, for tests, demos and offline CI.

It serves the five documented workflow endpoints with the same envelope,
messages, Bearer authentication and sliding-window quota as the real service,
and can misbehave on purpose (trailing-whitespace quirks, 5xx, answers lost
after a write) so that the client's recovery paths are exercised. It shares
nothing with ``client.py`` but the wire format, so each checks the other.

Use it in-process (``make_wsgi_app`` with ``httpx.WSGITransport``), on a port
(``serve``/``running``), or as the ``--api-url local`` backend (``local_transport``).
"""

from __future__ import annotations

import contextlib
import datetime as _dt
import email.utils
import hmac
import http
import json
import math
import os
import random
import socket
import tempfile
import threading
import time
import uuid
from collections import deque
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Callable, Iterator, Mapping

PREFIX = "/voicebot/v1"
COLLECTION = PREFIX + "/workflows"
WORKFLOW_TYPES = ("ROBOCALL", "CONVERSATION")
MAX_MESSAGE_LENGTH = 1000
# Request fields the server stores; anything else in a request body is ignored.
TEXT_FIELDS = ("name", "description", "workflow_type", "message", "call_back_url")
STORED_FIELDS = ("name", "description", "workflow_type", "message", "include_reply", "response_options", "call_back_url")
ANONYMOUS = "(no auth)"  # the rate-limit log's key when auth is off


@dataclass
class Response:
    """What the emulator answers; ``drop`` means: send nothing and cut the connection."""

    status: int
    headers: dict[str, str] = field(default_factory=dict)
    body: bytes = b""
    drop: bool = False

    def json(self) -> Any:
        """The body, decoded as JSON."""
        return json.loads(self.body)


class _BadRequest(Exception):
    """A request body the server refuses (400)."""


def _now_iso() -> str:
    return _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def _envelope(status: int, message: str, data: Any = None, headers: dict[str, str] | None = None) -> Response:
    body = {"status": "Ok" if status < 400 else "Error", "message": message, "data": data}
    return Response(status, {"Content-Type": "application/json", **(headers or {})}, json.dumps(body).encode("utf-8"))


class Emulator:
    """The Voicebot workflow API's state and rules; ``handle`` answers one request."""

    def __init__(
        self,
        *,
        api_keys: list[str] | None = None,
        rate_limit: list[tuple[int, float]] | None = None,
        data_file: str | None = None,
        clock: Callable[[], float] = time.monotonic,
        quirks: bool = False,
        retry_after: str = "seconds",
        fault_5xx: float = 0.0,
        fault_drop_after_write: float = 0.0,
        fault_seed: int | None = None,
    ):
        if retry_after not in ("seconds", "http-date", "none"):
            raise ValueError(f"retry_after must be seconds, http-date or none, not {retry_after!r}")
        self.api_keys = list(api_keys or [])
        self.windows = sorted(rate_limit or [], key=lambda w: w[1])
        self.data_file = data_file
        self.clock = clock
        self.quirks = quirks
        self.retry_after = retry_after
        self.fault_5xx = fault_5xx
        self.fault_drop_after_write = fault_drop_after_write
        self._rng = random.Random(fault_seed)
        self._lock = threading.RLock()
        self._logs: dict[str, deque[float]] = {}
        self._records: dict[str, dict[str, Any]] = {}
        self._owner_id = str(uuid.uuid4())
        self._stats = {"requests": 0, "rate_limited": 0, "by_key": {}, "writes": 0, "dropped": 0, "faults": 0}
        if data_file and os.path.exists(data_file):
            self._load()

    # -- state ---------------------------------------------------------------

    @property
    def workflows(self) -> list[dict]:
        """The stored workflows, in creation order (copies)."""
        with self._lock:
            return [json.loads(json.dumps(r)) for r in self._records.values()]

    @property
    def stats(self) -> dict:
        """Counters: requests, rate_limited, by_key (requests per authenticated key), writes, dropped, faults."""
        with self._lock:
            return {**self._stats, "by_key": dict(self._stats["by_key"])}

    def add_workflow(self, **fields: Any) -> dict:
        """Store a workflow directly, bypassing HTTP and validation (test set-up)."""
        with self._lock:
            now = _now_iso()
            record = {
                "id": str(uuid.uuid4()),
                "name": "",
                "description": "",
                "workflow_type": "ROBOCALL",
                "message": "",
                "status": "ACTIVE",
                "owner_id": self._owner_id,
                "created_at": now,
                "updated_at": now,
                **fields,
            }
            self._records[record["id"]] = record
            self._save()
            return dict(record)

    def _load(self) -> None:
        try:
            with open(self.data_file, encoding="utf-8") as fh:
                data = json.load(fh)
        except (OSError, ValueError) as exc:
            raise ValueError(f"emulator data file {self.data_file} cannot be read: {exc}") from exc
        self._owner_id = data.get("owner_id", self._owner_id)
        self._records = {r["id"]: r for r in data.get("workflows", [])}

    def _save(self) -> None:
        if not self.data_file:
            return
        # Write beside the target and rename, so a crash never leaves half a file.
        folder = os.path.dirname(os.path.abspath(self.data_file))
        fd, tmp = tempfile.mkstemp(prefix=".emulator-", suffix=".tmp", dir=folder)
        try:
            with os.fdopen(fd, "w", encoding="utf-8") as fh:
                json.dump({"owner_id": self._owner_id, "workflows": list(self._records.values())}, fh, indent=2)
            os.replace(tmp, self.data_file)
        except BaseException:
            with contextlib.suppress(OSError):
                os.unlink(tmp)
            raise

    # -- requests ------------------------------------------------------------

    def handle(self, method: str, path: str, headers: Mapping[str, str], body: bytes) -> Response:
        """Answer one HTTP request: auth, quota, faults, then the route."""
        with self._lock:
            self._stats["requests"] += 1
            lower = {k.lower(): v for k, v in headers.items()}
            key = self._authenticate(lower.get("authorization", ""))
            if key is None:
                return _envelope(401, "invalid or missing API key", headers={"WWW-Authenticate": "Bearer"})
            if self.api_keys:
                self._stats["by_key"][key] = self._stats["by_key"].get(key, 0) + 1
            limited = self._check_quota(key)
            if limited is not None:
                self._stats["rate_limited"] += 1
                return limited
            if self.fault_5xx and self._rng.random() < self.fault_5xx:
                self._stats["faults"] += 1
                return _envelope(500, "internal error")
            method = method.upper()
            response = self._route(method, path.split("?", 1)[0], body or b"")
            if method in ("POST", "PUT", "DELETE") and response.status < 300:
                self._stats["writes"] += 1
                self._save()
                if self.fault_drop_after_write and self._rng.random() < self.fault_drop_after_write:
                    self._stats["dropped"] += 1
                    return Response(response.status, drop=True)
            return response

    def _authenticate(self, authorization: str) -> str | None:
        if not self.api_keys:
            return ANONYMOUS
        scheme, _, token = authorization.strip().partition(" ")
        if scheme.lower() != "bearer":
            return None
        token = token.strip()
        # Compare every key in constant time so timing reveals nothing about them.
        matches = [k for k in self.api_keys if hmac.compare_digest(k.encode(), token.encode())]
        return matches[0] if matches else None

    def _check_quota(self, key: str) -> Response | None:
        """Record the request in the key's log, or answer 429 without recording it."""
        if not self.windows:
            return None
        now = self.clock()
        log = self._logs.setdefault(key, deque(maxlen=max(c for c, _ in self.windows)))
        wait, binding = 0.0, None
        for count, length in self.windows:
            if len(log) >= count and log[-count] + length - now > wait:
                wait, binding = log[-count] + length - now, (count, length)
        if binding is None:
            log.append(now)
            return None
        seconds = max(1, math.ceil(wait))
        headers = {}
        if self.retry_after == "seconds":
            headers["Retry-After"] = str(seconds)
        elif self.retry_after == "http-date":
            # Round up to a whole second: an HTTP date cannot say less.
            headers["Retry-After"] = email.utils.formatdate(math.ceil(time.time() + wait), usegmt=True)
        return _envelope(429, f"rate limit exceeded: {binding[0]} requests per {binding[1]:g}s", headers=headers)

    def _route(self, method: str, path: str, body: bytes) -> Response:
        path = path.rstrip("/")
        wid = path[len(COLLECTION) + 1 :]
        if path == COLLECTION:
            handlers = {"GET": self._list, "POST": lambda: self._create(body)}
        elif path.startswith(COLLECTION + "/") and "/" not in wid:
            handlers = {
                "GET": lambda: self._get(wid),
                "PUT": lambda: self._update(wid, body),
                "DELETE": lambda: self._delete(wid),
            }
        else:
            return _envelope(404, f"route not found: {path or '/'}")
        if method not in handlers:
            return _envelope(405, f"method {method} not allowed", headers={"Allow": ", ".join(handlers)})
        try:
            return handlers[method]()
        except _BadRequest as exc:
            return _envelope(400, str(exc))

    def _list(self) -> Response:
        return _envelope(200, "workflows retrieved successfully", [self._public(r) for r in self._records.values()])

    def _get(self, workflow_id: str) -> Response:
        if workflow_id not in self._records:
            return _envelope(404, "workflow not found")
        return _envelope(200, "workflow retrieved successfully", self._public(self._records[workflow_id]))

    def _create(self, body: bytes) -> Response:
        fields = self._fields(body)
        for required in ("name", "message"):
            if not fields.get(required):
                raise _BadRequest(f"{required} is required")
        now = _now_iso()
        record = {"id": str(uuid.uuid4()), "name": "", "description": "", "workflow_type": "ROBOCALL", "message": ""}
        record.update(fields)
        record.update(status="ACTIVE", owner_id=self._owner_id, created_at=now, updated_at=now)
        self._records[record["id"]] = record
        return _envelope(201, "workflow created successfully", self._public(record))

    def _update(self, workflow_id: str, body: bytes) -> Response:
        if workflow_id not in self._records:
            return _envelope(404, "workflow not found")
        fields = self._fields(body)
        for required in ("name", "message"):
            if required in fields and not fields[required]:
                raise _BadRequest(f"{required} must not be empty")
        record = self._records[workflow_id]
        record.update(fields, updated_at=_now_iso())
        return _envelope(200, "workflow updated successfully", self._public(record))

    def _delete(self, workflow_id: str) -> Response:
        if self._records.pop(workflow_id, None) is None:
            return _envelope(404, "workflow not found")
        return _envelope(200, "workflow deleted successfully", {})

    def _fields(self, body: bytes) -> dict[str, Any]:
        """The stored fields given in a request body, validated; unknown fields are dropped."""
        try:
            data = json.loads(body.decode("utf-8"))
        except (UnicodeDecodeError, ValueError):
            raise _BadRequest("invalid JSON body") from None
        if not isinstance(data, dict):
            raise _BadRequest("request body must be a JSON object")
        fields = {f: data[f] for f in STORED_FIELDS if f in data}
        if fields.get("description", "") is None:
            fields["description"] = ""  # a null description is the empty one
        for name in TEXT_FIELDS:
            if name in fields and not isinstance(fields[name], str):
                raise _BadRequest(f"{name} must be a string")
        if "include_reply" in fields and not isinstance(fields["include_reply"], bool):
            raise _BadRequest("include_reply must be a boolean")
        options = fields.get("response_options", {})
        if not isinstance(options, dict) or not all(isinstance(v, str) for v in options.values()):
            raise _BadRequest("response_options must be an object of strings")
        if "workflow_type" in fields and fields["workflow_type"] not in WORKFLOW_TYPES:
            raise _BadRequest("workflow_type must be ROBOCALL or CONVERSATION")
        if self.quirks:
            # The sloppy server trims what it stores, so a naive client sees a diff forever.
            for name in ("message", "description"):
                if name in fields:
                    fields[name] = fields[name].rstrip()
        if len(fields.get("message", "")) > MAX_MESSAGE_LENGTH:
            raise _BadRequest(f"message must not exceed {MAX_MESSAGE_LENGTH} characters")
        return fields

    def _public(self, record: dict[str, Any]) -> dict[str, Any]:
        out = dict(record)
        if self.quirks and not out.get("description"):
            out["description"] = None
        return out


# -- adapters ----------------------------------------------------------------


def make_wsgi_app(emulator: Emulator) -> Callable:
    """A WSGI app over ``emulator``, e.g. for ``httpx.WSGITransport(app=...)``."""

    def app(environ: dict, start_response: Callable) -> list[bytes]:
        length = int(environ.get("CONTENT_LENGTH") or 0)
        body = environ["wsgi.input"].read(length) if length else b""
        headers = {k[5:].replace("_", "-"): v for k, v in environ.items() if k.startswith("HTTP_")}
        if environ.get("CONTENT_TYPE"):
            headers["Content-Type"] = environ["CONTENT_TYPE"]
        response = emulator.handle(environ["REQUEST_METHOD"], environ.get("PATH_INFO", ""), headers, body)
        if response.drop:
            raise ConnectionAbortedError("connection dropped by emulator")
        status = f"{response.status} {http.HTTPStatus(response.status).phrase}"
        start_response(status, [*response.headers.items(), ("Content-Length", str(len(response.body)))])
        return [response.body]

    return app


class _Handler(BaseHTTPRequestHandler):
    """Feeds each HTTP/1.1 request to the server's emulator."""

    protocol_version = "HTTP/1.1"
    timeout = 10  # idle keep-alive connections must not pin a thread for ever
    disable_nagle_algorithm = True  # headers and body go out in two writes: no 40ms delayed-ACK stall
    emulator: Emulator  # set on the subclass that ``serve`` builds

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - quiet: the CLI decides what to print
        pass

    def _answer(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else b""
        response = self.emulator.handle(self.command, self.path, dict(self.headers.items()), body)
        if response.drop:
            # Act as a server that died after the write: no status line, just a closed socket.
            self.close_connection = True
            with contextlib.suppress(OSError):
                self.connection.shutdown(socket.SHUT_RDWR)
            self.connection.close()
            return
        self.send_response(response.status)
        for name, value in response.headers.items():
            self.send_header(name, value)
        self.send_header("Content-Length", str(len(response.body)))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(response.body)

    do_GET = do_POST = do_PUT = do_DELETE = do_PATCH = do_HEAD = do_OPTIONS = _answer


def serve(emulator: Emulator, host: str = "127.0.0.1", port: int = 0) -> ThreadingHTTPServer:
    """A bound (not yet serving) HTTP server for ``emulator``; call ``serve_forever`` on it."""
    handler = type("EmulatorHandler", (_Handler,), {"emulator": emulator})
    server = ThreadingHTTPServer((host, port), handler)
    server.daemon_threads = True
    return server


def _base_url(server: ThreadingHTTPServer) -> str:
    host, port = server.server_address[:2]
    host = f"[{host}]" if ":" in str(host) else host
    return f"http://{host}:{port}{PREFIX}"


@contextlib.contextmanager
def running(emulator: Emulator, host: str = "127.0.0.1", port: int = 0) -> Iterator[str]:
    """Serve ``emulator`` in a daemon thread; yields the base API URL (``http://H:P/voicebot/v1``)."""
    server = serve(emulator, host, port)
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.01}, daemon=True)
    thread.start()
    try:
        yield _base_url(server)
    finally:
        server.shutdown()
        server.server_close()
        thread.join()


def local_transport(state_file: str):
    """An ``httpx.WSGITransport`` over an auth-free, unlimited emulator persisted in ``state_file``."""
    import httpx  # only this adapter needs it

    os.makedirs(os.path.dirname(os.path.abspath(state_file)), exist_ok=True)
    return httpx.WSGITransport(app=make_wsgi_app(Emulator(data_file=state_file)))


def main_serve(
    host: str = "127.0.0.1",
    port: int = 8080,
    api_keys: list[str] | None = None,
    data_file: str | None = None,
    rate_limit: str | list[tuple[int, float]] | None = None,
    **faults: Any,
) -> int:
    """Serve until Ctrl-C (the CLI's ``emulator`` command); returns the exit code 0."""
    from .durations import format_window, parse_rate_limit

    windows = parse_rate_limit(rate_limit) if isinstance(rate_limit, str) or rate_limit is None else list(rate_limit)
    emulator = Emulator(api_keys=api_keys, rate_limit=windows, data_file=data_file, **faults)
    server = serve(emulator, host, port)
    spec = ",".join(format_window(w) for w in emulator.windows) or "off"
    # The keys are secrets: say how many there are, never which.
    print(
        f"voicebot-sync emulator listening on {_base_url(server)} "
        f"(keys: {len(emulator.api_keys)}, rate limit: {spec}, data: {data_file or 'memory'})",
        flush=True,
    )
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        server.server_close()
    return 0
