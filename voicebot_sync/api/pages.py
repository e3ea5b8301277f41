"""The whole workflow list, when the server hands it out in pages.

A list answer may point onward in one of the ways servers do: a ``next`` link (in the
envelope, or a ``Link: <...>; rel="next"`` header, the only pointer a bare list can
carry), ``page``/``pages`` (the next page asked for as ``?page=N``), or a cursor
(``next_cursor``, sent back as ``?cursor=...``). Each page is one request through the
client, so through the rate limiter: counted, retried like any read, in the ledger.

The whole list or an error, never a part of it (an empty or partial remote is the most
dangerous value in a sync tool): a next link to another scheme, host or port is refused
(the key is never sent anywhere but the API URL); a page asked for twice, a cursor given
twice, more than ``MAX_PAGES`` pages, a page whose shape or style differs from the first,
a workflow id on two pages, or a ``total`` the pages do not add up to stops the read.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any
from urllib.parse import quote, urljoin

import httpx

from ..errors import UnexpectedAnswer
from ..text.escaping import short
from .answers import WORKFLOWS, check_list

if TYPE_CHECKING:
    from .client import VoicebotClient

MAX_PAGES = 1000  # 1000 pages of even 10 workflows is more than any clinic has; a loop ends here
_DEFAULT_PORTS = {"http": 80, "https": 443}


@dataclass
class ListAnswer:
    """The whole list, and how it came: for the plan's request count and for doctor."""

    workflows: list[dict[str, Any]]
    pages: int = 1
    kind: str = "envelope"  # envelope | bare: the shape of every page
    style: str | None = None  # next | link | page | cursor: how the pages pointed onward (None: one page)
    envelope_keys: list[str] = field(default_factory=list)  # the first page's envelope keys
    headers: httpx.Headers = field(default_factory=httpx.Headers)  # the first page's headers
    seconds: float = 0.0  # the first page's answer time
    total: int | None = None  # what the envelope said the list holds, when it said
    received_at: float = 0.0  # wall time (time.time) the first page's answer was read: its Date is compared to it


def _int(value: Any) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) else None


def onward(envelope: dict[str, Any] | None, headers: httpx.Headers) -> tuple[str, Any] | None:
    """How this page points to the next one: (style, link, page number or cursor), or None on the last page."""
    if envelope is not None:
        links = envelope.get("links") if isinstance(envelope.get("links"), dict) else {}
        for value in (envelope.get("next"), envelope.get("next_page"), envelope.get("nextPage"), links.get("next")):
            if isinstance(value, str) and value.strip():
                return "next", value.strip()
            if _int(value) is not None:
                return "page", _int(value)
        for key in ("next_cursor", "nextCursor", "cursor"):
            value = envelope.get(key)
            if (isinstance(value, str) and value) or _int(value) is not None:
                if key != "cursor" or envelope.get("has_more") is not False:
                    return "cursor", value
        page, pages = _int(envelope.get("page")), _int(envelope.get("pages"))
        if page is not None and pages is not None and page < pages:
            return "page", page + 1
        if envelope.get("has_more") is True:
            raise UnexpectedAnswer("the workflow list says has_more but gives no next link, page or cursor: "
                                   "voicebot-sync cannot read the rest, so it stops rather than plan against part "
                                   "of the remote", method="GET", path="/workflows")
    link = headers.get("Link")
    if link:
        for part in link.split(","):
            target, _, params = part.partition(";")
            if "next" in params.replace('"', " ").replace("=", " ").split():
                return "link", target.strip().strip("<>")
    return None


def same_origin(url: httpx.URL, base: httpx.URL) -> bool:
    """Same scheme, host and port (default ports made explicit): the only place the key may go."""
    def origin(u: httpx.URL) -> tuple[str, str, int | None]:
        return u.scheme.lower(), u.host.lower(), u.port or _DEFAULT_PORTS.get(u.scheme.lower())

    return origin(url) == origin(base)


class _Reader:
    """One read of the list: state that lets each page be checked against the ones before it."""

    def __init__(self, client: "VoicebotClient"):
        self.client = client
        self.base = httpx.URL(client.base_url)
        self.answer = ListAnswer([])
        self.ids: set[str] = set()
        self.asked: set[str] = set()
        self.cursors: set[str] = set()

    def fail(self, why: str, path: str) -> UnexpectedAnswer:
        return UnexpectedAnswer(f"{why}; voicebot-sync reads only complete lists, so it stops rather than plan "
                                "against part of the remote", method="GET", path=path)

    def read(self) -> ListAnswer:
        path, page_asked = WORKFLOWS, None
        while True:
            if path in self.asked:
                raise self.fail(f"the list points back to a page already read ({short(path, 80)})", path)
            if len(self.asked) >= MAX_PAGES:
                raise self.fail(f"the list has more than {MAX_PAGES} pages", path)
            self.asked.add(path)
            data, envelope = self.client._read("GET", path)
            response = self.client.last_response
            self.take(data, envelope, response, path, page_asked)
            step = onward(envelope, response.headers if response is not None else httpx.Headers())
            if step is None:
                self.finish(envelope, path)
                return self.answer
            path, page_asked = self.next_path(step, response, path)

    def take(self, data: Any, envelope: dict[str, Any] | None, response: httpx.Response | None, path: str,
             page_asked: int | None) -> None:
        kind = "bare" if envelope is None else "envelope"
        if len(self.asked) == 1:  # the first page: what every later one is checked against
            self.answer.kind = kind
            self.answer.envelope_keys = sorted(envelope) if envelope is not None else []
            self.answer.headers = response.headers if response is not None else httpx.Headers()
            self.answer.seconds = self.client.last_seconds
            self.answer.received_at = time.time()
            self.answer.total = _int((envelope or {}).get("total", (envelope or {}).get("count")))
        else:
            self.answer.pages += 1
            if kind != self.answer.kind:
                raise self.fail(f"page {self.answer.pages} of the list is a {kind}, page 1 was a {self.answer.kind}",
                                path)
            total = _int((envelope or {}).get("total", (envelope or {}).get("count")))
            if total is not None and self.answer.total is not None and total != self.answer.total:
                raise self.fail(f"the list's total changed from {self.answer.total} to {total} while it was read "
                                "(a workflow was made or deleted meanwhile: run again)", path)
        if page_asked is not None and envelope is not None:
            answered = _int(envelope.get("page"))
            if answered is not None and answered != page_asked:
                raise self.fail(f"page {page_asked} was asked for and page {answered} came back (the server does "
                                "not page by ?page=)", path)
        for item in check_list(data, None, "GET", path):
            wid = str(item["id"])
            if wid in self.ids:
                raise self.fail(f"workflow id {short(wid)} is on two pages of the list (the list changed while it "
                                "was read, or the server repeats pages: run again)", path)
            self.ids.add(wid)
            self.answer.workflows.append(item)

    def next_path(self, step: tuple[str, Any], response: httpx.Response | None, path: str) -> tuple[str, int | None]:
        style, value = step
        if self.answer.style is None:
            self.answer.style = style
        elif style != self.answer.style:
            raise self.fail(f"the list's pages point onward in two ways ({self.answer.style}, then {style})", path)
        if style == "page":
            return f"{WORKFLOWS}?page={value}", value
        if style == "cursor":
            if str(value) in self.cursors:
                raise self.fail(f"the list gave the cursor {short(value, 40)} twice", path)
            self.cursors.add(str(value))
            return f"{WORKFLOWS}?cursor={quote(str(value), safe='')}", None
        here = str(response.request.url) if response is not None else str(self.base)  # relative links resolve here
        try:
            target = httpx.URL(urljoin(here, value))
        except (httpx.InvalidURL, ValueError):
            raise self.fail(f"the list's next link {short(value, 80)} is not a URL", path) from None
        if not same_origin(target, self.base):
            where = f"{target.scheme}://{target.host}" + (f":{target.port}" if target.port else "")
            raise UnexpectedAnswer(
                f"the list's next page is at {short(where, 80)}, not at the API URL's host: voicebot-sync never "
                "sends the key anywhere else, so it stops (check --api-url)", method="GET", path=path)
        text = str(target)
        base = str(self.base).rstrip("/")
        return (text[len(base):] if text.startswith(base + "/") else text), None

    def finish(self, envelope: dict[str, Any] | None, path: str) -> None:
        total = self.answer.total
        if total is not None and total > len(self.answer.workflows):
            raise self.fail(f"the list says it holds {total} workflows, {len(self.answer.workflows)} came in "
                            f"{self.answer.pages} page{'s' if self.answer.pages != 1 else ''} and nothing points "
                            "to more", path)


def read_list(client: "VoicebotClient") -> ListAnswer:
    """Every page of the list through ``client``, checked as a whole; raises UnexpectedAnswer otherwise."""
    return _Reader(client).read()
