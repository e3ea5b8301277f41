"""Match definitions to remote workflows and build the Plan.

Identity is the pinned ``id`` when a definition has one, else the exact name.
Equal pairs are recognised by plain dict equality of the normalised fields;
only pairs that differ pay for a DeepDiff, which names the changed fields.
"""

from __future__ import annotations

from typing import Any, Iterable, Mapping, Protocol, Sequence

from .durations import Window
from .errors import MatchError, Problem
from .model import Scope, all_remote_fields, remote_fields
from .plan import Change, Plan, remote_fingerprint
from .ratelimit import least_time


class DefinitionLike(Protocol):
    name: str
    id: str | None
    source: str
    line: int

    def desired(self) -> dict[str, Any]: ...


def changed_fields(before: Mapping[str, Any], after: Mapping[str, Any]) -> list[str]:
    """The managed fields that differ (DeepDiff, so nested response_options compare by value)."""
    from deepdiff import DeepDiff

    diff = DeepDiff(dict(before), dict(after), verbose_level=0)
    fields = {str(key) for key in diff.affected_root_keys}
    return [f for f in after if f in fields]


def make_plan(
    definitions: Sequence[DefinitionLike],
    remote: Iterable[Mapping[str, Any]],
    *,
    api_url: str,
    windows: Sequence[Window] = (),
    prune: bool = False,
    scope: Scope | None = None,
) -> Plan:
    """The plan that makes ``remote`` match ``definitions``."""
    scope = scope or Scope()
    remote = list(remote)
    owned = [w for w in remote if scope.contains(str(w.get("name", "")))]
    by_id = {str(w["id"]): w for w in owned}
    everything_by_id = {str(w["id"]): w for w in remote}

    problems: list[Problem] = []
    claimed: dict[str, DefinitionLike] = {}
    pairs: list[tuple[DefinitionLike, Mapping[str, Any] | None]] = []

    # Pinned ids first, so a rename (id pinned, name changed) claims its workflow
    # before any other definition could match it by its old name.
    for d in definitions:
        if d.id is None:
            continue
        w = by_id.get(str(d.id))
        if w is None:
            outside = " (it exists, but outside this repo's ownership scope)" if str(d.id) in everything_by_id else ""
            problems.append(Problem(d.source, d.line, f"'{d.name}' pins id {d.id}, which does not exist remotely{outside}"))
            continue
        claimed[str(d.id)] = d
        pairs.append((d, w))

    by_name: dict[str, list[Mapping[str, Any]]] = {}
    for w in owned:
        if str(w["id"]) not in claimed:
            by_name.setdefault(str(w.get("name", "")), []).append(w)
    for d in definitions:
        if d.id is not None:
            continue
        matches = by_name.get(d.name, [])
        if len(matches) > 1:
            ids = ", ".join(str(w["id"]) for w in matches)
            problems.append(
                Problem(d.source, d.line, f"'{d.name}' matches {len(matches)} remote workflows ({ids}): pin one with id:")
            )
            continue
        if matches:
            claimed[str(matches[0]["id"])] = d
        pairs.append((d, matches[0] if matches else None))
    if problems:
        raise MatchError(problems)

    creates: list[Change] = []
    updates: list[Change] = []
    unchanged = 0
    for d, w in pairs:
        desired = d.desired()
        if w is None:
            creates.append(Change("create", d.name, None, d.source, None, desired, d.line))
            continue
        current = remote_fields(w, tuple(desired))
        if current == desired:
            unchanged += 1
            continue
        fields = changed_fields(current, desired)
        updates.append(
            Change(
                "update", d.name, str(w["id"]), d.source,
                {f: current[f] for f in fields}, {f: desired[f] for f in fields}, d.line,
            )
        )

    leftovers = sorted((w for w in owned if str(w["id"]) not in claimed), key=lambda w: (str(w.get("name")), str(w["id"])))
    deletes: list[Change] = []
    unmanaged: list[dict[str, Any]] = []
    for w in leftovers:
        if prune:
            deletes.append(Change("delete", str(w.get("name", "")), str(w["id"]), None, all_remote_fields(w), None))
        else:
            unmanaged.append({"name": w.get("name"), "id": str(w["id"])})

    notes = []
    outside = len(remote) - len(owned)
    if outside:
        notes.append(f"{outside} remote workflow{'s' if outside != 1 else ''} outside this repo's scope ({scope.describe()}) ignored")

    # Creates first, then updates, then deletes: a rename never passes through a gap.
    changes = creates + updates + deletes
    return Plan(
        api_url=api_url,
        remote_fingerprint=remote_fingerprint(owned),
        changes=changes,
        unchanged=unchanged,
        unmanaged=unmanaged,
        remote_count=len(owned),
        estimated_seconds=least_time(len(changes) + 1, windows),
        definitions=len(definitions),
        notes=notes,
    )
