"""The five documented workflow endpoints of the emulator, over its stored records.

``Endpoints`` is a part of ``core.Emulator`` (its base class), kept apart so that the routes and how a
record is kept and shown read on their own, away from the gate in front of them (authentication, the
quota, the faults). It uses the emulator's state and options, named below.
"""

from __future__ import annotations

import math
import re
import urllib.parse
import uuid
from typing import Any, Callable

from .paging import page_of
from .wire import (
    COLLECTION,
    OPTIONAL_FIELDS,
    BadRequest as _BadRequest,
    Response,
    envelope as _envelope,
    json_answer as _json,
    now_iso as _now_iso,
    request_fields,
)


class Endpoints:
    """Route a request to list, get, create, update or delete, and answer it as the API does."""

    # Set by ``Emulator.__init__``: the records (by id, in creation order), when each was created (for
    # ``list_lag``), the owner of them all, the clock, and the options that change the answers.
    _records: dict[str, dict[str, Any]]
    _born: dict[str, float]
    _owner_id: str
    _token: str
    clock: Callable[[], float]
    quirks: bool
    page_size: int | None
    pagination: str
    list_lag: float
    get_lag: bool
    list_shape: str
    omit_fields: tuple[str, ...]
    null_name: bool
    echo_key: bool
    normalise_names: str


    def _route(self, method: str, path: str, body: bytes, query: str = "", host: str = "") -> Response:
        path = path.rstrip("/")
        # The path as sent: an id is one segment, percent-decoded only once it is known to be one.
        wid = urllib.parse.unquote(path[len(COLLECTION) + 1 :])
        if path == COLLECTION:
            handlers = {"GET": lambda: self._list(query, host), "POST": lambda: self._create(body)}
        elif path.startswith(COLLECTION + "/") and "/" not in path[len(COLLECTION) + 1 :]:
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

    def _list(self, query: str = "", host: str = "") -> Response:
        records = list(self._records.values())
        if self.list_lag:
            now = self.clock()
            records = [r for r in records if now - self._born.get(r["id"], -math.inf) >= self.list_lag]
        items = [self._shown(r) for r in records]
        if self.echo_key and self._token:
            items.append({"id": "echo", "name": f"echo {self._token}", "description": "",
                          "workflow_type": "ROBOCALL", "message": f"your key is {self._token}"})
        paging: dict[str, Any] = {}
        headers: dict[str, str] = {}
        if self.page_size:
            items, paging, headers = page_of(items, urllib.parse.parse_qs(query), host, self.page_size,
                                             self.pagination)
        if self.list_shape == "bare":
            return _json(items, headers)
        data: Any = items if self.list_shape == "envelope" else {"warnings": [], "workflows": items}
        return _json({"status": "Ok", "message": "workflows retrieved successfully", "data": data, **paging}, headers)

    def _lagging(self, workflow_id: str) -> bool:
        return self.list_lag > 0 and self.clock() - self._born.get(workflow_id, -math.inf) < self.list_lag

    def _get(self, workflow_id: str) -> Response:
        if workflow_id not in self._records or (self.get_lag and self._lagging(workflow_id)):
            return _envelope(404, "workflow not found")
        return _envelope(200, "workflow retrieved successfully", self._shown(self._records[workflow_id]))

    def _create(self, body: bytes) -> Response:
        fields = self._fields(body)
        for required in ("name", "message"):
            if not fields.get(required):
                raise _BadRequest(f"{required} is required")
        now = _now_iso()
        # The reference's table marks workflow_type "Required: yes" with the default ROBOCALL: read as a
        # default the server fills in (documented in `emulator --help` and docs/commands.md).
        record = {"id": str(uuid.uuid4()), "name": "", "description": "", "workflow_type": "ROBOCALL", "message": ""}
        record.update(fields)
        record.update(status="ACTIVE", owner_id=self._owner_id, created_at=now, updated_at=now)
        self._records[record["id"]] = record
        self._born[record["id"]] = self.clock()
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
        self._born.pop(workflow_id, None)
        return _envelope(200, "workflow deleted successfully", {})

    def _fields(self, body: bytes) -> dict[str, Any]:
        fields = request_fields(body, quirks=self.quirks)
        for name in set(self.omit_fields) & set(OPTIONAL_FIELDS):
            fields.pop(name, None)  # a server of an older API version: not kept, and not a word said
        if isinstance(fields.get("name"), str) and self.normalise_names != "exact":
            import unicodedata

            name = fields["name"]
            if "nfc" in self.normalise_names:
                name = unicodedata.normalize("NFC", name)
            if "spaces" in self.normalise_names:
                name = re.sub(r"\s+", " ", name).strip()
            fields["name"] = name
        return fields

    def _public(self, record: dict[str, Any]) -> dict[str, Any]:
        out = dict(record)
        if self.quirks and not out.get("description"):
            out["description"] = None
        return out

    def _shown(self, record: dict[str, Any]) -> dict[str, Any]:
        """A workflow as list and get answers show it: public, less ``omit_fields``, maybe nameless."""
        out = self._public(record)
        for name in self.omit_fields:
            out.pop(name, None)
        if self.null_name:
            out["name"] = None
        return out
