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
import time
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any, Callable, Iterator

import httpx

from . import __version__
from .errors import (
    AnswerLost,
    ApiError,
    AuthError,
    ConnectionFailed,
    NotFound,
    RateLimited,
    RequestRejected,
    ServerError,
)
from .ratelimit import RateLimiter
from .retry import RetryPolicy

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


def parse_retry_after(value: str | None, now: float | None = None) -> float | None:
    """``Retry-After`` in seconds, from either form (delta-seconds or an HTTP date)."""
    if not value:
        return None
    value = value.strip()
    try:
        return max(float(value), 0.0)
    except ValueError:
        pass
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if when is None:
        return None
    return max(when.timestamp() - (time.time() if now is None else now), 0.0)


def _server_message(response: httpx.Response) -> str:
    """The server's own words when it gave any; the reason phrase otherwise."""
    try:
        body = response.json()
    except ValueError:
        text = response.text.strip().splitlines()
        return text[0][:200] if text else response.reason_phrase
    if isinstance(body, dict):
        for key in ("message", "error", "detail"):
            if isinstance(body.get(key), str) and body[key]:
                return body[key]
    return response.reason_phrase or "error"


def _unwrap(response: httpx.Response) -> Any:
    """The ``data`` of the envelope, or the whole body when there is no envelope."""
    if not response.content:
        return None
    try:
        body = response.json()
    except ValueError as exc:
        raise ServerError(f"answer is not JSON: {response.text[:80]!r}", status=response.status_code) from exc
    if isinstance(body, dict) and "data" in body:
        return body["data"]
    return body


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
    ):
        self.base_url = base_url.rstrip("/")
        headers = {"User-Agent": f"voicebot-sync/{__version__}", "Accept": "application/json"}
        if api_key:
            headers["Authorization"] = f"Bearer {api_key}"
        self._http = httpx.Client(
            base_url=self.base_url, headers=headers, transport=transport, timeout=timeout, follow_redirects=False
        )
        self.limiter = limiter or RateLimiter([])
        self.retry = retry or RetryPolicy()
        self.on_request = on_request
        self.on_retry = on_retry
        self.sent = 0
        self.rate_limited = 0
        self.retries = 0

    def close(self) -> None:
        self._http.close()

    def __enter__(self) -> "VoicebotClient":
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    # -- the endpoints -----------------------------------------------------------

    def list_workflows(self) -> list[dict[str, Any]]:
        data = self._read("GET", WORKFLOWS)
        if isinstance(data, dict):
            # Tolerate a paginated or keyed shape: the first list inside it.
            data = next((v for v in data.values() if isinstance(v, list)), None)
        if not isinstance(data, list) or not all(isinstance(w, dict) and w.get("id") for w in data):
            raise ServerError("the workflow list is not a list of workflows with ids", method="GET", path=WORKFLOWS)
        return data

    def get_workflow(self, workflow_id: str) -> dict[str, Any]:
        return self._expect_workflow(self._read("GET", f"{WORKFLOWS}/{workflow_id}"), "GET")

    def create_workflow(self, fields: dict[str, Any]) -> dict[str, Any]:
        """One attempt (plus 429 waits); on a lost answer the caller must look before retrying."""
        return self._expect_workflow(self.send("POST", WORKFLOWS, json=fields), "POST")

    def update_workflow(self, workflow_id: str, fields: dict[str, Any]) -> dict[str, Any]:
        data = self.send("PUT", f"{WORKFLOWS}/{workflow_id}", json=fields)
        # Some servers answer an update without the record; the caller knows what it sent.
        return data if isinstance(data, dict) and data else {"id": workflow_id, **fields}

    def delete_workflow(self, workflow_id: str) -> None:
        self.send("DELETE", f"{WORKFLOWS}/{workflow_id}")

    # -- machinery ---------------------------------------------------------------

    @staticmethod
    def _expect_workflow(data: Any, method: str) -> dict[str, Any]:
        if not isinstance(data, dict) or not data.get("id"):
            raise ServerError("the answer holds no workflow with an id", method=method, path=WORKFLOWS)
        return data

    def _read(self, method: str, path: str) -> Any:
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
        self.limiter.block_for(wait, f"backoff after {type(exc).__name__}")

    def send(self, method: str, path: str, *, json: Any = None, attempt: int = 1) -> Any:
        """One logical request: waits for the rate limit, waits out 429s, translates errors."""
        limited = 0
        while True:
            self.limiter.acquire()
            self.sent += 1
            started = self.limiter.clock()
            response = None
            error = None
            try:
                with self._translated(method, path):
                    response = self._http.request(method, path, json=json)
            except ApiError as exc:
                error = str(exc)
                raise
            finally:
                self.limiter.settle()
                if self.on_request:
                    self.on_request(
                        RequestRecord(
                            method, path, response.status_code if response is not None else None,
                            attempt + limited, self.limiter.clock() - started, error, time.time(),
                        )
                    )
            if response.status_code == 429:
                self.rate_limited += 1
                limited += 1
                if limited > self.retry.max_rate_limited:
                    raise RateLimited(
                        f"still rate limited after {limited} tries; another client may be using this key",
                        retry_after=parse_retry_after(response.headers.get("Retry-After")),
                        method=method, path=path,
                    )
                self._wait_out_429(response, limited)
                continue
            return self._check(response, method, path)

    def _wait_out_429(self, response: httpx.Response, limited: int) -> None:
        retry_after = parse_retry_after(response.headers.get("Retry-After"))
        if retry_after is not None:
            self.limiter.block_for(retry_after, "server said 429 Retry-After")
            return
        # No hint: the window our own log shows full, else a backoff sized to the shortest window.
        own = self.limiter.full_window_wait()
        if own is None:
            shortest = min((length / count for count, length in self.limiter.windows), default=1.0)
            own = min(shortest * (2 ** (limited - 1)), self.retry.cap)
        self.limiter.block_for(own, "server said 429")

    @contextmanager
    def _translated(self, method: str, path: str) -> Iterator[None]:
        """httpx's errors become ours: nothing was sent, or the answer was lost."""
        where = f"{self.base_url}"
        try:
            yield
        except (httpx.ConnectError, httpx.ConnectTimeout, httpx.PoolTimeout) as exc:
            raise ConnectionFailed(
                f"cannot reach {where}: {_reason(exc)}; check --api-url and the network", method=method, path=path
            ) from exc
        except httpx.UnsupportedProtocol as exc:
            raise ConnectionFailed(f"cannot use {where}: {exc}", method=method, path=path) from exc
        except (httpx.HTTPError, ConnectionError, OSError) as exc:
            # The request may have reached the server: its effect is unknown.
            raise AnswerLost(f"no answer from {where}: {_reason(exc)}", method=method, path=path) from exc

    def _check(self, response: httpx.Response, method: str, path: str) -> Any:
        status = response.status_code
        if status < 300:
            return _unwrap(response)
        message = _server_message(response)
        kw = dict(status=status, method=method, path=path)
        if status in (401, 403):
            hint = "the API key is missing or wrong" if status == 401 else "the API key may not do this"
            raise AuthError(f"{message} ({hint}: check VOICEBOT_API_KEY)", **kw)
        if status == 404:
            raise NotFound(message, **kw)
        if status >= 500:
            raise ServerError(message, **kw)
        if 300 <= status < 400:
            raise RequestRejected(f"unexpected redirect to {response.headers.get('Location', '?')}", **kw)
        raise RequestRejected(message, **kw)


def _reason(exc: BaseException) -> str:
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__
