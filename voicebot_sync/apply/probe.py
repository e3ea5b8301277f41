"""doctor's write test: one probe workflow made, read back, looked for in the list and deleted.

Four requests at most: the create (every optional field set), a GET by id (which optional
fields did the server keep?), the list (does it lag behind writes?) and the delete. The
probe is journalled like any write (``journal.py``, action ``probe``) before it is sent
and settled only once it is deleted, so a stop in the middle (Ctrl-C, a kill, a lost
answer) leaves a record: the next doctor and the next apply remove the leftover probe
first (``remove_leftover_probes``). Its name says what it is, so a person who meets one
on the dashboard knows it may go.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from typing import Any, Callable

from ..errors import NotFound, RequestRejected
from ..text.escaping import visible
from ..state.journal import Journal
from ..core.kept import config_line, unkept_fields
from ..core.model import CORE_FIELDS, OPTIONAL_FIELDS

PROBE_ACTION = "probe"
PROBE_PREFIX = "voicebot-sync doctor probe"
WRITE_TEST_REQUESTS = 4


def probe_fields(token: str | None = None) -> dict[str, Any]:
    """The probe's fields: every optional field set, a name no person would give a workflow."""
    token = token or uuid.uuid4().hex[:8]
    return {
        "name": f"{PROBE_PREFIX} {token} (safe to delete)",
        "description": "Made by `voicebot-sync doctor --write-test` and deleted at once; if it is still here, "
                       "delete it or run voicebot-sync doctor again.",
        "workflow_type": "ROBOCALL",
        "message": "This is a test workflow of voicebot-sync doctor. It is never called.",
        "include_reply": True,
        "response_options": {"1": "Yes", "2": "No"},
        "call_back_url": "https://example.invalid/voicebot-sync-doctor-probe",
    }


def is_probe_name(name: Any) -> bool:
    return isinstance(name, str) and name.startswith(PROBE_PREFIX + " ")


@dataclass
class ProbeReport:
    """What the write test learned."""

    name: str
    id: str | None = None
    kept: list[str] = field(default_factory=list)  # optional fields the server kept
    not_kept: list[str] = field(default_factory=list)  # managed fields it did not keep as sent
    listed: bool | None = None  # None: not looked for (a paginated list would cost more than one request)
    deleted: bool = False
    requests: int = 0

    @property
    def config_line(self) -> str | None:
        optional = [f for f in self.not_kept if f in OPTIONAL_FIELDS]
        return config_line(optional) if optional else None

    @property
    def core_not_kept(self) -> list[str]:
        return [f for f in self.not_kept if f in CORE_FIELDS]

    def to_json(self) -> dict[str, Any]:
        return {"probe": self.name, "id": self.id, "kept": self.kept, "not_kept": self.not_kept,
                "list_lag": None if self.listed is None else not self.listed, "deleted": self.deleted,
                "requests": self.requests, "config_line": self.config_line}


def write_test(client, journal: Journal, *, look_in_list: bool = True, token: str | None = None) -> ProbeReport:
    """Create, read back, look for and delete one probe; the journal holds it until it is gone.

    A refused create (4xx) made nothing and is raised. Any other failure after the create
    deletes the probe at once when its id is known; a stop at once (Ctrl-C, kill) leaves
    the journal entry for the next run."""
    fields = probe_fields(token)
    report = ProbeReport(fields["name"])
    start = client.sent
    entry = journal.begin(PROBE_ACTION, fields["name"], None, fields)
    try:
        try:
            answer = client.create_workflow(fields)
        except RequestRejected:
            journal.done(entry)  # refused: nothing was made
            raise
        report.id = str(answer["id"])
        journal.created(entry, report.id)  # from now on the next run can delete it by id
        stored = client.get_workflow(report.id)
        report.not_kept = unkept_fields(fields, stored)
        report.kept = [f for f in OPTIONAL_FIELDS if f not in report.not_kept]
        if look_in_list:
            report.listed = any(str(w["id"]) == report.id for w in client.list_workflows())
        _delete(client, report.id)
        report.deleted = True
        journal.done(entry)
    except Exception:
        # A failure after the create: one DELETE now when the id is known, else the next run's look.
        if report.id is not None and not report.deleted:
            try:
                _delete(client, report.id)
                journal.done(entry)
            except Exception:  # noqa: BLE001 - the journal keeps it; the original failure is what to report
                pass
        raise
    finally:
        report.requests = client.sent - start
    return report


def _delete(client, workflow_id: str) -> None:
    try:
        client.delete_workflow(workflow_id)
    except NotFound:
        pass  # already gone: what was wanted


def remove_leftover_probes(client, journal: Journal, *, settle: float, note: Callable[[str], None]) -> list[str]:
    """Delete the probes an interrupted write test left (from the journal); returns their names.

    A probe whose id is known is deleted by id. One whose create answer was lost is looked for
    in one list by its name (unique: a random token); missing from a list taken a settle time
    after it was sent, it never came to be."""
    entries = [e for e in journal.entries.values() if e.action == PROBE_ACTION]
    removed: list[str] = []
    listed: list[dict[str, Any]] | None = None
    for entry in entries:
        ids = [entry.id] if entry.id else None
        if ids is None:
            if listed is None:
                listed = client.list_workflows()
            ids = [str(w["id"]) for w in listed if w.get("name") == entry.name]
            if not ids and journal.wall() - entry.sent_at < settle:
                note(f"note: the probe \"{visible(entry.name)}\" of an interrupted write test is not listed yet; "
                     "the next run looks again")
                continue
        for workflow_id in ids:
            _delete(client, workflow_id)
        journal.done(entry)
        if ids:
            removed.append(entry.name)
            note(f"removed the probe \"{visible(entry.name)}\" that an interrupted doctor --write-test left")
    return removed
