"""Plan and Change: what apply will do, its JSON form, and the checks it owns.

A plan records the fingerprint of the remote it was made against
(``check_fresh``) and a fingerprint of its own changes (``plan_fingerprint``,
what reviewers saw), and it refuses itself when it is unsafe (``raise_if_unsafe``).

Plans and changes are frozen: the planner builds one, and each later stage (the list's
pages, the rules, the skipped paths, the share guards) makes a new one with ``with_``,
so a plan handed to apply or to a view is the plan that was reviewed. What only the
views use (the ETA from now, the message previews, spoken lengths) rides in ``Display``:
never saved, never compared, never part of a fingerprint.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field, replace
from typing import Any, Callable, Iterable, Mapping

from ..errors import PlanError, StalePlan, TooMuchChange, UnsafePlan

FORMAT_VERSION = 1
ACTIONS = ("create", "update", "delete")


def _digest(data: Any) -> str:
    blob = json.dumps(data, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return "sha256:" + hashlib.sha256(blob.encode("utf-8", "surrogatepass")).hexdigest()


def remote_fingerprint(remote: Iterable[Mapping[str, Any]], normalised: Mapping[str, Mapping[str, Any]] | None = None) -> str:
    """A hash of the remote's ids and managed fields, order-independent.

    Fields no request sets (timestamps, status) are left out so that they never
    make a reviewed plan stale. ``normalised`` (id -> all_remote_fields) saves the
    planner normalising every workflow twice."""
    from .model import all_remote_fields

    normalised = normalised or {}
    rows = sorted(([str(w.get("id")), normalised.get(str(w.get("id"))) or all_remote_fields(w)] for w in remote),
                  key=lambda r: r[0])
    return _digest(rows)


def _check_schema(data: Mapping[str, Any]) -> None:
    """plan.schema.json: the first problem, located, as one PlanError (nothing is changed)."""
    import jsonschema

    from ..read.schema import packaged

    schema = packaged("plan")  # loaded and compiled once; a valid plan never reaches jsonschema
    error = None if schema.passes(data) else jsonschema.exceptions.best_match(schema.validator.iter_errors(data))
    if error is not None:
        where = "/".join(str(p) for p in error.absolute_path) or "the top"
        kind = error.validator if error.validator != "required" else "a required key is missing"
        raise PlanError(f"not a valid plan file: at {where}: {kind} ({error.validator}); nothing was changed")


@dataclass(frozen=True)
class Change:
    """One operation: create (after), update (before/after of the changed fields), delete (before)."""

    action: str
    name: str
    id: str | None = None
    source: str | None = None
    before: dict[str, Any] | None = None
    after: dict[str, Any] | None = None
    line: int = 0
    # Seconds the message takes to say after the change (creates and updates; spoken.Estimate.after_seconds).
    after_spoken_seconds: float | None = None

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {"action": self.action, "name": self.name, "id": self.id, "source": self.source}
        if self.action != "create":
            out["before"] = self.before
        if self.action != "delete":
            out["after"] = self.after
        if self.line:
            out["line"] = self.line
        if self.after_spoken_seconds is not None and self.action != "delete":
            out["after_spoken_seconds"] = self.after_spoken_seconds
        return out

    def effect(self) -> dict[str, Any]:
        """What the change does, without where it was defined (file, line)."""
        return {"action": self.action, "name": self.name, "id": self.id, "before": self.before, "after": self.after}

    @property
    def fingerprint(self) -> str:
        """A short hash of the change's effect: what a reviewer approved, one change at a time."""
        return _digest(self.effect())[7:19]

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> "Change":
        """A change from a plan file already checked against plan.schema.json."""
        return cls(
            action=data["action"],
            name=data["name"],
            id=data.get("id"),
            source=data.get("source"),
            before=data.get("before"),
            after=data.get("after"),
            line=int(data.get("line") or 0),
            after_spoken_seconds=data.get("after_spoken_seconds"),
        )


@dataclass
class Guards:
    """Safety thresholds (octoDNS-style): shares of the remote a plan may change."""

    max_delete_share: float = 0.30
    max_update_share: float = 0.50
    min_existing: int = 10


@dataclass(frozen=True)
class Display:
    """What only the views of a plan use: not saved in a plan file, not compared, not fingerprinted."""

    # When apply's last request could start if it began now, given the budget left (None: not known).
    eta_now: float | None = None
    # For the Markdown view: makes (examples, limits) per definition name on demand,
    # so a JSON or text plan of 10,000 files never pays for it.
    preview_maker: Callable[[], tuple[dict, dict]] | None = None
    # (action, name) -> spoken.Estimate of each created or updated message, for the views.
    spoken: Mapping[tuple[str, str], Any] = field(default_factory=dict)

    def spoken_for(self, change: Change) -> Any:
        return self.spoken.get((change.action, change.name))


@dataclass(frozen=True)
class Plan:
    """What apply will do against one API, made against one state of the remote (frozen: see ``with_``)."""

    api_url: str
    remote_fingerprint: str
    changes: tuple[Change, ...] = ()
    unchanged: int = 0
    unmanaged: tuple[dict[str, Any], ...] = ()
    remote_count: int = 0
    estimated_seconds: float = 0.0
    # How many definitions the plan was made from (0 with --prune is refused by apply).
    definitions: int = 0
    # Set when a definition is pruned by ownership scope etc.; free-form notes for renderers.
    notes: tuple[str, ...] = ()
    # The config environment the plan was made for (apply --plan uses the same one).
    env: str | None = None
    # Ids pinned by in-scope definitions: owned even while their remote name is outside the scope.
    pinned_ids: tuple[str, ...] = ()
    # Why apply would refuse this plan (a share guard, an empty prune), or None: plan warns.
    refusal: str | None = None
    # Names the remote had when the plan was made (not saved): apply settles its journal with them.
    remote_names: frozenset = field(default_factory=frozenset, repr=False, compare=False)
    # Name -> id of each workflow a definition matched (not saved): apply records them (applied.py).
    managed: Mapping[str, str] = field(default_factory=dict, repr=False, compare=False)
    # Requests the list took (its pages): apply lists again, so they count in requests and the ETA.
    list_pages: int = 1
    # Team rules: broken warnings and waivers (rules.Finding); a broken error rule stops the plan instead.
    rule_findings: tuple = ()
    display: Display = field(default_factory=Display, repr=False, compare=False)

    def __post_init__(self) -> None:
        # Sequences given as lists (by tests, by from_json) become tuples: nothing edits a plan in place.
        for name in ("changes", "unmanaged", "notes", "pinned_ids", "rule_findings"):
            value = getattr(self, name)
            if not isinstance(value, tuple):
                object.__setattr__(self, name, tuple(value))
        if not isinstance(self.remote_names, frozenset):
            object.__setattr__(self, "remote_names", frozenset(self.remote_names))

    def with_(self, **fields: Any) -> "Plan":
        """A copy with ``fields`` replaced: how each stage after the planner adds what it knows."""
        return replace(self, **fields)

    def with_display(self, **fields: Any) -> "Plan":
        """A copy whose display data has ``fields`` replaced."""
        return replace(self, display=replace(self.display, **fields))

    def previews(self) -> tuple[dict, dict]:
        """(examples, limits) for ``render_markdown``: each message as a patient hears it."""
        maker = self.display.preview_maker
        return maker() if maker is not None else ({}, {})

    def of(self, action: str) -> list[Change]:
        return [c for c in self.changes if c.action == action]

    @property
    def summary(self) -> dict[str, int]:
        counts = {a: len(self.of(a)) for a in ACTIONS}
        counts["unchanged"] = self.unchanged
        counts["unmanaged"] = len(self.unmanaged)
        return counts

    @property
    def has_changes(self) -> bool:
        return bool(self.changes)

    @property
    def requests(self) -> int:
        """API calls apply needs: one per change, plus the list it starts with (one request per page)."""
        return len(self.changes) + max(1, self.list_pages)

    @property
    def plan_fingerprint(self) -> str:
        """A hash of what the plan does: equal for two plans that would send the same writes.

        Where a change was defined (file, line) is left out, so moving a definition
        or editing a comment does not make a reviewed plan look different."""
        # ``definitions`` guards the empty-prune check of a saved plan (an edit would change this hash);
        # ``remote_count`` needs no such help: apply counts the live remote itself.
        return _digest({"api_url": self.api_url, "changes": [c.effect() for c in self.changes],
                        "definitions": self.definitions})

    def summary_line(self) -> str:
        s = self.summary
        if not self.changes and self.unmanaged:
            # True even when definitions were deleted: the remote still holds what they made.
            n = len(self.unmanaged)
            return (f"No changes to the definitions' workflows; {n} unmanaged remote workflow{'s' if n != 1 else ''} "
                    "left alone (--prune deletes them).")
        if not self.changes:
            return "No changes. The remote matches the definitions."
        return f"Plan: {s['create']} to add, {s['update']} to change, {s['delete']} to destroy."

    # -- checks ---------------------------------------------------------------

    def check_fresh(self, fingerprint: str) -> None:
        """Refuse a saved plan when the remote changed after it was made."""
        if fingerprint != self.remote_fingerprint:
            raise StalePlan(
                "the remote changed since this plan was made (fingerprint "
                f"{self.remote_fingerprint[:19]} != {fingerprint[:19]}): nothing was changed; run plan again"
            )

    def check_reviewed(self, reviewed: set[str], what: str = "the reviewed plan") -> None:
        """Refuse when any change is not one of the reviewed changes (by ``Change.fingerprint``).

        A subset passes: after a partial apply, what remains was reviewed too."""
        unreviewed = [c for c in self.changes if c.fingerprint not in reviewed]
        if unreviewed:
            listed = ", ".join(f"{c.action} \"{c.name}\"" for c in unreviewed[:5]) + (" ..." if len(unreviewed) > 5 else "")
            raise StalePlan(
                f"{len(unreviewed)} change{'s' if len(unreviewed) != 1 else ''} not in {what}: {listed}; "
                "the remote or the definitions changed after review; nothing was changed"
            )

    def raise_if_unsafe(self, guards: Guards | None = None, *, prune: bool = False) -> None:
        """Refuse plans that would change too much of the remote (override with --force)."""
        guards = guards or Guards()
        existing = self.remote_count
        if existing < guards.min_existing:
            return  # Too few workflows for a share to mean anything.
        # Creates don't count: they never touch what exists.
        for action, limit in (("delete", guards.max_delete_share), ("update", guards.max_update_share)):
            count = len(self.of(action))
            share = count / existing
            if share > limit:
                raise TooMuchChange(
                    f"refusing to {action} {count} of {existing} remote workflows: "
                    f"{share:.2%} is over the {limit:.2%} threshold; review the plan and use --force to apply it"
                )

    def raise_if_empty_prune(self, source: str) -> None:
        """--prune with no definitions at all would delete everything: never, even with --force."""
        if self.definitions == 0 and self.of("delete"):
            raise UnsafePlan(
                f"no definitions found in {source}: refusing to delete {len(self.of('delete'))} remote workflows"
            )

    # -- JSON -----------------------------------------------------------------

    def to_json(self) -> dict[str, Any]:
        return {
            "format_version": FORMAT_VERSION,
            "api_url": self.api_url,
            "remote_fingerprint": self.remote_fingerprint,
            "plan_fingerprint": self.plan_fingerprint,
            "summary": self.summary,
            "changes": [{**c.to_json(), "fingerprint": c.fingerprint} for c in self.changes],
            "unmanaged": list(self.unmanaged),
            "requests": self.requests,
            "estimated_seconds": int(round(self.estimated_seconds)),
            "estimated_seconds_now": None if self.display.eta_now is None else int(round(self.display.eta_now)),
            "remote_count": self.remote_count,
            "definitions": self.definitions,
            "notes": list(self.notes),
            "env": self.env,
            "apply_would_refuse": self.refusal,
            "pinned_ids": list(self.pinned_ids),
            "rules": [f.to_json() for f in self.rule_findings],
        }

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> "Plan":
        if not isinstance(data, Mapping) or data.get("format_version") != FORMAT_VERSION:
            raise PlanError(f"not a voicebot-sync plan (format_version {FORMAT_VERSION} expected)")
        _check_schema(data)
        try:
            plan = cls(
                api_url=data["api_url"],
                remote_fingerprint=data["remote_fingerprint"],
                changes=[Change.from_json(c) for c in data.get("changes", [])],
                unchanged=int(data.get("summary", {}).get("unchanged", 0)),
                unmanaged=list(data.get("unmanaged", [])),
                remote_count=int(data.get("remote_count", 0)),
                estimated_seconds=float(data.get("estimated_seconds", 0)),
                definitions=int(data.get("definitions", 0)),
                notes=[str(n) for n in data.get("notes", [])],
                env=data.get("env"),
                pinned_ids=[str(i) for i in data.get("pinned_ids", [])],
                rule_findings=_findings(data.get("rules", [])),
            )
        except (KeyError, TypeError, ValueError) as exc:
            raise PlanError(f"plan file is incomplete: {exc}") from exc
        if data["plan_fingerprint"] != plan.plan_fingerprint:
            raise PlanError("plan file was edited after it was made (its plan_fingerprint does not match its changes)")
        return plan

    def check_targets(self, remote: Iterable[Mapping[str, Any]]) -> None:
        """Every update and delete must point at a remote workflow in scope that has the name it shows.

        A hand-edited plan could otherwise delete a workflow outside ``owns:`` under
        another workflow's name; refused whole, changing nothing."""
        by_id = {str(w.get("id")): w for w in remote}
        wrong = []
        for c in self.changes:
            if c.action == "create":
                continue
            expected = (c.before or {}).get("name", c.name) if c.action == "update" else c.name
            w = by_id.get(str(c.id))
            if w is None:
                wrong.append(f"{c.action} \"{c.name}\" points at id {c.id}, which is not a remote workflow in scope")
            elif w.get("name") != expected:
                wrong.append(f"{c.action} \"{c.name}\" points at id {c.id}, whose remote name is \"{w.get('name')}\"")
        if wrong:
            raise PlanError("the plan does not match the remote: " + "; ".join(wrong[:3])
                            + (" ..." if len(wrong) > 3 else "") + "; nothing was changed")

    def dump(self, path: str) -> None:
        from ..text.sinks import write_text

        write_text(path, json.dumps(self.to_json(), indent=2, ensure_ascii=False) + "\n", data=True)

    @classmethod
    def load(cls, path: str) -> "Plan":
        from ..text.safejson import load_file

        try:
            data = load_file(path)
        except OSError as exc:
            raise PlanError(f"cannot read plan file {path}: {exc.strerror}") from exc
        except json.JSONDecodeError as exc:
            raise PlanError(f"plan file {path} is not JSON: {exc.msg} at line {exc.lineno}") from exc
        except ValueError as exc:  # not UTF-8, nested too deeply
            raise PlanError(f"plan file {path} cannot be read: {exc}") from exc
        return cls.from_json(data)


def _findings(items: Any) -> list:
    """Team-rule findings of a saved plan (rules.Finding)."""
    from .rules import Finding

    return [Finding.from_json(item) for item in items or []]
