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
import os
import time
import uuid
from dataclasses import asdict, dataclass, field
from typing import Any, Callable

from .doors import write_text
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
            with open(self.path, encoding="utf-8") as fh:
                data = json.load(fh)
            self.entries = {e["op"]: Entry(**e) for e in data.get("entries", [])}
        except FileNotFoundError:
            return
        except (OSError, ValueError, TypeError, KeyError, AttributeError) as exc:
            # Never read as "nothing pending": keep it aside for a person and say so.
            self.problem = f"the write journal {self.path} could not be read ({type(exc).__name__}); kept as {self.path}.bad"
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
        for entry in self.pending_creates():
            if entry.name in remote_names or listed_at - entry.sent_at >= settle:
                self.entries.pop(entry.op, None)
            else:
                still.append(entry)
        for entry in [e for e in self.entries.values() if e.action not in ("create", "probe")]:
            # A lost update or delete is checked by the next plan itself: it compares the remote.
            # (A doctor probe stays until it is deleted: probe.remove_leftover_probes.)
            self.entries.pop(entry.op, None)
        self._save()
        return still
