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

Checking it against a JSON Schema (``Schema``): a document that certainly passes
takes a fast path, a structural check compiled from the schema file once; only a
document it cannot vouch for goes to jsonschema, whose errors the caller turns
into sentences (``Schema.problems``; ``unknown_key``, ``where`` and ``shown`` are
the shared pieces of those sentences). A message never quotes more of a value
than ``escaping.short`` does.
"""

from __future__ import annotations

import difflib
import json
import numbers
import os
import re
import stat
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Any, Callable, Iterable, Iterator, Sequence

import yaml

from .errors import Problem
from .escaping import short, visible

MAX_BYTES = 1024 * 1024
MAX_NODES = 20_000  # per document: far above any real workflow or config file, far below trouble
_O_READ = os.O_RDONLY | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_CLOEXEC", 0) | getattr(os, "O_BINARY", 0)
_Loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
_STR = "tag:yaml.org,2002:str"
_INT = "tag:yaml.org,2002:int"


# -- reading ---------------------------------------------------------------------


def clip(value: object, limit: int = 40) -> str:
    """A short visible prefix, unquoted (``short`` quotes text): for key paths, file paths and parser messages."""
    text = visible(value if isinstance(value, str) else repr(value))
    return text if len(text) <= limit else text[: limit - 1] + "…"


def not_regular(mode: int) -> str:
    """Why a file that is not a regular file is not read."""
    kind = ("a FIFO" if stat.S_ISFIFO(mode) else "a socket" if stat.S_ISSOCK(mode)
            else "a character device" if stat.S_ISCHR(mode) else "a block device" if stat.S_ISBLK(mode)
            else "a directory" if stat.S_ISDIR(mode) else "not a file")
    return f"not a regular file ({kind}): not read"


def read_text(path: str | os.PathLike, *, max_bytes: int = MAX_BYTES, rule: str = "the limit is {limit}") -> str:
    """The file's text, or ValueError/OSError with a sentence a person can act on.

    ``rule`` ends the sentence of a file over ``max_bytes`` ("file is N bytes; " + rule)."""
    st = os.stat(path)
    if not stat.S_ISREG(st.st_mode):
        raise ValueError(not_regular(st.st_mode))
    if st.st_size > max_bytes:
        raise ValueError(f"file is {st.st_size} bytes; " + rule.format(limit=max_bytes))
    fd = os.open(path, _O_READ)
    try:
        opened = os.fstat(fd)
        if not stat.S_ISREG(opened.st_mode):  # replaced between the check and the open
            raise ValueError(not_regular(opened.st_mode))
        # Read what fstat promises (+1 to see growth), never more than the limit (+1 to see it passed).
        data = os.read(fd, min(opened.st_size, max_bytes) + 1)
        while len(data) <= max_bytes:
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
        mark = getattr(exc, "problem_mark", None) or getattr(exc, "context_mark", None)
        reason = getattr(exc, "problem", None) or str(exc)
        line = mark.line + 1 if mark else 0
        yield Document(line, problems=[(line, f"YAML syntax error: {clip(str(reason), 160)}")], fatal=True)
    except RecursionError:
        yield Document(0, problems=[(0, f"YAML nested too deeply: not {rules.document}")], fatal=True)
    finally:
        loader.dispose()


def _document(loader, node: yaml.Node, rules: Rules) -> Document:
    doc = Document(node.start_mark.line + 1)
    doc.fatal = walk(node, rules, doc.lines, doc.problems)
    if doc.fatal:
        return doc
    try:
        doc.data = loader.construct_document(node)
    except (yaml.YAMLError, RecursionError):
        raise
    except Exception as exc:  # a constructor refusing a value (2020-13-45, !!int 0x): a problem
        doc.problems.append((doc.line, f"a value cannot be read: {clip(str(exc), 160)}"))
        doc.fatal = True
    return doc


def walk(node: yaml.Node, rules: Rules, lines: dict[tuple, int], problems: list[tuple[int, str]]) -> bool:
    """Record the line of every key path in ``lines``; append problems; True when nothing may be built.

    Iterative, in document order. Keys that are not plain text are reported and dropped from the node.
    Scalar values (most nodes) are settled where they are met, without a trip through the stack:
    this walk runs once per file, 10,000 times for a large repository."""
    seen: set[int] = set()
    stack: list[tuple[yaml.Node, tuple]] = [(node, ())]
    top_keys = (_STR,)
    below_keys = (_STR, _INT) if rules.number_keys else (_STR,)
    count = 0

    def alias(at: tuple, n: yaml.Node) -> bool:
        # An alias has no position of its own once composed: its parent's line is the closest.
        problems.append((line_of(lines, at, n.start_mark.line + 1),
                         f"YAML anchors and aliases are not allowed in {rules.aliases_in}"))
        return True  # the first is enough: a bomb has thousands

    while stack:
        node, path = stack.pop()
        if id(node) in seen:
            return alias(path, node)
        seen.add(id(node))
        count += 1
        if count > MAX_NODES:
            problems.append((node.start_mark.line + 1, f"document has over {MAX_NODES} YAML nodes: not {rules.document}"))
            return True
        if path not in lines:
            lines[path] = node.start_mark.line + 1
        kind = node.id
        if kind == "mapping":
            allowed = below_keys if path else top_keys
            keys: set[str] = set()
            kept = []
            children = []
            for key_node, value_node in node.value:
                line = key_node.start_mark.line + 1
                if key_node.id != "scalar" or key_node.tag not in allowed or not key_node.value:
                    what = short(key_node.value) if key_node.id == "scalar" else "a collection"
                    problems.append((line, f"keys must be plain text, not {what}{rules.key_hint}"))
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
                        return alias(child, value_node)
                    seen.add(id(value_node))
                    count += 1
                else:
                    children.append((value_node, child))
            if len(kept) != len(node.value):
                node.value = kept
            stack.extend(reversed(children))
        elif kind == "sequence":
            stack.extend(reversed([(item, path + (i,)) for i, item in enumerate(node.value)]))
    return False


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
        return f'"{clip(value)}"'
    if value is None or isinstance(value, (bool, int, float)):
        return clip(json.dumps(value))
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
    if len(quoted) > 40 and quoted in message:
        message = message.replace(quoted, short(error.instance))
    return visible(message)


# -- schemas ---------------------------------------------------------------------


class Schema:
    """A JSON Schema with a fast path: ``passes`` is a structural check compiled from it, True only when
    the document certainly passes; jsonschema runs only for a document that it cannot vouch for."""

    def __init__(self, schema: dict[str, Any]):
        self.schema = schema
        self.passes: Callable[[Any], bool] = compile_check(schema)
        self._validator = None

    @property
    def validator(self):
        if self._validator is None:
            import jsonschema

            self._validator = jsonschema.Draft202012Validator(self.schema)
        return self._validator

    def errors(self, document: Any) -> list:
        """jsonschema's errors, sorted by path; none at all (and no jsonschema) when the fast path passes."""
        if self.passes(document):
            return []
        return sorted(self.validator.iter_errors(document), key=lambda e: list(map(str, e.absolute_path)))

    def problems(self, document: Any, source: str, lines: dict[tuple, int], default: int,
                 explain: Callable[[Any], Iterable[tuple[Sequence, str]]]) -> list[Problem]:
        """FILE:LINE problems: ``explain`` turns one error into (key path, sentence) pairs, each at its path's line."""
        return [Problem(source, line_of(lines, path, default), message)
                for error in self.errors(document) for path, message in explain(error)]


@lru_cache(maxsize=None)
def packaged(name: str) -> Schema:
    """The schema ``name`` (workflow, config, plan) as shipped inside the package, compiled once."""
    from importlib.resources import files

    text = files("voicebot_sync").joinpath("schemas", f"{name}.schema.json").read_text(encoding="utf-8")
    return Schema(json.loads(text))


# -- the fast path: a structural check compiled from a schema ------------------------
#
# Each subschema becomes a predicate that returns True only when the value certainly passes it, with
# jsonschema's own rules (a keyword applies to the types it names, isinstance as jsonschema checks
# it; bool is not a number). Whatever it does not know for certain (an unsupported keyword, a float
# where an integer is wanted, a key that is not text, a str or dict subclass) makes it return False,
# and jsonschema decides.

_ANNOTATIONS = frozenset({"$schema", "$id", "$comment", "$defs", "definitions", "title", "description", "default",
                          "examples", "deprecated", "readOnly", "writeOnly", "errorMessage", "$anchor"})


def _always(value: Any) -> bool:
    return True


def _never(value: Any) -> bool:
    return False


def _is_number(value: Any) -> bool:
    return not isinstance(value, bool) and isinstance(value, numbers.Number)


_TYPE_TESTS: dict[str, Callable[[Any], bool]] = {
    "string": lambda v: isinstance(v, str),
    "integer": lambda v: isinstance(v, int) and not isinstance(v, bool),  # 1.0 too, for jsonschema: unsure here
    "number": lambda v: isinstance(v, (int, float)) and not isinstance(v, bool),
    "boolean": lambda v: isinstance(v, bool),
    "null": lambda v: v is None,
    "object": lambda v: isinstance(v, dict),
    "array": lambda v: isinstance(v, list),
}


def compile_check(schema: Any) -> Callable[[Any], bool]:
    """A predicate for ``schema``: True only when a value certainly passes it (see above)."""
    return _Compiler(schema).compile(schema)


class _Compiler:
    def __init__(self, root: Any):
        self.root = root
        self.refs: dict[str, Callable[[Any], bool]] = {}

    def ref(self, pointer: str) -> Callable[[Any], bool]:
        if pointer in self.refs:
            return self.refs[pointer]
        if not pointer.startswith("#/"):
            return _never
        target: Any = self.root
        for part in pointer[2:].split("/"):
            part = part.replace("~1", "/").replace("~0", "~")
            if not isinstance(target, dict) or part not in target:
                return _never
            target = target[part]
        cell: list[Callable[[Any], bool]] = [_never]
        self.refs[pointer] = lambda v: cell[0](v)  # a schema that refers to itself: bound below
        cell[0] = self.compile(target)
        self.refs[pointer] = cell[0]
        return cell[0]

    def compile(self, schema: Any) -> Callable[[Any], bool]:
        if schema is True or schema == {}:
            return _always
        if not isinstance(schema, dict):
            return _never  # false, or not a schema
        checks: list[Callable[[Any], bool]] = []
        keys = set(schema) - _ANNOTATIONS
        handled = {"type", "enum", "$ref", "allOf", "anyOf", "minLength", "maxLength", "pattern",
                   "minimum", "maximum", "exclusiveMinimum", "exclusiveMaximum", "items", "minItems", "maxItems",
                   "uniqueItems", "required", "properties", "patternProperties", "additionalProperties",
                   "propertyNames", "minProperties", "maxProperties"}
        if keys - handled:
            return _never  # a keyword this check does not know: jsonschema decides
        # One wanted type whose keywords are checked together: the keyword check tests the type itself.
        only = schema.get("type") if schema.get("type") in ("string", "object", "array") else None
        if "type" in schema and only is None:
            wanted = schema["type"] if isinstance(schema["type"], list) else [schema["type"]]
            if not all(isinstance(w, str) and w in _TYPE_TESTS for w in wanted):
                return _never
            tests = tuple(_TYPE_TESTS[w] for w in wanted)
            checks.append(tests[0] if len(tests) == 1 else (lambda v: any(t(v) for t in tests)))
        if "enum" in schema:
            options = schema["enum"]
            if not isinstance(options, list) or not all(isinstance(o, str) for o in options):
                return _never
            allowed = frozenset(options)
            checks.append(lambda v: type(v) is str and v in allowed)
        if "$ref" in schema:
            checks.append(self.ref(schema["$ref"]))
        if "allOf" in schema:
            parts = [self.compile(s) for s in schema["allOf"]]
            checks.append(lambda v: all(p(v) for p in parts))
        if "anyOf" in schema:  # one certain pass is enough
            parts = [self.compile(s) for s in schema["anyOf"]]
            checks.append(lambda v: any(p(v) for p in parts))
        string = self.string(schema, only == "string")
        if string is not None:
            checks.append(string)
        number = self.number(schema)
        if number is not None:
            checks.append(number)
        array = self.array(schema, only == "array")
        if array is not None:
            checks.append(array)
        obj = self.object(schema, only == "object")
        if obj is not None:
            checks.append(obj)
        if not checks:
            return _always
        if len(checks) == 1:
            return checks[0]
        if len(checks) == 2:
            first, second = checks
            return lambda v: first(v) and second(v)
        checks_t = tuple(checks)

        def all_of(v: Any) -> bool:
            for check in checks_t:
                if not check(v):
                    return False
            return True

        return all_of

    @staticmethod
    def string(schema: dict, typed: bool = False) -> Callable[[Any], bool] | None:
        """The string keywords; ``typed``: the value must be text as well (type: string)."""
        low, high = schema.get("minLength"), schema.get("maxLength")
        pattern = schema.get("pattern")
        if low is None and high is None and pattern is None:
            return (lambda v: isinstance(v, str)) if typed else None
        if not all(b is None or (type(b) is int and b >= 0) for b in (low, high)):
            return _never
        search = re.compile(pattern).search if isinstance(pattern, str) else None
        if pattern is not None and search is None:
            return _never
        low = low or 0

        def check(v: Any) -> bool:
            if type(v) is not str:  # not text: these keywords do not apply (a str subclass: unsure)
                return not typed and not isinstance(v, str)
            n = len(v)
            if n < low or (high is not None and n > high):
                return False
            return search is None or search(v) is not None

        return check

    @staticmethod
    def number(schema: dict) -> Callable[[Any], bool] | None:
        bounds = [(k, schema[k]) for k in ("minimum", "maximum", "exclusiveMinimum", "exclusiveMaximum") if k in schema]
        if not bounds:
            return None
        if not all(type(b) in (int, float) for _, b in bounds):
            return _never

        def check(v: Any) -> bool:
            if not _is_number(v):
                return True
            if type(v) not in (int, float) or v != v:  # Decimal, Fraction, NaN: unsure
                return False
            for key, bound in bounds:
                if key == "minimum" and not v >= bound or key == "maximum" and not v <= bound:
                    return False
                if key == "exclusiveMinimum" and not v > bound or key == "exclusiveMaximum" and not v < bound:
                    return False
            return True

        return check

    def array(self, schema: dict, typed: bool = False) -> Callable[[Any], bool] | None:
        if not any(k in schema for k in ("items", "minItems", "maxItems", "uniqueItems")):
            return (lambda v: isinstance(v, list)) if typed else None
        items = self.compile(schema["items"]) if "items" in schema else None
        low, high = schema.get("minItems", 0), schema.get("maxItems")
        unique = schema.get("uniqueItems", False)
        if not all(b is None or (type(b) is int and b >= 0) for b in (low, high)) or not isinstance(unique, bool):
            return _never

        def check(v: Any) -> bool:
            if type(v) is not list:
                return not typed and not isinstance(v, list)
            if len(v) < low or (high is not None and len(v) > high):
                return False
            if unique and not (all(type(x) is str for x in v) and len(set(v)) == len(v)):
                return False
            return items is None or all(items(x) for x in v)

        return check

    def object(self, schema: dict, typed: bool = False) -> Callable[[Any], bool] | None:
        keywords = ("required", "properties", "patternProperties", "additionalProperties", "propertyNames",
                    "minProperties", "maxProperties")
        if not any(k in schema for k in keywords):
            return (lambda v: isinstance(v, dict)) if typed else None
        required = schema.get("required", [])
        properties = schema.get("properties", {})
        pattern_properties = schema.get("patternProperties", {})
        low, high = schema.get("minProperties", 0), schema.get("maxProperties")
        if (not isinstance(required, list) or not all(isinstance(r, str) for r in required)
                or not isinstance(properties, dict) or not isinstance(pattern_properties, dict)
                or not all(b is None or (type(b) is int and b >= 0) for b in (low, high))):
            return _never
        named = {key: self.compile(sub) for key, sub in properties.items()}
        patterned = [(re.compile(p).search, self.compile(sub)) for p, sub in pattern_properties.items()]
        patterned = [(search, sub) for search, sub in patterned if sub is not _always] or []
        # As jsonschema finds additional properties: one search of the patterns joined.
        joined = re.compile("|".join(pattern_properties)).search if pattern_properties else None
        additional = schema.get("additionalProperties", True)
        extra = None if additional is True or additional == {} else self.compile(additional)
        names = self.compile(schema["propertyNames"]) if "propertyNames" in schema else None
        required_t = tuple(required)

        def check(v: Any) -> bool:
            if type(v) is not dict:
                return not typed and not isinstance(v, dict)
            if len(v) < low or (high is not None and len(v) > high):
                return False
            for key in required_t:
                if key not in v:
                    return False
            for key, value in v.items():
                if type(key) is not str:
                    return False  # an int key (YAML 1: ...): jsonschema decides
                if names is not None and not names(key):
                    return False
                sub = named.get(key)
                if sub is not None:
                    if not sub(value):
                        return False
                for search, psub in patterned:
                    if search(key) and not psub(value):
                        return False
                if extra is not None and key not in named and (joined is None or not joined(key)):
                    if not extra(value):
                        return False
            return True

        return check
