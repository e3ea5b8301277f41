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

from ..text.sinks import write_text
from ..core.model import all_remote_fields

MODELINE_PREFIX = "# yaml-language-server: $schema="
SCHEMAS_DIR = "schemas"  # where `init` copies the schemas, below the repository root
# Windows refuses these as file names, with any extension.
_RESERVED_STEMS = {"con", "prn", "aux", "nul", *(f"com{i}" for i in range(10)), *(f"lpt{i}" for i in range(10))}
SLUG_MAX_CHARS = 80
SLUG_MAX_BYTES = 200  # UTF-8: a file name is at most 255 bytes on most file systems, with room for "-NN.yaml"


def schema_id(kind: str = "workflow") -> str:
    """The ``$id`` of a packaged schema (``workflow`` or ``config``): the one name of that schema everywhere."""
    import json
    from importlib.resources import files

    text = files("voicebot_sync").joinpath("schemas", f"{kind}.schema.json").read_text(encoding="utf-8")
    return str(json.loads(text)["$id"])


def modeline_for(path_of_yaml_file: str, root: str, *, kind: str = "workflow") -> str:
    """The yaml-language-server modeline for a file (one line, no newline).

    Relative from the file's directory to ``<root>/schemas/<kind>.schema.json`` when that
    file exists and the YAML file is inside ``root`` (as `init` lays a repository out), so
    it resolves offline and in every clone; else the packaged schema's ``$id``."""
    target = os.path.abspath(os.path.join(root, SCHEMAS_DIR, f"{kind}.schema.json"))
    here = os.path.dirname(os.path.abspath(path_of_yaml_file))
    root_abs = os.path.abspath(root)
    inside = here == root_abs or here.startswith(root_abs.rstrip(os.sep) + os.sep)
    if inside and os.path.isfile(target):
        try:
            relative = os.path.relpath(target, here)
        except ValueError:  # another drive on Windows
            relative = None
        if relative is not None:
            return MODELINE_PREFIX + relative.replace(os.sep, "/")
    return MODELINE_PREFIX + schema_id(kind)


_DOC_START = re.compile(r"^---(?=[ \t\r\n]|$)")
_MODELINE = re.compile(r"^#[ \t]*yaml-language-server:[ \t]*\$schema=")


def _split_lines(text: str) -> list[str]:
    return text.splitlines(keepends=True) if text else []


def _structure(text: str) -> tuple[list[int], set[int], bool] | None:
    """(lines of real ``---`` markers, lines inside a multi-line scalar, whether the first document
    starts with ``---``), from YAML's own scanner; None when the text does not scan."""
    starts: list[int] = []
    inside: set[int] = set()
    first_explicit = None
    try:
        for token in yaml.scan(text, Loader=yaml.SafeLoader):
            if isinstance(token, (yaml.StreamStartToken, yaml.StreamEndToken, yaml.DirectiveToken)):
                continue
            if isinstance(token, yaml.DocumentStartToken):
                starts.append(token.start_mark.line)
            elif isinstance(token, yaml.ScalarToken):
                # A block scalar ends at the start of the line after it: that line is not inside.
                last = token.end_mark.line - (1 if token.end_mark.column == 0 else 0)
                inside.update(range(token.start_mark.line + 1, last + 1))
            if first_explicit is None:
                first_explicit = isinstance(token, yaml.DocumentStartToken)
    except yaml.YAMLError:
        return None
    return starts, inside, bool(first_explicit)


def with_modelines(yaml_text: str, modeline: str) -> str:
    """``yaml_text`` with ``modeline`` at the top and after every ``---``: editors read a modeline per document.

    A modeline already there (in a comment line of its own) is replaced, so running it again changes
    nothing. Content on a ``---`` line moves to the line after the modeline. When the text does not
    scan as YAML, ``---`` and modelines are found line by line."""
    modeline = modeline.rstrip("\r\n")
    lines = _split_lines(yaml_text)
    found = _structure(yaml_text)
    if found is None:
        starts = [i for i, line in enumerate(lines) if _DOC_START.match(line)]
        inside: set[int] = set()
        first_content = next((line for line in lines if line.strip() and not line.lstrip().startswith(("#", "%"))), "")
        first_explicit = bool(_DOC_START.match(first_content))
    else:
        starts, inside, first_explicit = found
    start_set = set(starts)
    out: list[str] = [] if first_explicit else [modeline + "\n"]
    for i, line in enumerate(lines):
        if i not in inside and _MODELINE.match(line):
            continue  # an old modeline: the new one takes its place
        if i in start_set and i not in inside:
            rest = line[3:]
            body = rest.strip()
            if body and not body.startswith("#"):
                out += ["---\n", modeline + "\n", rest.lstrip(" \t")]
            else:
                out += [line if line.endswith("\n") else line + "\n", modeline + "\n"]
            continue
        out.append(line)
    result = "".join(out)
    # Never change what the documents say: check it, and keep the simplest form when in doubt.
    try:
        same = list(yaml.safe_load_all(yaml_text)) == list(yaml.safe_load_all(result))
    except yaml.YAMLError:
        same = found is None  # unparseable before: nothing to compare against
    if not same:
        return yaml_text if yaml_text.startswith(modeline + "\n") else modeline + "\n" + yaml_text
    return result


HEADER = MODELINE_PREFIX + schema_id("workflow") + "\n"  # when no schemas/ of the repository's own is at hand


def slugify(name: str) -> str:
    """A file name stem for a workflow name: its letters and digits in any script, casefolded, runs of anything
    else as '-' ('Lab results – ready!' -> 'lab-results-ready', 'Напоминание' -> 'напоминание',
    '予約リマインダー' -> '予約リマインダー'); no transliteration. Never holds a separator, control character
    or NUL; at most 80 characters and 200 UTF-8 bytes; 'workflow' when nothing is left."""
    text = unicodedata.normalize("NFC", unicodedata.normalize("NFKC", str(name)).casefold())
    text = re.sub(r"(?<=\w)['\u2019\u02bc](?=\w)", "", text)  # it's -> its, not it-s
    kept = []
    for ch in text:
        category = unicodedata.category(ch)
        kept.append(ch if category[0] in "LN" or (category[0] == "M" and kept and kept[-1] != "-") else "-")
    slug = re.sub(r"-{2,}", "-", "".join(kept)).strip("-")
    slug = slug[:SLUG_MAX_CHARS]
    while len(slug.encode("utf-8", "surrogatepass")) > SLUG_MAX_BYTES:
        slug = slug[:-1]
    slug = slug.strip("-")
    if not slug:
        return "workflow"
    if slug in _RESERVED_STEMS:
        slug += "-workflow"
    return slug


class _BlockDumper(yaml.SafeDumper):
    pass


def _str_representer(dumper: yaml.SafeDumper, value: str):
    # Block style only where it round-trips: no trailing spaces on a line, no tabs.
    if "\n" in value and not any(line != line.rstrip() for line in value.split("\n")) and "\t" not in value:
        return dumper.represent_scalar("tag:yaml.org,2002:str", value, style="|")
    return dumper.represent_scalar("tag:yaml.org,2002:str", value)


_BlockDumper.add_representer(str, _str_representer)


def to_yaml(workflow: Mapping[str, Any], *, with_id: bool = False, modeline: str | None = None) -> str:
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
    header = HEADER if modeline is None else modeline.rstrip("\r\n") + "\n"
    return header + body


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
    from ..errors import ConfigError, FileError

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
    # Relative to the schemas of the repository export is run in (`init` writes them), else the $id.
    modeline = modeline_for(os.path.join(out_dir, "workflow.yaml"), os.getcwd())
    for w in sorted(remote, key=lambda w: (str(w.get("name", "")), str(w["id"]))):
        base = slugify(str(w.get("name", "")))
        stem, n = base, 2
        while stem in taken:
            stem, n = f"{base}-{n}", n + 1
        taken.add(stem)
        path = os.path.join(out_dir, stem + ".yaml")
        write_text(path, to_yaml(w, with_id=with_ids, modeline=modeline), data=True)
        written.append((path, w))
    return written
