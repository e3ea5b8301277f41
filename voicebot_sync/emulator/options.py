"""The emulator's fault and quirk options, as a table the CLI turns into flags.

Kept apart from the core so that building the command line imports nothing heavy."""

from __future__ import annotations

from typing import Any

RETRY_AFTER_FORMATS = ("seconds", "http-date", "none")
LIST_SHAPES = ("envelope", "bare", "nested")
NAME_FORMS = ("exact", "nfc", "spaces", "nfc-spaces")
PAGINATION_STYLES = ("next", "page", "cursor")

# The Emulator keyword arguments that make it misbehave, for front ends (the CLI's
# ``emulator`` command) to offer generically as ``--name-with-dashes`` options.
# Each row is (keyword, type, default, help). The type is ``bool`` (a flag), ``int``,
# ``float``, ``str``, ``tuple`` (a list of strings: the Emulator also takes one
# comma-separated string), or a tuple of strings (a choice among those values).
# A default of None means "off" (an ``int`` option with no value).
FAULT_OPTIONS: list[tuple[str, Any, Any, str]] = [
    ("retry_after", RETRY_AFTER_FORMATS, "seconds",
     "How a 429 says when to retry: Retry-After in seconds, as an HTTP date, or none at all."),
    ("quirks", bool, False,
     "Trim trailing whitespace from stored text and return null descriptions, like a sloppy server."),
    ("fault_5xx", float, 0.0,
     "Share of requests answered 500 without acting."),
    ("fault_drop_after_write", float, 0.0,
     "Share of successful writes carried out, then the connection dropped without an answer."),
    ("fault_status_error", float, 0.0,
     'Share of successful answers replaced by HTTP 200 with a "status": "Error" envelope; such writes are not carried out.'),
    ("fault_seed", int, None,
     "Seed for the random faults, so a run can be repeated."),
    ("page_size", int, None,
     "Paginate the list: at most this many workflows per page, pointing onward as --pagination says."),
    ("pagination", PAGINATION_STYLES, "next",
     "With --page-size: next (a next URL, page/pages/total and a Link header; ?page=N), page (page/pages/total "
     "only; ?page=N) or cursor (next_cursor and has_more; ?cursor=C). A bare list points onward by Link only."),
    ("list_lag", float, 0.0,
     "Seconds a created workflow stays missing from the list (eventual consistency); GET/PUT/DELETE see it at once."),
    ("always_429", bool, False,
     "Answer every request 429 (Retry-After as --retry-after says)."),
    ("trickle", float, 0.0,
     "Over HTTP, send each answer body one byte per this many seconds, after prompt headers."),
    ("echo_auth_on_401", bool, False,
     "A 401 repeats the Authorization header it received, like a careless server."),
    ("html_answers", bool, False,
     "Answer every request 200 with an HTML login page (captive portal), not JSON."),
    ("list_shape", LIST_SHAPES, "envelope",
     "The list answer's shape: the documented envelope, a bare JSON array, or data nested as {warnings, workflows}."),
    ("omit_fields", tuple, (),
     "Workflow fields left out of list and get answers (comma-separated, e.g. message,workflow_type); optional "
     "fields named (include_reply, response_options, call_back_url) are silently not kept: no answer has them."),
    ("null_name", bool, False,
     "Return workflow names as null in list and get answers."),
    ("echo_key", bool, False,
     "Echo the caller's key: the list gains a workflow whose name and message hold it, and a 401 ends with "
     "it after 600 characters of padding (a server that leaks what it is sent)."),
    ("get_lag", bool, False,
     "With --list-lag: GET by id of a workflow younger than the lag answers 404 too (a lagging read replica)."),
    ("normalise_names", NAME_FORMS, "exact",
     "How the server stores a name it is sent: exactly, in Unicode NFC, with runs of spaces collapsed and "
     "trimmed, or both (create and update answers show the stored name)."),
    ("merge_slashes", bool, False,
     "Merge repeated slashes in a request path before routing (nginx's default merge_slashes on)."),
]
