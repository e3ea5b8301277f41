"""Renames that keep their id: ``previous_names`` (Terraform's ``moved``) and the "looks like a rename" hint.

A definition may list the names it had before. When no remote workflow has its current
name, the one unclaimed owned workflow that has a previous name (compared through
``model.name_key``) is renamed in place: an ``update`` of ``name``, its id kept, in every
environment alike, with no per-environment id. The planner calls ``match_previous_names``
as one more matching pass, after the passes by name, so a workflow that still has the
current name always wins over a previous one.

When nothing was declared, a create beside an unmanaged (or pruned) workflow with the same
message and type is most likely a rename made in the file alone: ``rename_hints`` says so and
shows what to write, before the id is lost.
"""

from __future__ import annotations

import json
from typing import Any, Iterable, Iterator, Mapping, Sequence

from ..errors import Problem
from ..text.escaping import short
from .model import name_key, remote_fields


def previous_names(definition: Any) -> tuple[str, ...]:
    """The names a definition says it had (none for objects that do not carry them, such as test doubles)."""
    names = getattr(definition, "previous_names", None) or ()
    return tuple(str(n) for n in names)


def match_previous_names(definitions, owned, claimed, pairs, problems, notes) -> list:
    """Pair each definition left unmatched by name with the one unclaimed owned workflow that has
    one of its previous names; return the definitions still left (they are creates)."""
    by_key: dict[str, list[Mapping[str, Any]]] = {}
    for w in owned:
        if str(w["id"]) not in claimed:
            by_key.setdefault(name_key(w.get("name", "")), []).append(w)
    left = []
    for d in definitions:
        keys = dict.fromkeys(name_key(p) for p in previous_names(d))
        matches = [w for k in keys for w in by_key.get(k, []) if str(w["id"]) not in claimed]
        if not matches:
            left.append(d)
            continue
        if len(matches) > 1:
            listed = ", ".join(f"'{w.get('name')}' (id {w['id']})" for w in matches)
            problems.append(Problem(
                d.source, d.line,
                f"'{d.name}' lists previous names that match {len(matches)} remote workflows: {listed}; "
                f"keep only the one to rename in previous_names, or pin it with id: in {d.source}"))
            continue
        w = matches[0]
        claimed[str(w["id"])] = d
        pairs.append((d, w))
        notes.append(f"'{d.name}' was '{w.get('name')}' (previous_names in {d.source}): "
                     f"renamed in place, id {w['id']} kept")
    return left


def rename_hints(creates, leftovers: Sequence[Mapping[str, Any]], *, pruned: bool) -> list[str]:
    """'this looks like a rename' for each create whose message and type an unmanaged (or, with
    --prune, deleted) workflow has: the way to keep that workflow's id, spelt out."""
    free = list(leftovers)
    hints = []
    for c in creates:
        after = c.after or {}
        for w in free:
            theirs = remote_fields(w, ("message", "workflow_type"))
            if theirs["message"] == after.get("message") and theirs["workflow_type"] == after.get("workflow_type"):
                free.remove(w)
                fate = "deleted by --prune" if pruned else "left unmanaged"
                old = json.dumps(str(w.get("name", "")), ensure_ascii=False)
                hints.append(
                    f"this looks like a rename: '{c.name}' would be created and '{w.get('name')}' (id {w['id']}) "
                    f"{fate}, with the same message and type; to rename it in place and keep its id, "
                    f"add previous_names: [{old}] to {c.source}")
                break
    return hints


def previous_name_problems(definitions: Iterable[Any]) -> Iterator[Problem]:
    """A previous name that is the definition's own name, another definition's name, or another
    definition's previous name: each would make a rename ambiguous, so validate refuses it."""
    definitions = list(definitions)
    names = {name_key(d.name): d for d in definitions}
    claimed: dict[str, Any] = {}
    for d in definitions:
        for i, previous in enumerate(previous_names(d)):
            line = getattr(d, "key_lines", {}).get(f"previous_names.{i}", d.line)
            key = name_key(previous)
            owner = names.get(key)
            if owner is d:
                yield Problem(d.source, line, f"previous_names: {short(previous)} is this workflow's own name")
            elif owner is not None:
                yield Problem(d.source, line, f"previous_names: {short(previous)} is the name of the workflow "
                              f"defined at {owner.source}:{owner.line}; a previous name must be free")
            first = claimed.setdefault(key, d)
            if first is not d:
                yield Problem(d.source, line, f"previous_names: {short(previous)} is also a previous name of "
                              f"{short(first.name)} ({first.source}:{first.line}); only one workflow can be renamed from it")
