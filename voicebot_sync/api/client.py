"""VoicebotClient: the five workflow endpoints over httpx, behind the rate limiter.

This is the border: httpx errors and HTTP statuses become the typed errors of
``errors.py`` here, in one place, and nothing above sees an httpx exception.
Every request, retries included, takes a slot from the rate limiter first. A 429
is waited out and repeated (the server did not act). Reads are also retried on
transient faults; writes are not, because only the executor knows how to check
whether a write whose answer was lost took effect.
"""

from __future__ import annotations

import socket
import ssl
import time
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any, Callable, Iterator

import httpx

from .. import __version__
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
from ..core.schedule import format_seconds
from .answers import WORKFLOWS, check_workflow, entered, parse_retry_after, server_message, unwrap, workflow_path
from .ratelimit import RateLimiter
from .retry import RetryPolicy, backoff_reason, refused_429


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
            return entered(streamed, b"".join(chunks))

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
            return unwrap(response, method, path)
        message = server_message(response)
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
