"""VoicebotClient: the five workflow endpoints over httpx, behind the rate limiter.

This is the border: httpx errors and HTTP statuses become the typed errors of
``errors.py`` here, in one place, and nothing above sees an httpx exception.
Every request, retries included, takes a slot from the rate limiter first. A 429
is waited out and repeated (the server did not act). Reads are also retried on
transient faults; writes are not, because only the executor knows how to check
whether a write whose answer was lost took effect.
"""

from __future__ import annotations

import email.utils
import math
import re
import socket
import ssl
import time
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any, Callable, Iterator

import httpx

from .. import __version__
from urllib.parse import quote

from ..errors import (
    AnswerLost,
    ApiError,
    AuthError,
    ConnectionFailed,
    NotFound,
    RateLimited,
    RequestRejected,
    ServerError,
    UnexpectedAnswer,
    Unreachable,
)
from ..text.escaping import short
from ..text.redaction import answer_needs_walk, redact, redact_answer, redact_value
from ..text.safejson import TooDeep, loads
from ..core.schedule import format_seconds
from .ratelimit import RateLimiter
from .retry import RetryPolicy, backoff_reason, refused_429

WORKFLOWS = "/workflows"


@dataclass
class RequestRecord:
    """One request as sent: for -v, --log-file and the run report (never the key)."""

    method: str
    path: str
    status: int | None
    attempt: int
    seconds: float
    error: str | None = None
    at: float = 0.0


_DELTA_SECONDS = re.compile(r"[0-9]{1,16}(?:\.[0-9]{1,6})?")


def parse_retry_after(value: str | None, now: float | None = None) -> float | None:
    """``Retry-After`` in seconds, read as RFC 9110 says: delta-seconds (ASCII digits; a decimal
    fraction is tolerated, as some servers send one) or an HTTP date. Anything else (``1e3``, ``-5``,
    ``inf``, ``0x10``, ``+5``) is no answer; the caller caps what it waits."""
    if not value:
        return None
    value = value.strip()
    if _DELTA_SECONDS.fullmatch(value):
        return float(value[:16])  # sixteen characters is already far past any cap
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError, IndexError, OverflowError):
        return None
    if when is None or when.tzinfo is None:
        return None
    try:
        return max(when.timestamp() - (time.time() if now is None else now), 0.0)
    except (OverflowError, OSError, ValueError):
        return None


def _server_message(response: httpx.Response) -> str:
    """The server's own words when it gave any (one line, bounded); the reason phrase otherwise."""
    try:
        body = loads(response.content)
    except ValueError:
        if _looks_like_html(response):
            return f"an HTML page, not the API's JSON ({response.reason_phrase or 'no reason'})"
        return _first_line(response.text, 200) or response.reason_phrase
    if isinstance(body, dict):
        for key in ("message", "error", "detail"):
            if isinstance(body.get(key), str) and body[key]:
                return _first_line(body[key]) or response.reason_phrase
    return response.reason_phrase or "error"


def _first_line(text: Any, limit: int = 500) -> str | None:
    """The first line of a server's text, bounded (cut only once redacted); None when it has none."""
    if not isinstance(text, str):
        return None
    text = redact(text).strip()  # a message, not data: Authorization echoes and URL credentials go too
    return text.splitlines()[0][:limit] if text else None


def _looks_like_html(response: httpx.Response) -> bool:
    kind = response.headers.get("Content-Type", "").lower()
    return "html" in kind or response.content.lstrip()[:15].lower().startswith((b"<!doctype", b"<html"))


WRITES = ("POST", "PUT", "DELETE")

# Keys in a list answer that say there is more than this answer holds (pages.py follows them; doctor names them).
PAGINATION_KEYS = ("next", "next_page", "nextPage", "links", "pages", "page", "cursor", "next_cursor", "has_more")


def _unwrap(response: httpx.Response, method: str, path: str) -> tuple[Any, dict[str, Any] | None]:
    """The ``data`` of the envelope (or a bare list), and the envelope itself.

    Read strictly: an answer that is not JSON, an envelope whose ``status`` is not
    ``Ok``, or an object without ``data`` is an error, never an empty default."""
    if not response.content:
        if method in ("PUT", "DELETE"):
            return None, None  # nothing to read: the status said it all
        raise UnexpectedAnswer("the answer is empty", status=response.status_code, method=method, path=path)
    try:
        body = loads(response.content)
    except TooDeep as exc:
        raise UnexpectedAnswer(str(exc), status=response.status_code, method=method, path=path) from None
    except ValueError as exc:
        what = "an HTML page (a login page or a proxy?)" if _looks_like_html(response) else "not JSON"
        raise UnexpectedAnswer(f"the answer is {what}; check --api-url", status=response.status_code,
                               method=method, path=path) from exc
    if answer_needs_walk(response.content):
        body = redact_value(body)
    if isinstance(body, list):
        return body, None  # api-notes.md: a plain list is accepted for the list
    if not isinstance(body, dict):
        raise UnexpectedAnswer(f"the answer is a JSON {type(body).__name__}, not the API's envelope",
                               status=response.status_code, method=method, path=path)
    status = body.get("status")
    if status is not None and str(status).lower() != "ok":
        said = f"the answer says {short(status)}: {_envelope_message(body)}"
        if method in WRITES:
            # contract.md section 4: a write the server answers with a status that is not Ok is
            # refused, like a 4xx: final, never repeated (a list between tries spent the budget).
            raise RequestRejected(said, status=response.status_code, method=method, path=path)
        # A read is safe to repeat: retried like a 5xx, never taken for an empty remote.
        raise ServerError(said, status=response.status_code, method=method, path=path)
    if "data" not in body:
        raise UnexpectedAnswer("the answer has no 'data'", status=response.status_code, method=method, path=path)
    return body["data"], body


def _envelope_message(body: dict[str, Any]) -> str:
    return _first_line(body.get("message")) or "no message"


def _check_list(data: Any, envelope: dict[str, Any] | None, method: str, path: str) -> list[dict[str, Any]]:
    """One page of the list, or an error: never a misread list (``pages.py`` follows and checks the pages)."""
    if not isinstance(data, list):
        raise UnexpectedAnswer(f"the workflow list's 'data' is a JSON {type(data).__name__}, not a list",
                               method=method, path=path)
    for index, item in enumerate(data):
        check_workflow(item, f"workflow #{index + 1} of the list", method, path)
    return data


def check_workflow(item: Any, what: str, method: str, path: str) -> dict[str, Any]:
    """A workflow as the reference describes it: id, name, message and type present and text."""
    if not isinstance(item, dict):
        raise UnexpectedAnswer(f"{what} is a JSON {type(item).__name__}, not a workflow", method=method, path=path)
    wid = item.get("id")
    if isinstance(wid, bool) or not isinstance(wid, (str, int)) or str(wid) == "":
        raise UnexpectedAnswer(f"{what} has no id", method=method, path=path)
    label = f"{what} (id {short(wid)})"
    for key in ("name", "message", "workflow_type"):
        if not isinstance(item.get(key), str):
            state = "is missing" if key not in item else f"is {short(item.get(key))}, not text"
            raise UnexpectedAnswer(f"{label}: '{key}' {state}; refusing to plan against it", method=method, path=path)
    return item


def workflow_path(workflow_id: Any) -> str:
    """The path of one workflow: its id is exactly one URL path segment.

    Everything but unreserved characters is percent-encoded, and ids that a URL
    would resolve away (``.``, ``..``, empty) are refused, so no id can change
    the path, the query or the fragment."""
    if workflow_id is None or isinstance(workflow_id, bool) or not isinstance(workflow_id, (str, int)):
        raise UnexpectedAnswer(f"invalid workflow id {short(workflow_id)}")
    text = str(workflow_id)
    if text in ("", ".", "..") or text.lower() == "none":
        raise UnexpectedAnswer(f"invalid workflow id {short(text)}: not one path segment")
    try:
        segment = quote(text, safe="")
    except UnicodeEncodeError:
        # A lone surrogate (JSON "\ud800") names no resource we can spell: this operation fails, not the run.
        raise RequestRejected(f"invalid workflow id {short(text)}: not valid Unicode, so it cannot be addressed; "
                              "change it in the provider's dashboard") from None
    return f"{WORKFLOWS}/{segment}"


MAX_ANSWER_BYTES = 64 * 1024 * 1024  # a list of 10,000 workflows is about 5 MB


class VoicebotClient:
    """The workflow API; ``transport`` and ``limiter`` are injected (tests, emulator, local mode)."""

    def __init__(
        self,
        base_url: str,
        api_key: str | None,
        *,
        transport: httpx.BaseTransport | None = None,
        limiter: RateLimiter | None = None,
        retry: RetryPolicy | None = None,
        timeout: float = 30.0,
        on_request: Callable[[RequestRecord], None] | None = None,
        on_retry: Callable[[str, float], None] | None = None,
        trust_env: bool = True,
        key_source: str = "VOICEBOT_API_KEY",
    ):
        self.base_url = base_url.rstrip("/")
        self.key_source = key_source  # where the key came from: what a 401 tells the user to check
        headers = {"User-Agent": f"voicebot-sync/{__version__}", "Accept": "application/json"}
        if api_key:
            headers["Authorization"] = f"Bearer {api_key}"
        # Every request has a total deadline (connect plus every read): a server
        # that trickles its answer a byte at a time cannot hold a run for ever.
        self.timeout = timeout
        self._http = httpx.Client(
            base_url=self.base_url, headers=headers, transport=transport, timeout=timeout,
            follow_redirects=False, trust_env=trust_env,
        )
        self.limiter = limiter or RateLimiter([])
        self.retry = retry or RetryPolicy()
        self.on_request = on_request
        self.on_retry = on_retry
        self.sent = 0
        self.answered = 0
        self.rate_limited = 0
        self.retries = 0
        # The last answer and its time (pagination headers, doctor), and how the last list came.
        self.last_response: httpx.Response | None = None
        self.last_seconds = 0.0
        self.last_list = None

    def close(self) -> None:
        self._http.close()

    def __enter__(self) -> "VoicebotClient":
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    # -- the endpoints -----------------------------------------------------------

    def list_workflows(self) -> list[dict[str, Any]]:
        """The whole list, every page of it (``pages.py``); ``last_list`` says how it came."""
        from .pages import read_list

        self.last_list = read_list(self)
        return self.last_list.workflows

    @property
    def list_pages(self) -> int:
        """Requests the last list took (its pages): the plan counts them."""
        return self.last_list.pages if self.last_list is not None else 1

    def get_workflow(self, workflow_id: str) -> dict[str, Any]:
        path = workflow_path(workflow_id)
        data, _ = self._read("GET", path)
        return check_workflow(data, "the workflow", "GET", path)

    def create_workflow(self, fields: dict[str, Any]) -> dict[str, Any]:
        """One attempt (plus 429 waits); on a lost answer the caller must look before retrying."""
        data, _ = self.send("POST", WORKFLOWS, json=fields)
        if not isinstance(data, dict) or isinstance(data.get("id"), bool) or data.get("id") in (None, ""):
            # The server acted (2xx) but did not say which id: the caller finds it in the list.
            raise ServerError("the answer to the create holds no workflow id", method="POST", path=WORKFLOWS)
        workflow_path(data["id"])  # an id we could never address is no id
        return data

    def update_workflow(self, workflow_id: str, fields: dict[str, Any]) -> dict[str, Any]:
        data, _ = self.send("PUT", workflow_path(workflow_id), json=fields)
        # Some servers answer an update without the record; the caller knows what it sent.
        return data if isinstance(data, dict) and data else {"id": workflow_id, **fields}

    def delete_workflow(self, workflow_id: str) -> None:
        self.send("DELETE", workflow_path(workflow_id))

    # -- machinery ---------------------------------------------------------------

    def _read(self, method: str, path: str) -> tuple[Any, dict[str, Any] | None]:
        """A read is safe to repeat: retry transient faults with backoff."""
        attempt = 0
        while True:
            try:
                return self.send(method, path, attempt=attempt + 1)
            except (ServerError, ConnectionFailed) as exc:
                attempt += 1
                if attempt > self.retry.max_retries:
                    raise
                self.backoff(attempt, exc)

    def backoff(self, attempt: int, exc: Exception) -> None:
        """Count a retry and hold every request back for the backoff (through the limiter's clock)."""
        self.retries += 1
        wait = self.retry.backoff(attempt)
        if self.on_retry:
            self.on_retry(f"{exc}; retry {attempt} of {self.retry.max_retries}", wait)
        self.limiter.block_for(wait, backoff_reason(exc))

    def send(self, method: str, path: str, *, json: Any = None, attempt: int = 1) -> tuple[Any, dict[str, Any] | None]:
        """One logical request: waits for the rate limit, waits out 429s, translates errors."""
        limited = 0
        waited = 0.0  # on 429s, for RetryPolicy.max_wait
        while True:
            self.limiter.acquire()
            self.sent += 1
            started = self.limiter.clock()
            response = None
            error = None
            try:
                with self._translated(method, path):
                    response = self._exchange(method, path, json)
            except ApiError as exc:
                error = str(exc)
                raise
            finally:
                self.limiter.settle()
                self.last_seconds = self.limiter.clock() - started
                if self.on_request:
                    self.on_request(
                        RequestRecord(
                            method, path, response.status_code if response is not None else None,
                            attempt + limited, self.last_seconds, error, time.time(),
                        )
                    )
            self.answered += 1
            self.last_response = response
            if response.status_code == 429:
                self.rate_limited += 1
                limited += 1
                retry_after = parse_retry_after(response.headers.get("Retry-After"))
                if limited > self.retry.max_rate_limited:
                    raise RateLimited(f"still rate limited after {limited} tries: "
                                      + refused_429(limited, waited, retry_after),
                                      retry_after=retry_after, method=method, path=path)
                waited += self._wait_out_429(retry_after, limited, method, path, waited)
                continue
            return self._check(response, method, path)

    def _exchange(self, method: str, path: str, json: Any) -> httpx.Response:
        """Send, and read the whole answer within the total deadline and the size bound."""
        deadline = time.monotonic() + self.timeout
        with self._http.stream(method, path, json=json) as streamed:
            chunks = []
            size = 0
            for chunk in streamed.iter_bytes():
                chunks.append(chunk)
                size += len(chunk)
                if size > MAX_ANSWER_BYTES:
                    raise UnexpectedAnswer(f"the answer is over {MAX_ANSWER_BYTES} bytes", status=streamed.status_code,
                                           method=method, path=path)
                if time.monotonic() > deadline:
                    raise httpx.ReadTimeout(f"the answer took longer than {self.timeout:g}s in total")
            return _entered(streamed, b"".join(chunks))

    def _wait_out_429(self, retry_after: float | None, limited: int, method: str, path: str,
                      waited: float = 0.0) -> float:
        """Wait as a 429 asks (or as our own windows suggest); the seconds waited."""
        if retry_after is not None:
            if retry_after > self.retry.max_retry_after:
                raise RateLimited(
                    f"the server asks to wait {format_seconds(retry_after)} (Retry-After), over the "
                    f"{format_seconds(self.retry.max_retry_after)} this tool waits; try again later",
                    retry_after=retry_after, method=method, path=path)
            wait, why = retry_after, "server said 429 Retry-After"
        else:
            # No hint: the window our own log shows full, else a backoff sized to the shortest window.
            own = self.limiter.full_window_wait()
            if own is None:
                shortest = min((length / count for count, length in self.limiter.windows), default=1.0)
                own = min(shortest * (2 ** (limited - 1)), self.retry.cap)
            wait, why = own, "server said 429"
        budget = self.retry.max_wait
        if budget is not None and waited + wait > budget:
            raise RateLimited(f"{refused_429(limited, waited, retry_after)}; gave up rather than wait past "
                              f"{format_seconds(budget)} in all (--max-wait); try again later",
                              retry_after=retry_after, method=method, path=path)
        self.limiter.block_for(wait, why)
        return wait

    @contextmanager
    def _translated(self, method: str, path: str) -> Iterator[None]:
        """httpx's errors become ours: never reached (not retried), nothing sent, or the answer lost."""
        where = f"{self.base_url}"
        try:
            yield
        except (httpx.LocalProtocolError, httpx.UnsupportedProtocol, httpx.InvalidURL, UnicodeError) as exc:
            # The request could not even be written: repeating it cannot help.
            raise Unreachable(f"cannot send to {where}: the request was refused before it left ({type(exc).__name__})",
                              method=method, path=path) from exc
        except (httpx.ConnectError, httpx.ConnectTimeout, httpx.PoolTimeout) as exc:
            permanent = _permanent_connect_failure(exc, first_contact=self.answered == 0)
            if permanent:
                raise Unreachable(f"cannot reach {where}: {permanent}; check --api-url and the network",
                                  method=method, path=path) from exc
            raise ConnectionFailed(
                f"cannot reach {where}: {_reason(exc)}; check --api-url and the network", method=method, path=path
            ) from exc
        except (httpx.HTTPError, ConnectionError, OSError) as exc:
            # The request may have reached the server: its effect is unknown.
            raise AnswerLost(f"no answer from {where}: {_reason(exc)}", method=method, path=path) from exc

    def _check(self, response: httpx.Response, method: str, path: str) -> tuple[Any, dict[str, Any] | None]:
        status = response.status_code
        if 200 <= status < 300:
            return _unwrap(response, method, path)
        message = _server_message(response)
        kw = dict(status=status, method=method, path=path)
        if status in (401, 403):
            hint = "the API key is missing or wrong" if status == 401 else "the API key may not do this"
            raise AuthError(f"{message} ({hint}: check {self.key_source})", **kw)
        if status == 404:
            raise NotFound(message, **kw)
        if status >= 500 or status == 408:
            # 408: the server gave up waiting for the request; like a 5xx, its effect is checked, not assumed.
            raise ServerError(message, **kw)
        if 300 <= status < 400:
            raise UnexpectedAnswer(f"unexpected redirect to {short(response.headers.get('Location', '?'), 80)}", **kw)
        if status < 200:
            raise UnexpectedAnswer(f"unexpected status {status}", **kw)
        raise RequestRejected(message, **kw)


def _entered(streamed: httpx.Response, content: bytes) -> httpx.Response:
    """The answer as the rest of the tool may see it: every registered secret already removed from its
    body and headers, before anything decodes, escapes, serialises or cuts it (a server that echoes the
    key in a name or in a 401 message cannot get it out in any form)."""
    headers = [(k, redact(v, generic=False)) for k, v in streamed.headers.items()]
    text = content.decode("utf-8", "surrogateescape")
    safe = redact_answer(text)
    if safe is not text:
        content = safe.encode("utf-8", "surrogateescape")
    return httpx.Response(streamed.status_code, headers=headers, content=content, request=streamed.request)


def _permanent_connect_failure(exc: BaseException, *, first_contact: bool) -> str | None:
    """Why a connection failure will not go away by itself, or None when it may."""
    chain = []
    seen: BaseException | None = exc
    while seen is not None and len(chain) < 10:
        chain.append(seen)
        seen = seen.__cause__ or seen.__context__
    text = " ".join(str(e) for e in chain).lower()
    if any(isinstance(e, ssl.SSLError) for e in chain) or "certificate" in text or "ssl" in text:
        return "TLS failed (certificate or protocol)"
    if any(isinstance(e, socket.gaierror) for e in chain) or any(
        marker in text for marker in ("name or service not known", "nodename nor servname", "getaddrinfo failed",
                                      "no address associated", "temporary failure in name resolution",
                                      "name does not resolve")):
        return "the host name does not resolve"
    if first_contact and ("refused" in text or any(isinstance(e, ConnectionRefusedError) for e in chain)):
        return "the connection was refused (is the server running, is the port right?)"
    return None


def _reason(exc: BaseException) -> str:
    text = str(exc).strip()
    return text.splitlines()[0][:200] if text else type(exc).__name__
