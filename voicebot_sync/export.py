"""Remote workflows as definition files: one YAML file each, round-trip exact.

A plan of the exported directory against the same remote shows no changes:
the files hold exactly the normalised managed fields, and multi-line text is
written as a block scalar so that it reads (and diffs) like the message itself.
"""

from __future__ import annotations

import os
import re
import unicodedata
from typing import Any, Iterable, Mapping

import yaml

from .doors import write_text
from .model import all_remote_fields

HEADER = "# yaml-language-server: $schema=https://raw.githubusercontent.com/voicebot-sync/voicebot-sync/main/voicebot_sync/schemas/workflow.schema.json\n"


def slugify(name: str) -> str:
    """'Lab results – ready!' -> 'lab-results-ready'."""
    ascii_name = unicodedata.normalize("NFKD", name).encode("ascii", "ignore").decode("ascii")
    slug = re.sub(r"[^a-z0-9]+", "-", ascii_name.lower()).strip("-")
    return slug[:80].strip("-") or "workflow"


class _BlockDumper(yaml.SafeDumper):
    pass


def _str_representer(dumper: yaml.SafeDumper, value: str):
    # Block style only where it round-trips: no trailing spaces on a line, no tabs.
    if "\n" in value and not any(line != line.rstrip() for line in value.split("\n")) and "\t" not in value:
        return dumper.represent_scalar("tag:yaml.org,2002:str", value, style="|")
    return dumper.represent_scalar("tag:yaml.org,2002:str", value)


_BlockDumper.add_representer(str, _str_representer)


def to_yaml(workflow: Mapping[str, Any], *, with_id: bool = False) -> str:
    fields = all_remote_fields(workflow)
    doc: dict[str, Any] = {}
    # A name with surrounding whitespace is kept exactly, and pinned by id: a server
    # may trim it one day, and then only the id would still find it.
    if with_id or fields["name"] != fields["name"].strip() or not fields["name"]:
        doc["id"] = str(workflow["id"])
    doc.update(fields)
    if not doc.get("description"):
        doc.pop("description", None)
    body = yaml.dump(doc, Dumper=_BlockDumper, sort_keys=False, allow_unicode=True, width=1000)
    return HEADER + body


def existing_definitions(out_dir: str) -> list[str]:
    """YAML files already in ``out_dir`` (any depth): export would overwrite or sit beside them."""
    found = []
    for dirpath, _dirs, files in os.walk(out_dir):
        found += [os.path.join(dirpath, f) for f in files if f.lower().endswith((".yaml", ".yml"))]
    return sorted(found)


def write_export(remote: Iterable[Mapping[str, Any]], out_dir: str, *, with_ids: bool = False,
                 force: bool = False) -> list[tuple[str, Mapping[str, Any]]]:
    """Write one file per workflow; returns (path, workflow) pairs.

    A directory that already holds definitions is refused unless ``force``: the
    files there may carry parameters, comments and overrides that export cannot know."""
    from .errors import ConfigError, FileError

    existing = existing_definitions(out_dir) if os.path.isdir(out_dir) else []
    if existing and not force:
        raise ConfigError(f"{out_dir} already holds {len(existing)} definition file{'s' if len(existing) != 1 else ''} "
                          f"(such as {existing[0]}): export into an empty directory, or pass --force to overwrite")
    try:
        os.makedirs(out_dir, exist_ok=True)
    except OSError as exc:
        raise FileError.from_os_error(exc, out_dir) from exc
    taken: set[str] = set()
    written = []
    for w in sorted(remote, key=lambda w: (str(w.get("name", "")), str(w["id"]))):
        base = slugify(str(w.get("name", "")))
        stem, n = base, 2
        while stem in taken:
            stem, n = f"{base}-{n}", n + 1
        taken.add(stem)
        path = os.path.join(out_dir, stem + ".yaml")
        write_text(path, to_yaml(w, with_id=with_ids), data=True)
        written.append((path, w))
    return written
