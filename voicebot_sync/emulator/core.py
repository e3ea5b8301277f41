"""A faithful local Voicebot workflow API, for tests, demos and offline CI.

It serves the five documented workflow endpoints with the same envelope,
messages, Bearer authentication and sliding-window quota as the real service,
and can misbehave on purpose (trailing-whitespace quirks, 5xx, answers lost
after a write, "Error" envelopes on 200, pagination, eventual consistency,
endless 429s, trickled bodies, echoed keys, captive-portal HTML, other list
shapes, missing fields: see ``Emulator`` and ``FAULT_OPTIONS``) so that the
client's strictness and recovery paths are exercised. It shares nothing with
``client.py`` but the wire format, so each checks the other.

Use it in-process (``make_wsgi_app`` with ``httpx.WSGITransport``), on a port
(``serve``/``running``), or as the ``--api-url local`` backend (``local_transport``).
"""

from __future__ import annotations

import contextlib
import copy
import hmac
import json
import os
import random
import re
import tempfile
import threading
import time
import uuid
from typing import Any, Callable, Iterable, Iterator, Mapping

from filelock import FileLock

from .endpoints import Endpoints
from .options import LIST_SHAPES, NAME_FORMS, PAGINATION_STYLES, RETRY_AFTER_FORMATS
from .quota import Quota, retry_headers
from .wire import (  # noqa: F401 - PREFIX, Response: part of the core's API
    COLLECTION,
    LOGIN_PAGE,
    PREFIX,
    Response,
    envelope as _envelope,
    now_iso as _now_iso,
)

ANONYMOUS = "(no auth)"  # the rate-limit log's key when auth is off


class Emulator(Endpoints):
    """The Voicebot workflow API's state and rules; ``handle`` answers one request.

    The API itself:

    ``api_keys``
        Accepted Bearer keys; none means no authentication.
    ``rate_limit``
        Sliding windows ``[(count, seconds), ...]`` enforced per key (429 when full).
    ``data_file``
        Persist the workflows in this JSON file (loaded at start, saved atomically after each write).
    ``shared_file``
        With ``data_file``: several emulators (processes) share the file safely. Each request holds a
        cross-process lock (``data_file + ".lock"``), reloads the state from the file first and saves
        before releasing it, so no process loses another's writes. ``local_transport`` turns it on.
    ``clock``
        The monotonic clock for the quota and ``list_lag`` (tests pass a fake one).

    Faults and quirks, all off by default (``FAULT_OPTIONS`` lists them for the CLI):

    ``quirks``
        Stored message/description lose trailing whitespace; an empty description is returned as null.
    ``retry_after``
        How a 429 says when to retry: ``"seconds"`` (``Retry-After: N``), ``"http-date"``, or ``"none"``.
    ``fault_5xx``
        Share (0..1) of authenticated, in-quota requests answered 500 without acting.
    ``fault_drop_after_write``
        Share of successful writes carried out (and saved), then answered with nothing: the
        connection is cut (over WSGI, ``ConnectionAbortedError`` is raised).
    ``fault_status_error``
        Share of successful (2xx) answers replaced by HTTP **200** with ``{"status": "Error",
        "message": "internal inconsistency", "data": ...}`` (``[]`` for the list, ``{}`` otherwise).
        A write so answered is not carried out (the state is rolled back, nothing is saved).
    ``fault_seed``
        Seed of the random generator behind the three shares above.
    ``page_size``
        Paginate the list: ``data`` holds at most ``page_size`` workflows and the envelope gains
        ``"next"`` (absolute URL of the next page on the request's Host, ``.../workflows?page=N``,
        or null on the last page), ``"page"``, ``"pages"`` and ``"total"``; ``GET /workflows?page=N``
        serves page N (1-based; past the end: an empty page; not a positive integer: 400). A
        ``Link: <next>; rel="next"`` header is sent too (the only pointer a ``"bare"`` list has).
    ``pagination``
        How pages point onward: ``"next"`` (the above), ``"page"`` (only ``page``/``pages``/``total``:
        the client asks for ``?page=N+1`` itself) or ``"cursor"`` (``next_cursor``, null on the last page, and
        ``has_more``; ``?cursor=C`` serves the page after C; an unknown cursor: 400). Bare lists: Link only.
    ``list_lag``
        Seconds (by ``clock``) a workflow created through POST stays missing from the list;
        GET by id, PUT and DELETE see it at once.
    ``always_429``
        Every request (before authentication) is answered 429, with ``Retry-After`` of 1 second
        in the ``retry_after`` format.
    ``trickle``
        Over real HTTP only (``serve``/``running``): headers are sent at once, then the body one byte
        every ``trickle`` seconds. Trickling stops when the socket fails or the server shuts down.
    ``echo_auth_on_401``
        A 401's message is ``"invalid key: <the Authorization header as received>"`` when one was sent.
    ``html_answers``
        Every request is answered 200 ``text/html`` with a login page (a captive portal); nothing is done.
    ``list_shape``
        ``"envelope"`` (documented), ``"bare"`` (the list answer is a bare JSON array) or ``"nested"``
        (``{"status": "Ok", "message": ..., "data": {"warnings": [], "workflows": [...]}}``).
    ``omit_fields``
        Field names left out of every workflow in list and get answers (a tuple, or one
        comma-separated string), e.g. ``("message",)``. Optional fields named here (``include_reply``,
        ``response_options``, ``call_back_url``) are not kept at all, as a server of an older API
        version does: dropped from every request body silently, so no answer has them.
    ``null_name``
        Workflow names are returned as null in list and get answers.
    ``echo_key``
        The list gains a workflow (id ``echo``) whose name and message hold the caller's Bearer token,
        and a 401's message is 600 characters of padding followed by the token it received.
    ``get_lag``
        With ``list_lag``: GET by id of a workflow younger than the lag answers 404 as well.
    ``normalise_names``
        ``"exact"`` (stored as sent), ``"nfc"`` (Unicode NFC), ``"spaces"`` (runs of white space
        collapsed to one space, trimmed) or ``"nfc-spaces"`` (both), on create and update.
    ``merge_slashes``
        Repeated slashes in a request path are merged before routing, as nginx does by default.

    Create and update answers are not touched by ``omit_fields``/``null_name`` (but optional fields
    named in ``omit_fields`` are never kept); the 1000-character message rule holds whatever the options.
    """

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
        fault_status_error: float = 0.0,
        page_size: int | None = None,
        pagination: str = "next",
        list_lag: float = 0.0,
        always_429: bool = False,
        trickle: float = 0.0,
        echo_auth_on_401: bool = False,
        html_answers: bool = False,
        list_shape: str = "envelope",
        omit_fields: Iterable[str] | str = (),
        null_name: bool = False,
        shared_file: bool = False,
        echo_key: bool = False,
        get_lag: bool = False,
        normalise_names: str = "exact",
        merge_slashes: bool = False,
    ):
        if normalise_names not in NAME_FORMS:
            raise ValueError(f"normalise_names must be one of {', '.join(NAME_FORMS)}, not {normalise_names!r}")
        self.echo_key = echo_key
        self.get_lag = get_lag
        self.normalise_names = normalise_names
        self.merge_slashes = merge_slashes
        self._token = ""
        if retry_after not in RETRY_AFTER_FORMATS:
            raise ValueError(f"retry_after must be seconds, http-date or none, not {retry_after!r}")
        if list_shape not in LIST_SHAPES:
            raise ValueError(f"list_shape must be envelope, bare or nested, not {list_shape!r}")
        if pagination not in PAGINATION_STYLES:
            raise ValueError(f"pagination must be next, page or cursor, not {pagination!r}")
        if page_size is not None and page_size < 1:
            raise ValueError(f"page_size must be at least 1, not {page_size!r}")
        if list_lag < 0 or trickle < 0:
            raise ValueError("list_lag and trickle must not be negative")
        if shared_file and not data_file:
            raise ValueError("shared_file needs a data_file")
        if isinstance(omit_fields, str):
            omit_fields = [f for f in omit_fields.split(",")]
        self.fault_status_error = fault_status_error
        self.page_size = page_size
        self.pagination = pagination
        self.list_lag = list_lag
        self.always_429 = always_429
        self.trickle = trickle
        self.echo_auth_on_401 = echo_auth_on_401
        self.html_answers = html_answers
        self.list_shape = list_shape
        self.omit_fields = tuple(f.strip() for f in omit_fields if f.strip())
        self.null_name = null_name
        self.shared_file = shared_file
        self._file_lock = FileLock(data_file + ".lock") if shared_file else None
        self._born: dict[str, float] = {}  # workflow id -> clock() at creation, for list_lag
        self.api_keys = list(api_keys or [])
        self.quota = Quota(rate_limit)
        self.windows = self.quota.windows  # the server prints them
        self.data_file = data_file
        self.clock = clock
        self.quirks = quirks
        self.retry_after = retry_after
        self.fault_5xx = fault_5xx
        self.fault_drop_after_write = fault_drop_after_write
        self._rng = random.Random(fault_seed)
        self._lock = threading.RLock()
        self._records: dict[str, dict[str, Any]] = {}
        self._owner_id = str(uuid.uuid4())
        self._stats = {"requests": 0, "rate_limited": 0, "by_key": {}, "writes": 0, "dropped": 0, "faults": 0}
        if data_file and os.path.exists(data_file):
            self._load()

    # -- state ---------------------------------------------------------------

    @property
    def workflows(self) -> list[dict]:
        """The stored workflows, in creation order (copies)."""
        with self._lock, self._shared_state():
            return [json.loads(json.dumps(r)) for r in self._records.values()]

    @property
    def stats(self) -> dict:
        """Counters: requests, rate_limited, by_key (requests per authenticated key), writes, dropped, faults."""
        with self._lock:
            return {**self._stats, "by_key": dict(self._stats["by_key"])}

    def add_workflow(self, **fields: Any) -> dict:
        """Store a workflow directly, bypassing HTTP and validation (test set-up); listed at once."""
        with self._lock, self._shared_state():
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

    @contextlib.contextmanager
    def _shared_state(self) -> Iterator[None]:
        """With ``shared_file``: hold the cross-process lock and start from the file's state."""
        if self._file_lock is None:
            yield
            return
        with self._file_lock:
            # Always reload: the file is small, and mtime/size can miss a same-size write in the same tick.
            if os.path.exists(self.data_file):
                self._load()
            yield

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
        with self._lock, self._shared_state():
            self._stats["requests"] += 1
            lower = {k.lower(): v for k, v in headers.items()}
            refused = self._gate(lower)
            if refused is not None:
                return refused
            method = method.upper()
            route, _, query = path.partition("?")
            if self.merge_slashes:
                route = re.sub(r"/{2,}", "/", route)
            writing = method in ("POST", "PUT", "DELETE")
            before = None
            if self.fault_status_error and writing:
                before = (copy.deepcopy(self._records), dict(self._born))
            response = self._route(method, route, body or b"", query=query, host=lower.get("host", ""))
            if 200 <= response.status < 300 and self.fault_status_error and self._rng.random() < self.fault_status_error:
                if before is not None:
                    self._records, self._born = before  # the write is not carried out
                self._stats["faults"] += 1
                listing = method == "GET" and route.rstrip("/") == COLLECTION
                return _envelope(200, "internal inconsistency", [] if listing else {}, ok=False)
            if writing and response.status < 300:
                return self._written(response)
            return response

    def _gate(self, lower: Mapping[str, str]) -> Response | None:
        """What answers before the API itself: a captive portal, endless 429s, auth, the quota, a 5xx."""
        if self.html_answers:
            # A captive portal answers in the API's place; the request never reaches it.
            self._stats["faults"] += 1
            return Response(200, {"Content-Type": "text/html; charset=utf-8"}, LOGIN_PAGE)
        if self.always_429:
            self._stats["rate_limited"] += 1
            return _envelope(429, "rate limit exceeded", headers=retry_headers(1.0, self.retry_after))
        key = self._authenticate(lower.get("authorization", ""))
        self._token = lower.get("authorization", "").partition(" ")[2].strip()
        if key is None:
            message = "invalid or missing API key"
            if self.echo_auth_on_401 and "authorization" in lower:
                message = f"invalid key: {lower['authorization']}"
            if self.echo_key and self._token:
                message = "invalid key " + "." * 600 + " " + self._token
            return _envelope(401, message, headers={"WWW-Authenticate": "Bearer"})
        if self.api_keys:
            self._stats["by_key"][key] = self._stats["by_key"].get(key, 0) + 1
        limited = self._check_quota(key)
        if limited is not None:
            self._stats["rate_limited"] += 1
            return limited
        if self.fault_5xx and self._rng.random() < self.fault_5xx:
            self._stats["faults"] += 1
            return _envelope(500, "internal error")
        return None

    def _written(self, response: Response) -> Response:
        """A write that took effect: saved, then maybe its answer dropped (fault_drop_after_write)."""
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
        refused = self.quota.refuse(key, self.clock())
        if refused is None:
            return None
        wait, (count, length) = refused
        return _envelope(429, f"rate limit exceeded: {count} requests per {length:g}s",
                         headers=retry_headers(wait, self.retry_after))
