"""Match definitions to remote workflows and build the Plan.

Identity is the pinned ``id`` when a definition has one, else the name as ``model.name_key``
sees it (Unicode NFC), then as a server may have stored it (``loose_name_key``).
Equal pairs are recognised by plain dict equality of the normalised fields, and the
fields that differ are named by the same equality.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Iterable, Mapping, Protocol, Sequence

from .schedule import Window, least_time
from ..errors import MatchError, Problem
from .kept import Unkept
from .model import Scope, all_remote_fields, loose_name_key, name_key, remote_fields
from .plan import Change, Plan, remote_fingerprint
from .renames import match_previous_names, rename_hints


class DefinitionLike(Protocol):
    name: str
    id: str | None
    source: str
    line: int

    def desired(self) -> dict[str, Any]: ...


def changed_fields(before: Mapping[str, Any], after: Mapping[str, Any]) -> list[str]:
    """The managed fields that differ, by the same equality that found the pair changed (nested
    response_options compare by value). DeepDiff named them before, at 2 ms an update: a plan of
    100 updates spent 0.2 s on it, and its type-strict answer could disagree with the check that sent it."""
    return [f for f in after if before.get(f) != after[f]]


def _resolve_duplicates(d: DefinitionLike, matches: list[Mapping[str, Any]]) -> tuple[Mapping[str, Any] | None, Problem | None]:
    """Several remote workflows share a definition's name: adopt one when they are identical.

    Identical in every managed field, they are one workflow created twice (two
    applies at once, a lost answer): keep the oldest (then the smallest id), so every
    run picks the same one. When they differ, a person must choose: name every id
    and what differs."""
    fields = [all_remote_fields(w) for w in matches]
    if all(f == fields[0] for f in fields[1:]):
        kept = sorted(matches, key=lambda w: (str(w.get("created_at") or ""), str(w["id"])))[0]
        return kept, None
    differ = sorted({k for f in fields for k in set(f) | set(fields[0]) if f.get(k) != fields[0].get(k)})
    ids = ", ".join(str(w["id"]) for w in matches)
    return None, Problem(
        d.source, d.line,
        f"'{d.name}' matches {len(matches)} remote workflows ({ids}) that differ in {', '.join(differ)}: "
        f"pin the one to keep with id: in {d.source} (plan --prune then deletes the others), or delete the extras remotely",
    )


def _match_by(key, definitions, owned, claimed, pairs, problems, duplicates, dup_notes) -> list[DefinitionLike]:
    """Pair each definition with the unclaimed owned workflow(s) of the same ``key``; the ones left."""
    by_key: dict[str, list[Mapping[str, Any]]] = {}
    for w in owned:
        if str(w["id"]) not in claimed:
            by_key.setdefault(key(w.get("name", "")), []).append(w)
    left = []
    for d in definitions:
        name = key(d.name)
        matches = by_key.get(name, [])
        if not matches:
            left.append(d)
            continue
        if len(matches) > 1:
            kept, problem = _resolve_duplicates(d, matches)
            if problem:
                problems.append(problem)
                continue
            for w in matches:
                if w is not kept:
                    duplicates[str(w["id"])] = str(kept["id"])
            dup_notes.append(
                f"{len(matches)} remote workflows are named '{d.name}' and identical: adopted id {kept['id']} "
                f"(the oldest); the other{'s are' if len(matches) > 2 else ' is'} listed as duplicate"
                f"{'s' if len(matches) > 2 else ''}, and --prune deletes {'them' if len(matches) > 2 else 'it'}"
            )
            matches = [kept]
        claimed[str(matches[0]["id"])] = d
        by_key[name] = []  # one definition per workflow: a second of the same key creates
        pairs.append((d, matches[0]))
    return left


def _lookalike_creates(creates, remote, claimed) -> list[Problem]:
    """No command creates a workflow whose name a remote workflow already has, once Unicode forms and
    spaces are folded (contract section 4): not one another definition claimed, not one outside the
    scope. The server would hold two look-alikes, or one name twice once it normalised the new one."""
    if not creates:
        return []
    taken: dict[str, Mapping[str, Any]] = {}
    for w in remote:
        # The name each workflow will have once the plan ran: a claimed one takes its definition's.
        owner = claimed.get(str(w["id"]))
        taken.setdefault(loose_name_key(owner.name if owner is not None else w.get("name", "")), w)
    problems = []
    for d in creates:
        w = taken.get(loose_name_key(d.name))
        if w is None:
            continue
        owner = claimed.get(str(w["id"]))
        why = (f"which '{owner.name}' ({owner.source}) already manages" if owner is not None
               else "outside this repo's ownership scope")
        problems.append(Problem(
            d.source, d.line,
            f"'{d.name}' would be created beside remote workflow '{w.get('name')}' (id {w['id']}), {why}: "
            "the two names are the same once Unicode forms and spaces are folded; rename one, or pin id:"))
    return problems


@dataclass
class _Matching:
    """What matching found: each definition's remote workflow (or None: a create), and why not."""

    claimed: dict[str, DefinitionLike] = field(default_factory=dict)  # remote id -> its definition
    pairs: list[tuple[DefinitionLike, Mapping[str, Any] | None]] = field(default_factory=list)
    problems: list[Problem] = field(default_factory=list)
    duplicates: dict[str, str] = field(default_factory=dict)  # id of a duplicate -> id adopted in its place
    notes: list[str] = field(default_factory=list)


def match(definitions: Sequence[DefinitionLike], owned: list[Mapping[str, Any]],
          remote: list[Mapping[str, Any]]) -> _Matching:
    """Pair every definition with its remote workflow; raises MatchError with every problem."""
    m = _Matching()
    by_id = {str(w["id"]): w for w in owned}
    everywhere = {str(w["id"]) for w in remote}
    # Pinned ids first, so a rename (id pinned, name changed) claims its workflow
    # before any other definition could match it by its old name.
    for d in definitions:
        if d.id is None:
            continue
        w = by_id.get(str(d.id))
        if w is None:
            outside = " (it exists, but outside this repo's ownership scope)" if str(d.id) in everywhere else ""
            m.problems.append(Problem(d.source, d.line, f"'{d.name}' pins id {d.id}, which does not exist remotely{outside}"))
            continue
        m.claimed[str(d.id)] = d
        m.pairs.append((d, w))
    unpinned = [d for d in definitions if d.id is None]
    # By the one identity of a name (NFC) first, then by what a server may store of it (compatibility
    # forms, spaces): a definition finds the workflow it made even where the server changed its name.
    for key in (name_key, loose_name_key):
        if unpinned:  # every definition matched: the next pass has nothing to look for
            unpinned = _match_by(key, unpinned, owned, m.claimed, m.pairs, m.problems, m.duplicates, m.notes)
    # Then by a name it had (previous_names): only where no workflow has the current name.
    unpinned = match_previous_names(unpinned, owned, m.claimed, m.pairs, m.problems, m.notes)
    m.pairs.extend((d, None) for d in unpinned)
    m.problems.extend(_lookalike_creates(unpinned, remote, m.claimed))
    if m.problems:
        raise MatchError(m.problems)
    return m


def compare(pairs, normalised: Mapping[str, dict[str, Any]], not_kept: Unkept) -> tuple[list[Change], list[Change], int]:
    """(creates, updates, how many are unchanged) for the matched pairs."""
    creates: list[Change] = []
    updates: list[Change] = []
    unchanged = 0
    for d, w in pairs:
        desired = d.desired()
        if w is None:
            creates.append(Change("create", d.name, None, d.source, None, desired, d.line))
            continue
        desired = not_kept.compared(desired)  # a field the server drops would be an update every run
        known = normalised[str(w["id"])]
        if known.keys() == desired.keys():  # the usual case: the same fields on both sides
            current = known
        elif all(f in known for f in desired):
            current = {f: known[f] for f in desired}
        else:
            current = remote_fields(w, tuple(desired))
        if current == desired:
            unchanged += 1
            continue
        fields = changed_fields(current, desired)
        updates.append(Change("update", d.name, str(w["id"]), d.source,
                              {f: current[f] for f in fields}, {f: desired[f] for f in fields}, d.line))
    return creates, updates, unchanged


def leftovers(owned, m: _Matching, prune: bool) -> tuple[list, list[Change], list[dict[str, Any]]]:
    """Owned workflows no definition claimed: (them, their deletes with --prune, else the unmanaged list)."""
    left = sorted((w for w in owned if str(w["id"]) not in m.claimed), key=lambda w: (str(w.get("name")), str(w["id"])))
    deletes: list[Change] = []
    unmanaged: list[dict[str, Any]] = []
    for w in left:
        if prune:
            deletes.append(Change("delete", str(w.get("name", "")), str(w["id"]), None, all_remote_fields(w), None))
            continue
        entry = {"name": w.get("name"), "id": str(w["id"])}
        if str(w["id"]) in m.duplicates:
            entry["duplicate_of"] = m.duplicates[str(w["id"])]
        unmanaged.append(entry)
    return left, deletes, unmanaged


def make_plan(
    definitions: Sequence[DefinitionLike],
    remote: Iterable[Mapping[str, Any]],
    *,
    api_url: str,
    windows: Sequence[Window] = (),
    prune: bool = False,
    scope: Scope | None = None,
    unkept: Iterable[str] = (),
) -> Plan:
    """The plan that makes ``remote`` match ``definitions``: match, compare, build.
    ``unkept``: fields this server does not keep (never compared)."""
    scope = scope or Scope()
    not_kept = Unkept(unkept)
    remote = list(remote)
    pinned = [str(d.id) for d in definitions if d.id is not None and scope.contains(d.name)]
    owned = scope.owned(remote, pinned)
    # Every owned workflow normalised once: for the comparison and the fingerprint alike.
    normalised = {str(w["id"]): all_remote_fields(w) for w in owned}
    m = match(definitions, owned, remote)
    creates, updates, unchanged = compare(m.pairs, normalised, not_kept)
    left, deletes, unmanaged = leftovers(owned, m, prune)
    notes = m.notes + rename_hints(creates, left, pruned=prune) + not_kept.notes()
    outside = len(remote) - len(owned)
    if outside:
        notes.append(f"{outside} remote workflow{'s' if outside != 1 else ''} outside this repo's scope ({scope.describe()}) ignored")
    # Creates first, then updates, then deletes: a rename never passes through a gap.
    changes = creates + updates + deletes
    return Plan(
        api_url=api_url,
        remote_fingerprint=remote_fingerprint(owned, normalised),
        changes=changes,
        unchanged=unchanged,
        unmanaged=unmanaged,
        remote_count=len(owned),
        estimated_seconds=least_time(len(changes) + 1, windows),
        definitions=len(definitions),
        notes=notes,
        remote_names={str(w.get("name")) for w in owned},
        managed={d.name: str(w["id"]) for d, w in m.pairs if w is not None},
        pinned_ids=sorted(pinned),
    )
