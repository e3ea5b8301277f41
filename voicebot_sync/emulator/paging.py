"""The list, one page at a time, in the three ways servers point onward (the emulator's ``pagination``)."""

from __future__ import annotations

import base64
import math
from typing import Any

from .wire import COLLECTION, BadRequest


def page_of(items: list, params: dict[str, list[str]], host: str, size: int,
            style: str) -> tuple[list, dict[str, Any], dict[str, str]]:
    """(the page of ``items`` that ``params`` ask for, the envelope's paging keys, headers).

    ``next``: next URL (absolute, on the request's Host), page, pages, total; ``page``: page, pages,
    total only (the client asks for ``?page=N+1``); ``cursor``: next_cursor and has_more
    (``?cursor=C``). Every style also sends ``Link: <...>; rel="next"``, all a bare list can carry."""
    total = len(items)
    if style == "cursor":
        raw = params.get("cursor", [""])[-1]
        start = _cursor_offset(raw) if raw else 0
        if start is None:
            raise BadRequest("unknown cursor")
        following = _cursor(start + size) if start + size < total else None
        link = f"{COLLECTION}?cursor={following}" if following else None
        paging: dict[str, Any] = {"next_cursor": following, "has_more": following is not None}
        return items[start : start + size], paging, ({"Link": f'<{link}>; rel="next"'} if link else {})
    try:
        page = int(params.get("page", ["1"])[-1])
    except ValueError:
        page = 0
    if page < 1:
        raise BadRequest("page must be a positive integer")
    pages = max(1, math.ceil(total / size))
    following = (f"http://{host}" if host else "") + f"{COLLECTION}?page={page + 1}" if page < pages else None
    paging = {"page": page, "pages": pages, "total": total}
    if style == "next":
        paging = {"next": following, **paging}
    headers = {"Link": f'<{following}>; rel="next"'} if following else {}
    return items[(page - 1) * size : page * size], paging, headers


def _cursor(offset: int) -> str:
    """An opaque cursor, as servers hand them out (the offset of the next page, encoded)."""
    return base64.urlsafe_b64encode(f"offset:{offset}".encode()).decode().rstrip("=")


def _cursor_offset(cursor: str) -> int | None:
    try:
        text = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)).decode()
    except (ValueError, UnicodeDecodeError):
        return None
    kind, _, number = text.partition(":")
    return int(number) if kind == "offset" and number.isdigit() else None
