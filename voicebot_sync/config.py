"""Settings from the command line, the environment and voicebot-sync.yaml.

Precedence, highest first: command line > environment variables > the selected
environment's section of the config file > the top of the config file >
defaults. Each setting remembers where it came from, for `voicebot-sync config`.
The key is only ever read from the command line or an environment variable —
never from a file under git — and is never shown.
"""

from __future__ import annotations

import ipaddress
import json
import os
from dataclasses import dataclass, field
from typing import Any, Mapping
from urllib.parse import urlsplit

from .durations import DEFAULT_RATE_LIMIT, parse_rate_limit
from .errors import ConfigError, Problem, ValidationError
from .model import Scope
from .plan import Guards

DEFAULT_API_URL = "https://voicebot.intron.health/voicebot/v1"
LOCAL_API_URL = "local"
DEFAULT_CONFIG = "voicebot-sync.yaml"
DEFAULT_KEY_ENV = "VOICEBOT_API_KEY"
ENV_VARS = {"api_url": "VOICEBOT_API_URL", "rate_limit": "VOICEBOT_RATE_LIMIT", "config": "VOICEBOT_SYNC_CONFIG", "env": "VOICEBOT_ENV"}
SETTINGS = ("workflows_dir", "api_url", "api_key_env", "rate_limit", "prune", "guards", "owns", "max_retries", "timeout")


@dataclass
class Settings:
    """Everything a command needs to know, resolved; ``sources`` says where each came from."""

    api_url: str = DEFAULT_API_URL
    api_key: str | None = field(default=None, repr=False)
    api_key_env: str = DEFAULT_KEY_ENV
    rate_limit: str = DEFAULT_RATE_LIMIT
    workflows: list[str] = field(default_factory=lambda: ["workflows"])
    prune: bool = False
    guards: Guards = field(default_factory=Guards)
    scope: Scope = field(default_factory=Scope)
    env: str | None = None
    insecure: bool = False
    config_file: str | None = None
    max_retries: int = 5
    timeout: float = 30.0
    sources: dict[str, str] = field(default_factory=dict)

    @property
    def windows(self) -> list[tuple[int, float]]:
        return parse_rate_limit(self.rate_limit)

    @property
    def local(self) -> bool:
        return self.api_url == LOCAL_API_URL

    def describe(self) -> list[tuple[str, str, str]]:
        """(setting, value, source) rows; the key only as set/unset."""
        src = lambda k: self.sources.get(k, "default")
        key = f"set (from {src('api_key')})" if self.api_key else f"unset (looked in {self.api_key_env})"
        g = self.guards
        return [
            ("config_file", self.config_file or "(none)", src("config")),
            ("env", self.env or "(none)", src("env")),
            ("api_url", self.api_url, src("api_url")),
            ("api_key", key, src("api_key_env")),
            ("rate_limit", self.rate_limit, src("rate_limit")),
            ("workflows", " ".join(self.workflows), src("workflows")),
            ("prune", str(self.prune).lower(), src("prune")),
            ("guards", f"max_delete_share={g.max_delete_share:.0%} max_update_share={g.max_update_share:.0%} "
                       f"min_existing={g.min_existing}", src("guards")),
            ("owns", self.scope.describe(), src("owns")),
            ("max_retries", str(self.max_retries), src("max_retries")),
            ("timeout", f"{self.timeout:g}s", src("timeout")),
            ("insecure", str(self.insecure).lower(), src("insecure")),
        ]


def load_settings(cli: Mapping[str, Any], environ: Mapping[str, str] | None = None, cwd: str | None = None,
                  *, need_key: bool = False) -> Settings:
    """Resolve settings. ``cli`` holds only what the user gave on the command line."""
    environ = os.environ if environ is None else environ
    cwd = cwd or os.getcwd()
    s = Settings()

    # Layer 0/1/2: the config file's top, then the selected environment's section.
    config_path, config_source = _config_path(cli, environ, cwd)
    env_name, env_source = _pick(cli.get("env"), "--env", environ.get(ENV_VARS["env"]), ENV_VARS["env"])
    layers: list[tuple[str, dict[str, Any]]] = []
    if config_path:
        s.config_file = _shown(config_path, cwd)
        s.sources["config"] = config_source
        data = load_config_file(config_path)
        layers.append(("config file", {k: v for k, v in data.items() if k != "environments"}))
        environments = data.get("environments") or {}
        if env_name:
            if env_name not in environments:
                known = ", ".join(sorted(environments)) or "none"
                raise ConfigError(f"no environment {env_name!r} in {s.config_file} (environments: {known})")
            layers.append((f"environment '{env_name}'", environments[env_name]))
    elif env_name:
        raise ConfigError(f"--env {env_name} needs a config file with environments: none found ({DEFAULT_CONFIG})")
    s.env = env_name
    if env_name:
        s.sources["env"] = env_source
    base = os.path.dirname(config_path) if config_path else cwd
    for source, layer in layers:
        _apply_layer(s, layer, source, base, cwd)

    # Layer 3: environment variables; layer 4: the command line.
    for key in ("api_url", "rate_limit"):
        if environ.get(ENV_VARS[key]):
            setattr(s, key, environ[ENV_VARS[key]])
            s.sources[key] = ENV_VARS[key]
        if cli.get(key) is not None:
            setattr(s, key, cli[key])
            s.sources[key] = "--" + key.replace("_", "-")
    if cli.get("paths"):
        s.workflows = list(cli["paths"])
        s.sources["workflows"] = "command line"
    if cli.get("prune"):
        s.prune = True
        s.sources["prune"] = "--prune"
    if cli.get("insecure"):
        s.insecure = True
        s.sources["insecure"] = "--insecure"

    # The key: --api-key, else the variable api_key_env names (VOICEBOT_API_KEY by default).
    if cli.get("api_key"):
        s.api_key, s.sources["api_key"] = cli["api_key"], "--api-key"
    elif environ.get(s.api_key_env):
        s.api_key, s.sources["api_key"] = environ[s.api_key_env], s.api_key_env

    s.api_url = check_api_url(s.api_url, insecure=s.insecure)
    if s.local and "rate_limit" not in s.sources:
        s.rate_limit, s.sources["rate_limit"] = "off", "default for local"
    try:
        parse_rate_limit(s.rate_limit)
    except ConfigError as exc:
        raise ConfigError(f"{exc} (from {s.sources.get('rate_limit', 'default')})") from None
    if need_key and not s.api_key and not s.local:
        raise ConfigError(f"no API key: set {s.api_key_env} (or pass --api-key), or use --api-url local to try the emulator")
    return s


def _pick(cli_value, cli_name, env_value, env_name):
    if cli_value:
        return cli_value, cli_name
    if env_value:
        return env_value, env_name
    return None, None


def _config_path(cli, environ, cwd) -> tuple[str | None, str | None]:
    given, source = _pick(cli.get("config"), "--config", environ.get(ENV_VARS["config"]), ENV_VARS["config"])
    if given:
        path = os.path.join(cwd, given)
        if not os.path.isfile(path):
            raise ConfigError(f"config file {given} (from {source}) does not exist")
        return path, source
    default = os.path.join(cwd, DEFAULT_CONFIG)
    return (default, "found in the current directory") if os.path.isfile(default) else (None, None)


def _shown(path: str, cwd: str) -> str:
    """Relative to the working directory when under it, else absolute."""
    relative = os.path.relpath(path, cwd)
    return os.path.abspath(path) if relative.startswith("..") else relative


def _apply_layer(s: Settings, layer: Mapping[str, Any], source: str, base: str, cwd: str) -> None:
    for key, value in layer.items():
        if key == "workflows_dir":
            dirs = [value] if isinstance(value, str) else list(value)
            s.workflows = [_shown(os.path.join(base, d), cwd) for d in dirs]
            s.sources["workflows"] = source
        elif key == "guards":
            g = s.guards
            s.guards = Guards(
                max_delete_share=_share(value.get("max_delete_share", g.max_delete_share)),
                max_update_share=_share(value.get("max_update_share", g.max_update_share)),
                min_existing=int(value.get("min_existing", g.min_existing)),
            )
            s.sources["guards"] = source
        elif key == "owns":
            s.scope = Scope(value.get("prefix"), value.get("names"))
            s.sources["owns"] = source
        else:
            setattr(s, key, value)
            s.sources[key] = source


def _share(value: Any) -> float:
    if isinstance(value, str) and value.endswith("%"):
        return float(value[:-1]) / 100
    return float(value)


def check_api_url(url: str, *, insecure: bool = False) -> str:
    """``local``, https, or http to loopback; anything else needs --insecure (the key would travel in clear)."""
    url = url.strip().rstrip("/")
    if url == LOCAL_API_URL:
        return url
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ConfigError(f"invalid API URL {url!r}: use https://HOST/PATH, or 'local' for the built-in emulator")
    if parts.scheme == "http" and not insecure and not _loopback(parts.hostname):
        raise ConfigError(f"refusing plain http:// to {parts.hostname}: the key would travel in clear; use https:// or pass --insecure")
    return url


def _loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def load_config_file(path: str) -> dict[str, Any]:
    """The config file, validated against its schema; ValidationError with FILE:LINE for every problem."""
    import jsonschema
    import yaml
    from importlib.resources import files

    from .definitions import _line_of, _walk, display_path, read_text

    source = display_path(path)
    try:
        text = read_text(__import__("pathlib").Path(path))
        node = yaml.compose(text, Loader=getattr(yaml, "CSafeLoader", yaml.SafeLoader))
    except ValueError as exc:
        raise ValidationError([Problem(source, 0, str(exc))]) from None
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        raise ValidationError([Problem(source, mark.line + 1 if mark else 0, f"YAML syntax error: {getattr(exc, 'problem', exc)}")]) from None
    if node is None:
        return {}
    lines: dict[tuple, int] = {}
    structural = list(_walk(node, (), lines))
    if structural:
        raise ValidationError([Problem(source, ln, msg) for ln, msg in structural])
    data = yaml.safe_load(text)
    if not isinstance(data, dict):
        raise ValidationError([Problem(source, 1, "the config file must be a mapping of settings")])
    problems = []
    for where, section in [((), data)] + [(("environments", n), e) for n, e in (data.get("environments") or {}).items() if isinstance(e, dict)]:
        if "api_key" in section:
            problems.append(Problem(source, _line_of(lines, where + ("api_key",), 1),
                                    "keys do not belong in files under git: set api_key_env to the name of a variable that holds it"))
            section.pop("api_key")
    schema = json.loads(files("voicebot_sync").joinpath("schemas", "config.schema.json").read_text(encoding="utf-8"))
    from .definitions import _schema_message

    for error in jsonschema.Draft202012Validator(schema).iter_errors(data):
        path = list(error.absolute_path)
        if error.validator == "additionalProperties":
            path += [k for k in error.instance if k not in error.schema.get("properties", {})][:1]
        problems.append(Problem(source, _line_of(lines, path, 1), _schema_message(error)))
    for where, section in [((), data)] + [(("environments", n), e) for n, e in (data.get("environments") or {}).items() if isinstance(e, dict)]:
        if isinstance(section.get("rate_limit"), str):
            try:
                parse_rate_limit(section["rate_limit"])
            except ConfigError as exc:
                problems.append(Problem(source, _line_of(lines, where + ("rate_limit",), 1), str(exc)))
    if problems:
        raise ValidationError(problems)
    return data
