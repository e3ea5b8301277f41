"""The one reader of YAML files with line numbers: definition files and the config file.

Reading a file (``read_text``): only a regular file is ever opened (a FIFO would
block, a device may act on open); it is checked before opening, opened
non-blocking and checked again, read bounded, and decoded strictly as UTF-8.

Parsing it (``documents``): each document is composed into nodes and walked once,
without recursion, before anything is built: the walk records the line of every
key path (``line_of``), and refuses anchors and aliases (an alias bomb is small as
nodes and huge as data: nothing is built from it), runaway documents, duplicate
keys and keys that are not plain text. A syntax error, a value a constructor
refuses or nesting too deep ends as a located problem, never as an exception.

The shared pieces of messages about a file (``unknown_key``, ``where``, ``shown``):
a message never quotes more of a value than ``escaping.short`` does. Checking a
document against a JSON Schema is ``schemacheck.py``.
"""

from __future__ import annotations

import difflib
import json
import os
import re
import stat
from dataclasses import dataclass, field
from typing import Any, Callable, Iterable, Iterator, Sequence

import yaml

from ..text.escaping import QUOTE_LIMIT, clip, short, visible

MAX_BYTES = 1024 * 1024
MAX_NODES = 20_000  # per document: far above any real workflow or config file, far below trouble
_O_READ = os.O_RDONLY | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_CLOEXEC", 0) | getattr(os, "O_BINARY", 0)
_BaseLoader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
_STR = "tag:yaml.org,2002:str"
_SEQ = "tag:yaml.org,2002:seq"
_MAP = "tag:yaml.org,2002:map"
_INT = "tag:yaml.org,2002:int"
_BOOL = "tag:yaml.org,2002:bool"
_NULL = "tag:yaml.org,2002:null"
_DECIMAL = re.compile(r"-?(?:0|[1-9][0-9]*)")
_BOOLS = yaml.constructor.SafeConstructor.bool_values


class _Loader(_BaseLoader):  # type: ignore[misc, valid-type]
    """The safe loader, with the tag of each node resolved as PyYAML's resolver does, in fewer steps.

    The parser calls back into Python for every node (``resolve``, ``descend_resolver``,
    ``ascend_resolver``): for 10,000 files that is most of the Python time of composing. The safe
    loader has no path resolvers, so descending and ascending do nothing, and its implicit
    resolvers are looked up by the first character as PyYAML does (tests/test_yamlfile_fastpath.py
    checks the result against PyYAML's own)."""

    _implicit = _BaseLoader.yaml_implicit_resolvers

    def __init__(self, stream):  # the parser, and the little the constructor needs when it is called
        yaml.cyaml.CParser.__init__(self, stream)
        self.constructed_objects, self.recursive_objects, self.state_generators = {}, {}, []
        self.deep_construct = False

    def resolve(self, kind, value, implicit):
        if kind is yaml.ScalarNode:
            if implicit[0]:
                for tag, regexp in self._implicit.get(value[:1], ()):
                    if regexp.match(value):
                        return tag
            return _STR
        return _SEQ if kind is yaml.SequenceNode else _MAP

    def descend_resolver(self, current_node, current_index):
        pass

    def ascend_resolver(self):
        pass


if (not hasattr(yaml, "CSafeLoader") or _BaseLoader.yaml_path_resolvers
        or None in _BaseLoader.yaml_implicit_resolvers):
    # PyYAML without its C parser, or resolvers added to its safe loader: its own loader is the one.
    _Loader = _BaseLoader  # noqa: F811


# -- reading ---------------------------------------------------------------------


def not_regular(mode: int) -> str:
    """Why a file that is not a regular file is not read."""
    kind = ("a FIFO" if stat.S_ISFIFO(mode) else "a socket" if stat.S_ISSOCK(mode)
            else "a character device" if stat.S_ISCHR(mode) else "a block device" if stat.S_ISBLK(mode)
            else "a directory" if stat.S_ISDIR(mode) else "not a file")
    return f"not a regular file ({kind}): not read"


def read_text(path: str | os.PathLike, *, max_bytes: int = MAX_BYTES, rule: str = "the limit is {limit}",
              regular: bool = False) -> str:
    """The file's text, or ValueError/OSError with a sentence a person can act on.

    ``rule`` ends the sentence of a file over ``max_bytes`` ("file is N bytes; " + rule). ``regular``:
    discovery has just seen a regular file at ``path`` (its directory entry's type), so the check
    before opening, which keeps a FIFO or a device from being opened, is left out (one system call
    of three per file); the checks after opening stay, and catch a file replaced in between."""
    if not regular:
        st = os.stat(path)
        if not stat.S_ISREG(st.st_mode):
            raise ValueError(not_regular(st.st_mode))
    fd = os.open(path, _O_READ)
    try:
        opened = os.fstat(fd)
        if not stat.S_ISREG(opened.st_mode):  # replaced between the check (or discovery) and the open
            raise ValueError(not_regular(opened.st_mode))
        if opened.st_size > max_bytes:
            raise ValueError(f"file is {opened.st_size} bytes; " + rule.format(limit=max_bytes))
        # Read what fstat promises (+1 to see growth), never more than the limit (+1 to see it passed).
        data = os.read(fd, min(opened.st_size, max_bytes) + 1)
        # A short read of a regular file is its end: one read call for a file that did not grow.
        while len(data) > opened.st_size and len(data) <= max_bytes:
            more = os.read(fd, max_bytes + 1 - len(data))
            if not more:
                break
            data += more
    finally:
        os.close(fd)
    if len(data) > max_bytes:
        raise ValueError(f"file is over {max_bytes} bytes; " + rule.format(limit=max_bytes))
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise ValueError(f"file is not valid UTF-8 (byte 0x{data[exc.start]:02x} at offset {exc.start})") from None


# -- parsing ---------------------------------------------------------------------


@dataclass(frozen=True)
class Rules:
    """What one kind of file allows, and what its messages call it."""

    aliases_in: str  # "YAML anchors and aliases are not allowed in ..."
    document: str  # "... not <document>": "a workflow definition", "a config file"
    number_keys: bool = False  # digit keys below the top (response_options: {1: Yes})
    key_hint: str = ""  # after "keys must be plain text, not '1'"


@dataclass
class Document:
    """One YAML document: its first line, the line of every key path, its problems and, unless fatal, its data.

    ``fatal``: nothing could (or may) be built from it; ``data`` is then None. Keys refused by the walk
    (not plain text) are left out of ``data``, so the rest can still be checked."""

    line: int
    lines: dict[tuple, int] = field(default_factory=dict)
    problems: list[tuple[int, str]] = field(default_factory=list)
    fatal: bool = False
    data: Any = None


def documents(text: str, rules: Rules, *, single: bool = False) -> Iterator[Document]:
    """Every document of ``text`` (``single``: a stream of more than one is a syntax error).

    A syntax error or nesting too deep ends the stream with a last, fatal Document holding that problem
    (what came before it is kept); an empty stream yields nothing (``single``: one empty document)."""
    loader = _Loader(text)
    try:
        if single:
            node = loader.get_single_node()
            yield _document(loader, node, rules) if node is not None else Document(1)
            return
        while loader.check_node():
            node = loader.get_node()
            if node is not None:
                yield _document(loader, node, rules)
    except yaml.YAMLError as exc:
        line, message = _syntax_error(exc)
        yield Document(line, problems=[(line, message)], fatal=True)
    except RecursionError:
        yield Document(0, problems=[(0, f"YAML nested too deeply: not {rules.document}")], fatal=True)
    finally:
        loader.dispose()


# What a parser's context opened and left open: the error is found where the file ends (or the
# next key starts), but the mistake is where the quote or bracket opened.
_OPENED = {"while scanning a quoted scalar": "the quote", "while parsing a flow sequence": "the [ list",
           "while parsing a flow mapping": "the { mapping"}


def _syntax_error(exc: yaml.YAMLError) -> tuple[int, str]:
    """(line, message) of a syntax error: at the line where an unclosed quote or bracket opened, when that
    is what went wrong, else where the parser stopped."""
    problem = getattr(exc, "problem_mark", None)
    context = getattr(exc, "context_mark", None)
    reason = clip(str(getattr(exc, "problem", None) or exc), 160)
    opened = _OPENED.get(str(getattr(exc, "context", "")))
    if opened and problem and context and context.line < problem.line:
        return context.line + 1, (f"YAML syntax error: {opened} that opens on this line is not closed "
                                  f"({reason} on line {problem.line + 1})")
    mark = problem or context
    line = mark.line + 1 if mark else 0
    return line, f"YAML syntax error: {reason}"


def _document(loader, node: yaml.Node, rules: Rules) -> Document:
    doc = Document(node.start_mark.line + 1)
    doc.fatal, data = walk(node, rules, doc.lines, doc.problems)
    if doc.fatal:
        return doc
    if data is not _NOT_PLAIN:
        doc.data = data
        return doc
    try:
        doc.data = loader.construct_document(node)
    except (yaml.YAMLError, RecursionError):
        raise
    except Exception as exc:  # a constructor refusing a value (2020-13-45, !!int 0x): a problem
        doc.problems.append((doc.line, f"a value cannot be read: {clip(str(exc), 160)}"))
        doc.fatal = True
    return doc


_NOT_PLAIN = object()  # what the walk builds of a node it leaves to PyYAML's constructor


def _scalar(node: yaml.Node) -> Any:
    """A plain scalar's value as SafeConstructor builds it (text, a decimal integer, a boolean, null),
    else _NOT_PLAIN (another tag, a float, a timestamp, an octal or sexagesimal integer)."""
    tag, value = node.tag, node.value
    if tag == _STR:
        return value
    if tag == _INT and _DECIMAL.fullmatch(value):
        return int(value)
    if tag == _BOOL and value.lower() in _BOOLS:
        return _BOOLS[value.lower()]
    if tag == _NULL:
        return None
    return _NOT_PLAIN


def _empty(node: yaml.Node) -> Any:
    """The container a collection node's data goes into, or _NOT_PLAIN (a tagged collection: !!set, !!omap)."""
    if node.id == "mapping":
        return {} if node.tag == _MAP else _NOT_PLAIN
    return [] if node.tag == _SEQ else _NOT_PLAIN


def walk(node: yaml.Node, rules: Rules, lines: dict[tuple, int], problems: list[tuple[int, str]]) -> tuple[bool, Any]:
    """Record the line of every key path in ``lines``, append problems, and build the data in the same pass:
    (True when nothing may be built, the data). The data is what PyYAML's SafeConstructor builds from
    maps, lists, text, decimal integers, booleans and nulls, in a fraction of its time; anything else
    makes it _NOT_PLAIN, and the constructor builds the whole document.

    Iterative, in document order. Keys that are not plain text are reported and dropped from the node.
    Scalar values (most nodes) are settled where they are met, without a trip through the stack:
    this walk runs once per file, 10,000 times for a large repository."""
    return _Walk(rules, lines, problems).run(node)


class _Walk:
    """The state of one document's walk (see ``walk``)."""

    def __init__(self, rules: Rules, lines: dict[tuple, int], problems: list[tuple[int, str]]):
        self.rules, self.lines, self.problems = rules, lines, problems
        self.seen: set[int] = set()
        self.count = 0
        self.plain = True  # False once a node needs the constructor: the walk goes on for lines and problems only
        self.below_keys = (_STR, _INT) if rules.number_keys else (_STR,)

    def alias(self, at: tuple, n: yaml.Node) -> tuple[bool, Any]:
        # An alias has no position of its own once composed: its parent's line is the closest.
        self.problems.append((line_of(self.lines, at, n.start_mark.line + 1),
                              f"YAML anchors and aliases are not allowed in {self.rules.aliases_in}"))
        return True, None  # the first is enough: a bomb has thousands

    def run(self, node: yaml.Node) -> tuple[bool, Any]:
        lines, seen = self.lines, self.seen
        if node.id == "scalar":
            lines[()] = node.start_mark.line + 1
            return False, _scalar(node)
        root = _empty(node)
        stack: list[tuple[yaml.Node, tuple, Any]] = [(node, (), root)]
        while stack:
            node, path, into = stack.pop()
            if id(node) in seen:
                return self.alias(path, node)
            seen.add(id(node))
            self.count += 1
            if self.count > MAX_NODES:
                self.problems.append((node.start_mark.line + 1,
                                      f"document has over {MAX_NODES} YAML nodes: not {self.rules.document}"))
                return True, None
            if path not in lines:
                lines[path] = node.start_mark.line + 1
            if into is _NOT_PLAIN:
                self.plain = False
            if node.id == "mapping":
                alias = self.mapping(node, path, into, stack)
                if alias is not None:
                    return self.alias(*alias)
            elif node.id == "sequence":
                items = []
                for i, item in enumerate(node.value):
                    value = (_empty(item) if item.id != "scalar" else _scalar(item)) if self.plain else _NOT_PLAIN
                    if self.plain:
                        into.append(value)
                    items.append((item, path + (i,), value))
                stack.extend(reversed(items))
        return False, root if self.plain else _NOT_PLAIN

    def mapping(self, node: yaml.Node, path: tuple, into: Any, stack: list) -> tuple[tuple, yaml.Node] | None:
        """Check and record one mapping's keys, settle its scalar values, stack its collections; the (path,
        node) of an alias met among its values, else None."""
        allowed = self.below_keys if path else (_STR,)
        lines, seen, problems = self.lines, self.seen, self.problems
        keys: set[str] = set()
        kept = []
        children = []
        for key_node, value_node in node.value:
            line = key_node.start_mark.line + 1
            if key_node.id != "scalar" or key_node.tag not in allowed or not key_node.value:
                what = short(key_node.value) if key_node.id == "scalar" else "a collection"
                problems.append((line, f"keys must be plain text, not {what}{self.rules.key_hint}"))
                continue
            kept.append((key_node, value_node))
            key = key_node.value
            if key in keys:
                problems.append((line, f"duplicate key {short(key)}"))
            keys.add(key)
            child = path + (key,)
            lines[child] = line
            if value_node.id == "scalar":
                if id(value_node) in seen:
                    return child, value_node
                seen.add(id(value_node))
                self.count += 1
                value = _scalar(value_node) if self.plain else _NOT_PLAIN
            else:
                value = _empty(value_node) if self.plain else _NOT_PLAIN
                children.append((value_node, child, value))
            if self.plain:
                name = _scalar(key_node)
                if value is _NOT_PLAIN or name is _NOT_PLAIN:
                    self.plain = False
                else:
                    into[name] = value
        if len(kept) != len(node.value):
            node.value = kept
        stack.extend(reversed(children))
        return None


def line_of(lines: dict[tuple, int], path: Sequence, default: int) -> int:
    """The line of the deepest part of ``path`` that the file has (``default`` when none)."""
    path = tuple(p if isinstance(p, int) and not isinstance(p, bool) else str(p) for p in path)
    while path:
        if path in lines:
            return lines[path]
        path = path[:-1]
    return default


# -- messages --------------------------------------------------------------------


def where(path: Iterable) -> str:
    """A key path for a message (parameters.name.max_length); each key a short visible prefix."""
    return ".".join(clip(str(p)) for p in path)


def shown(value: Any, kind: Callable[[Any], str]) -> str:
    """A value quoted in a message: a short visible prefix of text or a scalar, else ``kind(value)``."""
    if isinstance(value, str):
        return f'"{clip(value, QUOTE_LIMIT)}"'
    if value is None or isinstance(value, (bool, int, float)):
        return clip(json.dumps(value), QUOTE_LIMIT)
    return kind(value)


def unknown_keys(error) -> list:
    """The keys an ``additionalProperties`` error is about: neither named nor matched by a pattern."""
    schema = error.schema
    named = schema.get("properties", {})
    patterns = [re.compile(p) for p in schema.get("patternProperties", {})]
    return [k for k in error.instance
            if k not in named and not (isinstance(k, str) and any(p.search(k) for p in patterns))]


def unknown_key(key: Any, known: Sequence[str]) -> str:
    """"unknown key 'prun' (did you mean 'prune'?)", or the known keys when none is close."""
    close = difflib.get_close_matches(str(key), list(known), n=1)
    hint = f" (did you mean '{close[0]}'?)" if close else f" (known keys: {', '.join(known)})"
    return f"unknown key {short(str(key))}{hint}"


def bounded_message(error) -> str:
    """jsonschema's own message with the value it quotes cut to ``short``'s length."""
    message = str(error.message)
    quoted = repr(error.instance)
    if len(quoted) > QUOTE_LIMIT and quoted in message:
        message = message.replace(quoted, short(error.instance))
    return visible(message)
