"""Fields a server does not keep: found after each write, said once, remembered in the config.

Later versions of the API documentation add optional fields (``include_reply``,
``response_options``, ``call_back_url``); a server of an earlier version accepts them and
drops them without a word. Compared as usual, such a field never converges: every plan
shows it as an update, every apply sends the same PUT again, every drift check fails.

So the executor compares what the server answered to a create or an update with what it
sent (``unkept_fields``) and warns once per field and run, naming the workflow and the way
out; ``unkept_fields: [...]`` in ``voicebot-sync.yaml`` (top level or per environment)
records what was learned, for every machine and CI alike: the planner then leaves those
fields out of the comparison (``Unkept``) and says so once in a plan note. Creates still
send them, so a server that starts keeping them gets them. Fields the server keeps are
compared exactly as before.
"""

from __future__ import annotations

from typing import Any, Iterable, Mapping

from ..text.escaping import visible
from .model import MANAGED_FIELDS, OPTIONAL_FIELDS, normalise_field, remote_fields

CONFIG_KEY = "unkept_fields"


def unkept_fields(sent: Mapping[str, Any], answered: Any) -> list[str]:
    """The managed fields of ``sent`` that ``answered`` (the server's record after the write) lacks or changed.

    An answer that is not a whole record (no name or message: some servers answer a write with
    the id alone) says nothing about what was kept: nothing is reported for it."""
    if not isinstance(answered, Mapping) or not all(isinstance(answered.get(k), str) for k in ("name", "message")):
        return []
    missing = []
    for name, value in sent.items():
        if name not in MANAGED_FIELDS:
            continue
        aliased = name == "response_options" and ("option_one" in answered or "option_two" in answered)
        if name in OPTIONAL_FIELDS and answered.get(name) is None and not aliased:
            missing.append(name)  # absent (or null): not kept, whatever the value sent
        elif remote_fields(answered, (name,))[name] != normalise_field(name, value):
            missing.append(name)
    return missing


def config_line(fields: Iterable[str]) -> str:
    """The line that records ``fields`` in voicebot-sync.yaml."""
    return f"{CONFIG_KEY}: [{', '.join(sorted(set(fields)))}]"


def warning(field: str, workflow: str, source: str | None) -> str:
    """One line: the field, the workflow, and what to do."""
    where = f" in {visible(source)}" if source else ""
    if field not in OPTIONAL_FIELDS:
        return (f"warning: the server did not keep {field} of \"{visible(workflow)}\" as sent (its answer differs): "
                f"the next plan shows it as a change again; check the value{where}")
    return (f"warning: the server did not keep {field} of \"{visible(workflow)}\" (its answer lacks it): this server "
            f"ignores {field}, so every plan would change it again; remove {field}{where}, or add "
            f"`{config_line([field])}` to voicebot-sync.yaml (top level, or under the environment) so plans "
            "stop comparing it")


class KeptCheck:
    """The executor's check after each create and update: a warning per field and run, none for known fields."""

    def __init__(self, known: Iterable[str] = ()):
        self.known = set(known)
        self.found: dict[str, str] = {}  # field -> the first workflow it was found on

    def warnings(self, workflow: str, source: str | None, sent: Mapping[str, Any], answered: Any) -> dict[str, str]:
        """field -> its warning, for the fields not kept that were not said before in this run."""
        out = {}
        for field in unkept_fields(sent, answered):
            if field in self.known or field in self.found:
                continue
            self.found[field] = workflow
            out[field] = warning(field, workflow, source)
        return out


class Unkept:
    """The planner's side: fields recorded as not kept are left out of every comparison, and said once."""

    def __init__(self, fields: Iterable[str] = ()):
        self.fields = frozenset(f for f in fields if f in OPTIONAL_FIELDS)
        self.skipped: dict[str, int] = {}  # field -> definitions that set it and were not compared on it

    def compared(self, desired: dict[str, Any]) -> dict[str, Any]:
        """``desired`` without the fields this server does not keep (the same dict when there are none)."""
        if not self.fields or not self.fields & desired.keys():
            return desired
        for field in self.fields & desired.keys():
            self.skipped[field] = self.skipped.get(field, 0) + 1
        return {f: v for f, v in desired.items() if f not in self.fields}

    def notes(self) -> list[str]:
        if not self.skipped:
            return []
        parts = ", ".join(f"{f} (set in {n} definition{'s' if n != 1 else ''})" for f, n in sorted(self.skipped.items()))
        return [f"not kept by this server ({CONFIG_KEY} in the config): {parts}: not compared, so never "
                "shown as a change; creates still send them"]
