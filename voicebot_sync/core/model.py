"""The managed fields of a workflow and their normalisation.

This is the one place that decides what is compared and what is sent: local
definitions and remote workflows both pass through ``normalise`` before the
planner compares them, so a server that trims whitespace or returns ``null``
for an empty description never shows up as a change.
"""

from __future__ import annotations

import unicodedata
from typing import Any, Iterable, Mapping

WORKFLOW_TYPES = ("ROBOCALL", "CONVERSATION")
DEFAULT_WORKFLOW_TYPE = "ROBOCALL"

# Always compared and sent.
CORE_FIELDS = ("name", "description", "workflow_type", "message")
# Compared and sent only when the definition sets them (later API versions).
OPTIONAL_FIELDS = ("include_reply", "response_options", "call_back_url")
MANAGED_FIELDS = CORE_FIELDS + OPTIONAL_FIELDS
# Keys a definition file may hold besides the managed fields.
LOCAL_KEYS = ("id", "parameters", "environments", "previous_names")

MAX_MESSAGE_LENGTH = 1000


def name_key(name: Any) -> str:
    """The one identity of a name (contract section 4): names equal after Unicode NFC are one
    workflow, in the repository and on the remote. validate, the planner, the executor's checks
    and the journal all compare names through this function, never with ``==``."""
    return unicodedata.normalize("NFC", "" if name is None else str(name))


def loose_name_key(name: Any) -> str:
    """What a server may make of a name it stores: compatibility forms folded (NFKC), runs of white
    space collapsed to one space, surrounding space trimmed. Two names equal under this key are
    never both created: the second would be a look-alike, or the same workflow once stored."""
    return " ".join(unicodedata.normalize("NFKC", "" if name is None else str(name)).split())


def normalise_text(value: Any) -> str:
    """``None`` -> ``""``; trailing whitespace dropped (YAML block scalars add a newline)."""
    if type(value) is str:  # the usual case, first: 80,000 calls in a plan of 10,000 workflows
        return value.rstrip()
    return "" if value is None else str(value).rstrip()


def normalise_response_options(value: Any) -> Any:
    """Keys as strings, values as trimmed strings, sorted by key; other shapes pass as they are."""
    if isinstance(value, Mapping):
        return {str(k): normalise_text(v) for k, v in sorted(value.items(), key=lambda kv: str(kv[0]))}
    return value


def _name(value: Any) -> str:
    # One notion of a name: matched exactly as it is sent and as the server has it.
    # (validate refuses surrounding whitespace in a name-matched definition.)
    return "" if value is None else str(value)


def _workflow_type(value: Any) -> str:
    return str(value).strip().upper() if value is not None else DEFAULT_WORKFLOW_TYPE


def _include_reply(value: Any) -> bool:
    return bool(value) if value is not None else False


# Each managed field's normalisation, looked up once per field (a plan of 10,000 workflows
# normalises 80,000 values).
_NORMALISE = {"name": _name, "description": normalise_text, "message": normalise_text, "call_back_url": normalise_text,
              "workflow_type": _workflow_type, "include_reply": _include_reply,
              "response_options": normalise_response_options}


def normalise_field(field: str, value: Any) -> Any:
    normalise = _NORMALISE.get(field)
    return value if normalise is None else normalise(value)


def desired_fields(definition: Mapping[str, Any]) -> dict[str, Any]:
    """The managed fields of a definition, normalised: what is compared and what is sent."""
    get = definition.get
    fields = {f: _NORMALISE[f](get(f)) for f in CORE_FIELDS}
    for f in OPTIONAL_FIELDS:
        if f in definition:
            fields[f] = _NORMALISE[f](definition[f])
    return fields


def remote_fields(workflow: Mapping[str, Any], fields: tuple[str, ...] | list[str] = CORE_FIELDS) -> dict[str, Any]:
    """The given managed fields of a remote workflow, normalised the same way as a definition's."""
    out = {}
    get = workflow.get
    for f in fields:
        value = get(f)
        if f == "response_options" and value is None and ("option_one" in workflow or "option_two" in workflow):
            # One API version spells the two options as separate strings.
            value = {k: workflow[o] for k, o in (("1", "option_one"), ("2", "option_two")) if workflow.get(o)}
        out[f] = normalise_field(f, value)
    return out


def all_remote_fields(workflow: Mapping[str, Any]) -> dict[str, Any]:
    """Every managed field the remote workflow carries (core ones always): what export writes."""
    present = [f for f in OPTIONAL_FIELDS if workflow.get(f) is not None]
    if "response_options" not in present and (workflow.get("option_one") or workflow.get("option_two")):
        present.append("response_options")
    return remote_fields(workflow, CORE_FIELDS + tuple(present))


class Scope:
    """Which remote workflows this repo owns: a name prefix and/or an explicit list of names.

    Workflows outside the scope are neither compared nor pruned, so two repos (or
    two teams) can share one account. The empty scope owns everything."""

    def __init__(self, prefix: str | None = None, names: Iterable[str] | None = None):
        self.prefix = prefix or None
        self.names = frozenset(names or ())

    @property
    def everything(self) -> bool:
        return self.prefix is None and not self.names

    def contains(self, name: str) -> bool:
        if self.everything:
            return True
        return (self.prefix is not None and name.startswith(self.prefix)) or name in self.names

    def owned(self, remote: Iterable[Mapping[str, Any]], also_ids: Iterable[str] = ()) -> list[Mapping[str, Any]]:
        """The remote workflows this repo owns: in scope by name, or claimed by a pinned id.

        A definition that pins an id and has an in-scope name owns that workflow even
        while its remote name is outside the scope: that is a rename into the scope,
        and ``owns: names`` need not list the old name. The one ownership filter: the
        planner and the saved-plan check both use it, so their fingerprints agree."""
        if self.everything:
            return list(remote)
        extra = {str(i) for i in also_ids}
        return [w for w in remote if self.contains(str(w.get("name", ""))) or str(w.get("id")) in extra]

    def describe(self) -> str:
        parts = []
        if self.prefix is not None:
            parts.append(f"names starting with {self.prefix!r}")
        if self.names:
            parts.append(f"{len(self.names)} listed name{'s' if len(self.names) != 1 else ''}")
        return " or ".join(parts) or "every workflow"
