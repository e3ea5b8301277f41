"""The config file (voicebot-sync.yaml) as a dict: read by the shared YAML reader, checked against
its schema, every problem as FILE:LINE. A literal ``api_key`` or ``insecure`` in the file is refused
with its own sentence; a message never quotes more of a value than ``escaping.short`` does."""

from __future__ import annotations

import json
from typing import Any, Iterator

from ..core.schedule import parse_rate_limit
from ..errors import ConfigError, Problem, ValidationError
from ..text.escaping import short

MAX_CONFIG_BYTES = 1024 * 1024
_KEY_IN_FILE = "keys do not belong in files under git: set api_key_env to the name of a variable that holds it"
_INSECURE_IN_FILE = ("insecure cannot be set in a file: pass --insecure on the command line when you mean it "
                     "(the key would travel in clear)")


def load_config_file(path: str, *, shown: str | None = None) -> dict[str, Any]:
    """The config file as a dict, validated against its schema.

    Read by ``yamlfile`` (the reader shared with definition files: only a regular
    file is opened, bounded, strict UTF-8, no aliases, duplicate or non-text keys).
    Raises ValidationError carrying every problem as ``FILE:LINE: message``
    (``shown`` is the FILE to print; by default the path as given)."""
    from . import yamlfile

    source = shown or path
    try:
        text = _read_text(path)
    except (OSError, ValueError) as exc:
        raise ValidationError([Problem(source, 0, getattr(exc, "strerror", None) or str(exc))]) from None
    # Only text keys in a config file; a refused key is dropped, so the rest is still checked.
    rules = yamlfile.Rules(aliases_in="the config file", document="a config file", key_hint=" (quote it)")
    (doc,) = yamlfile.documents(text, rules, single=True)
    if doc.fatal:  # a syntax error, or anything built from this could be huge or unhashable: stop here
        raise ValidationError([Problem(source, line, msg) for line, msg in doc.problems])
    data, lines = doc.data, doc.lines
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise ValidationError([Problem(source, 1, "the config file must be a mapping of settings, such as 'prune: false'")])

    problems = [Problem(source, line, msg) for line, msg in doc.problems]
    environments = data.get("environments") if isinstance(data.get("environments"), dict) else {}
    sections = [((), data)] + [(("environments", name), section)
                               for name, section in environments.items() if isinstance(section, dict)]
    # Refused outright, with their own sentence, before the schema calls them unknown.
    for where, section in sections:
        for key, message in (("api_key", _KEY_IN_FILE), ("insecure", _INSECURE_IN_FILE)):
            if key in section:
                problems.append(Problem(source, _line_of(lines, where + (key,)), message))
                section.pop(key)
    problems.extend(_schema_validator().problems(data, source, lines, 1, _schema_problems))
    for where, section in sections:
        problems.extend(_rule_problems(source, lines, where, section))
        if isinstance(section.get("rate_limit"), str):
            try:
                parse_rate_limit(section["rate_limit"])
            except ConfigError as exc:
                problems.append(Problem(source, _line_of(lines, where + ("rate_limit",)), ".".join(map(str, where + ("rate_limit",))) + f": {exc}"))
    if problems:
        raise ValidationError(problems)
    return data


def _rule_problems(source: str, lines: dict[tuple, int], where: tuple, section: dict) -> list[Problem]:
    """Team rules and speaking rates, checked by ``rules`` (its sentences name the rule; the schema's do not)."""
    if "rules" not in section and "words_per_minute" not in section:
        return []
    from .rulefile import config_problems

    prefix = ".".join(map(str, where)) + ": " if where else ""  # environments.production: ...
    return [Problem(source, _line_of(lines, where + path), prefix + message) for path, message in config_problems(section)]


def _said_by_rules(path: list) -> bool:
    """A schema error under rules or words_per_minute: ``rules`` says it better, naming the rule."""
    keys = path[2:3] if path[:1] == ["environments"] else path[:1]
    return bool(keys) and keys[0] in ("rules", "words_per_minute")


def config_schema() -> dict[str, Any]:
    """The config file's JSON Schema, as shipped inside the package."""
    from importlib.resources import files

    return json.loads(files("voicebot_sync").joinpath("schemas", "config.schema.json").read_text(encoding="utf-8"))


def _schema_validator():
    """The config schema, compiled once: a fast structural check, and jsonschema to explain a failure."""
    from . import schema

    return schema.packaged("config")


def _read_text(path: str) -> str:
    from . import yamlfile

    return yamlfile.read_text(path, max_bytes=MAX_CONFIG_BYTES, rule="a config file may have at most {limit}")


def _line_of(lines: dict[tuple, int], path) -> int:
    """The line of the deepest part of ``path`` that the file has (1 when nothing matches)."""
    from .yamlfile import line_of

    return line_of(lines, path, 1)


_TYPES = {"boolean": "true or false", "integer": "a whole number", "number": "a number",
          "string": "text", "object": "a mapping of settings", "array": "a list"}


def _kind(value: Any) -> str:
    if value is None:
        return "empty"
    if isinstance(value, bool):
        return f"{str(value).lower()} (YAML reads yes/no/on/off as true/false; quote it)"
    if isinstance(value, (int, float)):
        return f"the number {value}"
    if isinstance(value, str):
        return "text"
    if isinstance(value, dict):
        return "a mapping"
    if isinstance(value, list):
        return "a list"
    return type(value).__name__


def _schema_problems(error) -> Iterator[tuple[list, str]]:
    """(path, message) for one jsonschema error; unknown keys one by one, each at its own line.

    A value is never quoted beyond ``escaping.short``'s length (keys and paths alike)."""
    from . import yamlfile

    path = list(error.absolute_path)
    if _said_by_rules(path):
        return
    where = yamlfile.where(path)
    prefix = f"{where}: " if where else ""
    if error.validator == "additionalProperties":
        known = list(error.schema.get("properties", {}))
        for key in yamlfile.unknown_keys(error):
            if key == "environments" and path:
                yield path + [key], f"{prefix}environments cannot be nested in an environment"
                continue
            yield path + [key], prefix + yamlfile.unknown_key(key, known)
        return
    if "propertyNames" in error.relative_schema_path:
        yield path + [error.instance], f"{prefix}{short(error.instance)}: {error.schema.get('errorMessage') or yamlfile.bounded_message(error)}"
        return
    if "errorMessage" in error.schema:
        # Never echo the value: under api_key_env it may be a key pasted in by mistake.
        yield path, prefix + error.schema["errorMessage"]
        return
    if error.validator == "type":
        wanted = error.validator_value if isinstance(error.validator_value, list) else [error.validator_value]
        yield path, prefix + f"must be {' or '.join(_TYPES.get(t, t) for t in wanted)}, not {_kind(error.instance)}"
        return
    if error.validator == "minLength":
        yield path, prefix + "must not be empty"
        return
    if error.validator == "minProperties" and path and path[-1] == "owns":
        yield path, prefix + "give a prefix, a list of names, or both (or leave owns out to manage every workflow)"
        return
    yield path, prefix + yamlfile.bounded_message(error)
