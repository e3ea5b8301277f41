"""What apply made or managed from this working directory, per account: so drift can tell a
workflow deleted in the dashboard from one that was never applied.

One small file per server and config environment (``.voicebot-sync/applied/<fingerprint>.json``;
no key goes into it or its name), replaced atomically by apply while it holds the account lock.
It holds names and ids only:

    {"format_version": 1, "workflows": [{"name": "Reminder", "id": "6f1c...", "applied_at": "2026-...Z"}]}

It is a hint, never an identity: plans never read it. A fresh machine (a CI runner) has none,
and drift then says "no record here: never applied from here, or applied elsewhere". A file
that does not read back field by field is set aside (``.bad``) with one warning, never
trusted in part and never read as "nothing was applied".
"""

from __future__ import annotations

import json
import os
import time
from typing import Any, Iterable

from ..text.sinks import write_text
from ..core.model import name_key
from ..text.redaction import fingerprint
from .statedir import canonical_url, state_dir

MAX_BYTES = 8 * 1024 * 1024  # a record of tens of thousands of names; anything larger is not ours


class AppliedRecord:
    """The account's record of applied workflows: name -> (id, when), names compared through ``name_key``."""

    def __init__(self, path: str, *, wall=time.time):
        self.path = path
        self.wall = wall
        self.entries: dict[str, dict[str, Any]] = {}  # name_key -> {"name", "id", "applied_at"}
        self.problem: str | None = None
        self.present = False
        self._load()

    @classmethod
    def for_account(cls, account: str, env: str | None, **kw) -> "AppliedRecord":
        """The record of one server and config environment. Not of the key: drift often runs with a
        read-only key and apply with another, and a rotated key must not forget what was applied."""
        name = fingerprint(f"{canonical_url(account)}\nenv={env or ''}")
        return cls(os.path.join(state_dir("applied"), name + ".json"), **kw)

    def _load(self) -> None:
        try:
            with open(self.path, "rb") as fh:
                raw = fh.read(MAX_BYTES + 1)
        except FileNotFoundError:
            return
        except OSError as exc:
            self._set_aside(type(exc).__name__)
            return
        try:
            entries = _entries(raw)
        except ValueError as exc:
            self._set_aside(str(exc))
            return
        self.entries = {name_key(e["name"]): e for e in entries}
        self.present = True

    def _set_aside(self, why: str) -> None:
        self.problem = (f"the record of applied workflows {self.path} could not be read ({why}); kept as "
                        f"{self.path}.bad, and drift cannot tell deleted workflows from ones never applied until "
                        "the next apply")
        try:
            os.replace(self.path, self.path + ".bad")
        except OSError:
            pass

    def get(self, name: str) -> dict[str, Any] | None:
        return self.entries.get(name_key(name))

    def remember(self, seen: Iterable[tuple[str, str | None]], forgotten_ids: Iterable[str] = ()) -> None:
        """Record (name, id) pairs apply created or found managed, drop the ids it deleted, and save."""
        now = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(self.wall()))
        for name, wid in seen:
            old = self.entries.get(name_key(name)) or {}
            # An unchanged workflow's id may be unknown to a saved plan: keep the one recorded before.
            self.entries[name_key(name)] = {"name": str(name), "id": wid if wid is not None else old.get("id"),
                                            "applied_at": now}
        gone = {str(i) for i in forgotten_ids}
        self.entries = {k: e for k, e in self.entries.items() if e["id"] is None or e["id"] not in gone}
        data = {"format_version": 1, "workflows": sorted(self.entries.values(), key=lambda e: e["name"])}
        write_text(self.path, json.dumps(data, indent=1, ensure_ascii=False) + "\n", data=True)
        self.present = True


def _entries(raw: bytes) -> list[dict[str, Any]]:
    """The record's entries, checked field by field; ValueError says what is wrong."""
    if len(raw) > MAX_BYTES:
        raise ValueError(f"over {MAX_BYTES} bytes")
    try:
        data = json.loads(raw.decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError, RecursionError) as exc:
        raise ValueError(f"not JSON: {type(exc).__name__}") from exc
    if not isinstance(data, dict) or data.get("format_version") != 1:
        raise ValueError("not a format_version 1 record")
    workflows = data.get("workflows")
    if not isinstance(workflows, list):
        raise ValueError("'workflows' is not a list")
    out = []
    for i, e in enumerate(workflows):
        if not isinstance(e, dict) or set(e) != {"name", "id", "applied_at"}:
            raise ValueError(f"entry {i} does not have exactly name, id and applied_at")
        if not isinstance(e["name"], str) or not isinstance(e["applied_at"], str) \
                or not (e["id"] is None or isinstance(e["id"], str)):
            raise ValueError(f"entry {i} has a field of the wrong type")
        out.append(e)
    return out


def mark_missing(report: dict[str, Any], record: AppliedRecord) -> None:
    """Tell each missing workflow of a drift report apart: applied from here before (deleted
    remotely since) or never applied from here (not applied yet, or applied elsewhere)."""
    report["applied_record"] = "present" if record.present else ("unreadable" if record.problem else "absent")
    for m in report["missing"]:
        seen = record.get(m["name"])
        m["applied_here"] = seen is not None
        if seen is not None:
            m["last_id"], m["last_applied"] = seen["id"], seen["applied_at"]
    report["summary"]["missing_applied_here"] = sum(1 for m in report["missing"] if m["applied_here"])


def missing_words(m: dict[str, Any]) -> str:
    """Why a workflow is missing, as far as this machine knows (plain text; the caller escapes)."""
    if m.get("applied_here"):
        wid = f" as id {m['last_id']}" if m.get("last_id") else ""
        return f"applied from here{wid} (last {m['last_applied']}): deleted remotely since"
    if "applied_here" in m:
        return "never applied from here (not applied yet, or applied from another machine)"
    return ""


def record_apply(record: AppliedRecord, plan, report) -> None:
    """What one apply leaves in the record: every workflow it created, updated or found in step
    (``plan.managed``), minus the ones it deleted. Changes that failed or never started are
    left as they were recorded before."""
    touched = {c.name for c in plan.changes}
    seen = [(name, wid) for name, wid in plan.managed.items() if name not in touched]
    deleted = []
    for o in (report.outcomes if report is not None else []):
        if o.status == "created":
            seen.append((o.change.name, o.id))
        elif o.status == "updated":
            seen.append((o.change.name, o.change.id))
        elif o.status == "deleted":
            deleted.append(o.change.id)
    record.remember(seen, deleted)
