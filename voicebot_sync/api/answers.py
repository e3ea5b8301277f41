"""The strict reading of the API's answers: the envelope, the workflow list and its items, the
server's own message, ``Retry-After``, and the one path segment a workflow id may be.

Nothing here sends a request: ``client.py`` sends, and hands every answer here to be read. An answer
is read strictly (a misread list would plan deletions), and every secret is removed from it first.
"""

from __future__ import annotations

import email.utils
import re
import time
from typing import Any
from urllib.parse import quote

import httpx

from ..errors import RequestRejected, ServerError, UnexpectedAnswer
from ..text.escaping import short
from ..text.redaction import answer_needs_walk, redact, redact_answer, redact_value
from ..text.safejson import TooDeep, loads


WORKFLOWS = "/workflows"


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


def server_message(response: httpx.Response) -> str:
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


def unwrap(response: httpx.Response, method: str, path: str) -> tuple[Any, dict[str, Any] | None]:
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


def check_list(data: Any, envelope: dict[str, Any] | None, method: str, path: str) -> list[dict[str, Any]]:
    """One page of the list, or an error: never a misread list (``pages.py`` follows and checks the pages)."""
    if not isinstance(data, list):
        raise UnexpectedAnswer(f"the workflow list's 'data' is a JSON {type(data).__name__}, not a list",
                               method=method, path=path)
    for index, item in enumerate(data):
        check_workflow(item, index, method, path)
    return data


def check_workflow(item: Any, what: str | int, method: str, path: str) -> dict[str, Any]:
    """A workflow as the reference describes it: id, name, message and type present and text.
    ``what`` names it in a message (an int: its index in the list); the message is only built for
    a workflow that fails (this runs for each of 10,000 workflows of a list)."""
    if not isinstance(item, dict):
        raise UnexpectedAnswer(f"{_named(what)} is a JSON {type(item).__name__}, not a workflow", method=method, path=path)
    wid = item.get("id")
    if isinstance(wid, bool) or not isinstance(wid, (str, int)) or str(wid) == "":
        raise UnexpectedAnswer(f"{_named(what)} has no id", method=method, path=path)
    for key in ("name", "message", "workflow_type"):
        if not isinstance(item.get(key), str):
            state = "is missing" if key not in item else f"is {short(item.get(key))}, not text"
            raise UnexpectedAnswer(f"{_named(what)} (id {short(wid)}): '{key}' {state}; refusing to plan against it",
                                   method=method, path=path)
    return item


def _named(what: str | int) -> str:
    return f"workflow #{what + 1} of the list" if isinstance(what, int) else what


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


def entered(streamed: httpx.Response, content: bytes) -> httpx.Response:
    """The answer as the rest of the tool may see it: every registered secret already removed from its
    body and headers, before anything decodes, escapes, serialises or cuts it (a server that echoes the
    key in a name or in a 401 message cannot get it out in any form)."""
    headers = [(k, redact(v, generic=False)) for k, v in streamed.headers.items()]
    text = content.decode("utf-8", "surrogateescape")
    safe = redact_answer(text)
    if safe is not text:
        content = safe.encode("utf-8", "surrogateescape")
    return httpx.Response(streamed.status_code, headers=headers, content=content, request=streamed.request)
