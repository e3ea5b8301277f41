"""Checking a document against a JSON Schema, fast.

``Schema``: a document that certainly passes takes a fast path, a structural check
compiled from the schema file once (``compile_check``); only a document it cannot
vouch for goes to jsonschema, whose errors the caller turns into sentences
(``Schema.problems``). ``packaged`` loads a schema shipped with the package.
"""

from __future__ import annotations

import json
import numbers
import re
from functools import lru_cache
from typing import Any, Callable, Iterable, Sequence

from ..errors import Problem
from .yamlfile import line_of


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


def _type_and_enum(schema: dict, only: str | None) -> list[Callable[[Any], bool]] | None:
    """``type`` (unless ``only``: the keyword checks test that type themselves) and a text ``enum``."""
    checks: list[Callable[[Any], bool]] = []
    if "type" in schema and only is None:
        wanted = schema["type"] if isinstance(schema["type"], list) else [schema["type"]]
        if not all(isinstance(w, str) and w in _TYPE_TESTS for w in wanted):
            return None
        tests = tuple(_TYPE_TESTS[w] for w in wanted)
        checks.append(tests[0] if len(tests) == 1 else (lambda v: any(t(v) for t in tests)))
    if "enum" in schema:
        options = schema["enum"]
        if not isinstance(options, list) or not all(isinstance(o, str) for o in options):
            return None
        allowed = frozenset(options)
        checks.append(lambda v: type(v) is str and v in allowed)
    return checks


def _conjunction(checks: list[Callable[[Any], bool]]) -> Callable[[Any], bool]:
    """All of ``checks``, as one function: the fewest calls for the usual one or two."""
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
        keys = set(schema) - _ANNOTATIONS
        handled = {"type", "enum", "$ref", "allOf", "anyOf", "minLength", "maxLength", "pattern",
                   "minimum", "maximum", "exclusiveMinimum", "exclusiveMaximum", "items", "minItems", "maxItems",
                   "uniqueItems", "required", "properties", "patternProperties", "additionalProperties",
                   "propertyNames", "minProperties", "maxProperties"}
        if keys - handled:
            return _never  # a keyword this check does not know: jsonschema decides
        # One wanted type whose keywords are checked together: the keyword check tests the type itself.
        only = schema.get("type") if schema.get("type") in ("string", "object", "array") else None
        checks = self.generic(schema, only)
        if checks is None:
            return _never
        for part in (self.string(schema, only == "string"), self.number(schema),
                     self.array(schema, only == "array"), self.object(schema, only == "object")):
            if part is not None:
                checks.append(part)
        return _conjunction(checks)

    def generic(self, schema: dict, only: str | None) -> list[Callable[[Any], bool]] | None:
        """The checks of type, enum, $ref, allOf and anyOf; None when one of them is not for this check."""
        checks = _type_and_enum(schema, only)
        if checks is None:
            return None
        if "$ref" in schema:
            checks.append(self.ref(schema["$ref"]))
        if "allOf" in schema:
            parts = [self.compile(s) for s in schema["allOf"]]
            checks.append(lambda v: all(p(v) for p in parts))
        if "anyOf" in schema:  # one certain pass is enough
            parts = [self.compile(s) for s in schema["anyOf"]]
            checks.append(lambda v: any(p(v) for p in parts))
        return checks

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
