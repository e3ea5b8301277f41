"""The wire format the emulator speaks: paths, the envelope, answers, and what a request body may hold.

It is written from the API reference alone (``voicebot-workflow-api.txt``), apart from
the client's ``api/``, so that each checks the other."""

from __future__ import annotations

import datetime as _dt
import json
from dataclasses import dataclass, field
from typing import Any

PREFIX = "/voicebot/v1"
COLLECTION = PREFIX + "/workflows"
WORKFLOW_TYPES = ("ROBOCALL", "CONVERSATION")
MAX_MESSAGE_LENGTH = 1000
# Request fields the server stores; anything else in a request body is ignored.
TEXT_FIELDS = ("name", "description", "workflow_type", "message", "call_back_url")
OPTIONAL_FIELDS = ("include_reply", "response_options", "call_back_url")  # later API versions; may be dropped
STORED_FIELDS = ("name", "description", "workflow_type", "message", "include_reply", "response_options", "call_back_url")

LOGIN_PAGE = (
    b"<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\"><title>Sign in - Guest Wi-Fi</title></head>\n"
    b"<body><h1>Sign in to continue</h1>\n"
    b"<form method=\"post\" action=\"/login\"><input name=\"user\"> <input name=\"password\" type=\"password\">"
    b" <button>Sign in</button></form>\n</body></html>\n"
)


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


class BadRequest(Exception):
    """A request body the server refuses (400)."""


def now_iso() -> str:
    return _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def envelope(
    status: int, message: str, data: Any = None, headers: dict[str, str] | None = None, *, ok: bool | None = None
) -> Response:
    """The documented answer; ``ok`` overrides the envelope's status word (normally Ok below 400)."""
    ok = status < 400 if ok is None else ok
    body = {"status": "Ok" if ok else "Error", "message": message, "data": data}
    return Response(status, {"Content-Type": "application/json", **(headers or {})}, json.dumps(body).encode("utf-8"))


def json_answer(data: Any, headers: dict[str, str] | None = None) -> Response:
    return Response(200, {"Content-Type": "application/json", **(headers or {})}, json.dumps(data).encode("utf-8"))


def request_fields(body: bytes, *, quirks: bool = False) -> dict[str, Any]:
    """The stored fields given in a request body, validated; unknown fields are dropped."""
    try:
        data = json.loads(body.decode("utf-8"))
    except (UnicodeDecodeError, ValueError):
        raise BadRequest("invalid JSON body") from None
    if not isinstance(data, dict):
        raise BadRequest("request body must be a JSON object")
    fields = {f: data[f] for f in STORED_FIELDS if f in data}
    if fields.get("description", "") is None:
        fields["description"] = ""  # a null description is the empty one
    for name in TEXT_FIELDS:
        if name in fields and not isinstance(fields[name], str):
            raise BadRequest(f"{name} must be a string")
    if "include_reply" in fields and not isinstance(fields["include_reply"], bool):
        raise BadRequest("include_reply must be a boolean")
    options = fields.get("response_options", {})
    if not isinstance(options, dict) or not all(isinstance(v, str) for v in options.values()):
        raise BadRequest("response_options must be an object of strings")
    if "workflow_type" in fields and fields["workflow_type"] not in WORKFLOW_TYPES:
        raise BadRequest("workflow_type must be ROBOCALL or CONVERSATION")
    if quirks:
        # The sloppy server trims what it stores, so a naive client sees a diff forever.
        for name in ("message", "description"):
            if name in fields:
                fields[name] = fields[name].rstrip()
    if len(fields.get("message", "")) > MAX_MESSAGE_LENGTH:
        raise BadRequest(f"message must not exceed {MAX_MESSAGE_LENGTH} characters")
    return fields
