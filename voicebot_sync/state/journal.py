"""The write journal: every write is recorded before it is sent.

A create whose answer was lost (no answer, a 5xx, a kill -9 between send and
answer) may or may not exist on the server. It stays in the journal until a list
proves one way or the other: it appears (adopt it), or a list taken at least the
settle time after the write still lacks it (it never committed: creating it is
safe). Every later run reads the journal before creating anything, so a crash or
an interrupted run is checked instead of repeated.

One file per account (``.voicebot-sync/journal/<account>.json``), replaced
atomically; apply holds the account lock while it writes it.
"""

from __future__ import annotations

import json
import math
import os
import time
import uuid
from dataclasses import asdict, dataclass, field
from typing import Any, Callable

from ..text.sinks import write_text
from ..core.model import loose_name_key
from ..text.safejson import load_file
from .statedir import account_id, state_dir


@dataclass
class Entry:
    """One write in flight, or one whose outcome is still unknown."""

    op: str
    action: str
    name: str
    id: str | None
    fields: dict[str, Any] = field(default_factory=dict)
    sent_at: float = 0.0  # wall clock (time.time) when it was sent
    state: str = "sending"  # sending | uncertain | created (confirmed, but a lagging list may not show it yet)


MAX_FILE_BYTES = 16 * 1024 * 1024
_ACTIONS = ("create", "update", "delete", "probe")  # probe: doctor --write-test
_STATES = ("sending", "uncertain", "created")


def _entries(data: Any) -> list:
    if not isinstance(data, dict) or not isinstance(data.get("entries", []), list):
        raise ValueError("not a journal: no list of entries")
    return data.get("entries", [])


def _entry(raw: Any) -> Entry:
    """One entry, checked field by field: a wrong type is a ValueError (the file is set aside), never a
    crash later in a run (``sent_at: "yesterday"``, ``1e400``, a name that is a list)."""
    if not isinstance(raw, dict):
        raise ValueError("an entry is not an object")
    def text(key: str, optional: bool = False) -> str | None:
        value = raw.get(key)
        if value is None and optional:
            return None
        if not isinstance(value, str):
            raise ValueError(f"an entry's {key!r} is not text")
        return value
    sent_at = raw.get("sent_at", 0.0)
    if isinstance(sent_at, bool) or not isinstance(sent_at, (int, float)) or not math.isfinite(sent_at):
        raise ValueError("an entry's 'sent_at' is not a finite number")
    fields = raw.get("fields", {})
    if not isinstance(fields, dict):
        raise ValueError("an entry's 'fields' is not an object")
    entry = Entry(text("op"), text("action"), text("name"), text("id", optional=True), fields, float(sent_at),
                  text("state"))
    if entry.action not in _ACTIONS or entry.state not in _STATES:
        raise ValueError(f"an entry's action or state is unknown ({entry.action!r}, {entry.state!r})")
    return entry


class Journal:
    """The account's journal file; an unreadable one is kept aside and reported, never trusted as empty."""

    def __init__(self, path: str, *, wall: Callable[[], float] = time.time):
        self.path = path
        self.wall = wall
        self.entries: dict[str, Entry] = {}
        self.problem: str | None = None
        self._load()

    @classmethod
    def for_account(cls, api_url: str, api_key: str | None, **kw) -> "Journal":
        return cls(os.path.join(state_dir("journal"), account_id(api_url, api_key) + ".json"), **kw)

    def _load(self) -> None:
        try:
            data = load_file(self.path, max_bytes=MAX_FILE_BYTES)
            self.entries = {e.op: e for e in map(_entry, _entries(data))}
        except FileNotFoundError:
            return
        except (OSError, ValueError) as exc:
            # Never read as "nothing pending": keep it aside for a person and say so.
            why = str(exc) if isinstance(exc, ValueError) else type(exc).__name__
            self.problem = f"the write journal {self.path} could not be read ({why}); kept as {self.path}.bad"
            try:
                os.replace(self.path, self.path + ".bad")
            except OSError:
                pass

    def _save(self) -> None:
        if not self.entries:
            try:
                os.unlink(self.path)
            except FileNotFoundError:
                pass
            return
        data = {"format_version": 1, "entries": [asdict(e) for e in self.entries.values()]}
        write_text(self.path, json.dumps(data, indent=2, ensure_ascii=False) + "\n", data=True)

    def begin(self, action: str, name: str, id: str | None, fields: dict[str, Any]) -> Entry:
        """Record a write before it is sent."""
        entry = Entry(uuid.uuid4().hex, action, name, id, dict(fields), self.wall())
        self.entries[entry.op] = entry
        self._save()
        return entry

    def done(self, entry: Entry) -> None:
        """Its outcome is known (done, failed for sure, or found)."""
        if self.entries.pop(entry.op, None) is not None:
            self._save()

    def created(self, entry: Entry, workflow_id: str) -> None:
        """A confirmed create stays for the settle time: a list that lags may not show it yet, and
        the next run must not take its absence from the list for a reason to create it again."""
        entry.state, entry.id = "created", workflow_id
        self.entries[entry.op] = entry
        self._save()

    def uncertain(self, entry: Entry) -> None:
        """Its outcome could not be checked: keep it for the next run."""
        entry.state = "uncertain"
        self.entries[entry.op] = entry
        self._save()

    def pending_creates(self) -> list[Entry]:
        return [e for e in self.entries.values() if e.action == "create"]

    def settle_pending(self, remote_names: set[str], listed_at: float, settle: float) -> list[Entry]:
        """Clear the creates this list settles: found (adopted by the plan), or missing from a list
        taken long enough after the write. Returns the ones still unsettled."""
        still = []
        listed = {loose_name_key(n) for n in remote_names}  # as the server may have stored the name
        for entry in self.pending_creates():
            if loose_name_key(entry.name) in listed or listed_at - entry.sent_at >= settle:
                self.entries.pop(entry.op, None)
            else:
                still.append(entry)
        for entry in [e for e in self.entries.values() if e.action not in ("create", "probe")]:
            # A lost update or delete is checked by the next plan itself: it compares the remote.
            # (A doctor probe stays until it is deleted: probe.remove_leftover_probes.)
            self.entries.pop(entry.op, None)
        self._save()
        return still
