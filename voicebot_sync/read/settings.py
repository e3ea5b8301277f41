"""Settings from the command line, the environment and voicebot-sync.yaml.

Precedence, highest first: command line > environment variables > the selected
environment's section of the config file > the top of the config file >
defaults. Each setting remembers where it came from, for `voicebot-sync config`.

The key is only ever read from ``--api-key`` or an environment variable, never
from a file under git, and it is never shown: not in ``repr``, not in
``describe()``, not in an error message.
"""

from __future__ import annotations

import difflib
import math
import os
from dataclasses import dataclass, field, fields
from typing import Any, Mapping

from ..core.schedule import DEFAULT_RATE_LIMIT, parse_rate_limit
from ..errors import ConfigError
from ..text.escaping import short
from ..core.model import Scope
from ..text.redaction import register_secret
from .connection import DEFAULT_KEY_ENV, LOCAL_API_URL, check_api_key, check_api_url
from .configfile import config_schema, load_config_file  # noqa: F401 - part of this module's API
from .sources import CONFIG_KEYS, DEFAULT_API_URL, DEFAULT_CONFIG, OVERRIDES, variable
from ..core.plan import Guards

DEFAULT_MAX_RETRIES = 5
DEFAULT_TIMEOUT = 30.0
ENV_VARS = {name: variable(name) for name in ("api_url", "rate_limit", "config", "env")}
# What the top of the file and each environment section may set (the schema says the same): sources.TABLE.
SETTINGS = CONFIG_KEYS
DEFAULT_SETTLE_TIME = 10.0



@dataclass
class Settings:
    """Everything a command needs to know, resolved; ``sources`` says where each setting came from."""

    api_url: str = DEFAULT_API_URL
    api_key: str | None = None
    api_key_env: str = DEFAULT_KEY_ENV
    rate_limit: str = DEFAULT_RATE_LIMIT
    workflows: list[str] = field(default_factory=lambda: ["workflows"])
    prune: bool = False
    guards: Guards = field(default_factory=Guards)
    scope: Scope = field(default_factory=Scope)
    env: str | None = None
    insecure: bool = False
    config_file: str | None = None
    max_retries: int = DEFAULT_MAX_RETRIES
    timeout: float = DEFAULT_TIMEOUT
    settle_time: float = DEFAULT_SETTLE_TIME
    # Optional fields this server does not keep (kept.py): never compared, so never an update every run.
    unkept_fields: tuple[str, ...] = ()
    max_wait: float | None = None  # plan, drift: the longest total wait for 429s (--max-wait); None: unbounded
    # The workflow directories before command-line paths narrowed them (for --prune's scope check).
    workflows_configured: list[str] = field(default_factory=lambda: ["workflows"])
    # Team rules and speaking rates of the config file (rules.RuleBook; .select(env) gives one run's).
    rules: Any = None
    sources: dict[str, str] = field(default_factory=dict)

    def __repr__(self) -> str:  # the dataclass would print the key; this one says set/unset
        shown = {f.name: getattr(self, f.name) for f in fields(self)}
        shown["api_key"] = "<set>" if self.api_key else "<unset>"
        shown["scope"] = self.scope.describe()
        return "Settings(" + ", ".join(f"{k}={v}" if k == "api_key" else f"{k}={v!r}" for k, v in shown.items()) + ")"

    __str__ = __repr__

    @property
    def windows(self) -> list[tuple[int, float]]:
        return parse_rate_limit(self.rate_limit)

    @property
    def local(self) -> bool:
        return self.api_url == LOCAL_API_URL

    def source(self, setting: str) -> str:
        return self.sources.get(setting, "default")

    def describe(self) -> list[tuple[str, str, str]]:
        """(setting, value shown, source) rows for `voicebot-sync config`; the key only as set/unset."""
        if self.api_key:
            key = f"set (from {self.source('api_key')})"
        else:
            key = f"unset (looked in {self.api_key_env})"
        g = self.guards
        return [
            ("config_file", self.config_file or "(none)", self.source("config")),
            ("env", self.env or "(none)", self.source("env")),
            ("api_url", self.api_url, self.source("api_url")),
            ("api_key", key, self.source("api_key") if self.api_key else self.source("api_key_env")),
            ("rate_limit", self.rate_limit, self.source("rate_limit")),
            ("workflows", " ".join(self.workflows), self.source("workflows")),
            ("prune", str(self.prune).lower(), self.source("prune")),
            ("guards", f"max_delete_share={g.max_delete_share:.0%} max_update_share={g.max_update_share:.0%} "
                       f"min_existing={g.min_existing}", self.source("guards")),
            ("owns", self.scope.describe(), self.source("owns")),
            ("max_retries", str(self.max_retries), self.source("max_retries")),
            ("timeout", f"{self.timeout:g}s", self.source("timeout")),
            ("settle_time", f"{self.settle_time:g}s", self.source("settle_time")),
            ("unkept_fields", ", ".join(self.unkept_fields) or "(none)", self.source("unkept_fields")),
            ("insecure", str(self.insecure).lower(), self.source("insecure")),
            ("rules", self.rules.describe() if self.rules is not None else "none", self.source("rules")),
        ]


def load_settings(cli: Mapping[str, Any], environ: Mapping[str, str] | None = None, cwd: str | None = None,
                  *, need_key: bool = False) -> Settings:
    """Resolve every setting from its layers; ``cli`` holds only what the user gave on the command line.

    ``cli`` keys: api_url, api_key, rate_limit, config, env, paths, prune, insecure
    (absent or None means not given). ``environ`` and ``cwd`` default to the process's.

    The key: ``--api-key`` if given, else the variable named by the effective
    ``api_key_env`` (the selected environment's section > the top of the file >
    VOICEBOT_API_KEY). When the file names another variable, VOICEBOT_API_KEY is
    deliberately not read: a general key must never reach, say, production just
    because the production variable is missing. ``insecure`` comes only from the
    command line, so plain http:// to a remote host is always a conscious choice.

    Raises ConfigError (bad option, variable or --env; missing key when
    ``need_key`` and the API is not local) or ValidationError (the config file).
    """
    environ = os.environ if environ is None else environ
    cwd = cwd or os.getcwd()
    s = Settings()
    _from_config_file(s, cli, environ, cwd)
    _from_environment_and_options(s, cli, environ)
    _read_key(s, cli, environ)
    _check(s, environ, need_key=need_key)
    return s


def _from_config_file(s: Settings, cli: Mapping[str, Any], environ: Mapping[str, str], cwd: str) -> None:
    """The config file's top, then the selected environment's section (``--env`` / VOICEBOT_ENV)."""
    config_path, config_source = _config_path(cli, environ, cwd)
    env_name, env_source = _first((cli.get("env"), "--env"), (environ.get(ENV_VARS["env"]), ENV_VARS["env"]))
    if not config_path:
        if env_name:
            raise ConfigError(f"{env_source} {env_name} needs a config file with environments: "
                              f"there is no {DEFAULT_CONFIG} here; pass --config FILE")
        return
    s.config_file = _shown(config_path, cwd)
    s.sources["config"] = config_source
    data = load_config_file(config_path, shown=s.config_file)
    layers: list[tuple[str, Mapping[str, Any]]] = [("config file", {k: v for k, v in data.items() if k != "environments"})]
    environments = data.get("environments") or {}
    if env_name:
        if env_name not in environments:
            raise ConfigError(_unknown_environment(env_name, environments, s.config_file))
        layers.append((f"environment '{env_name}'", environments[env_name]))
        s.env, s.sources["env"] = env_name, env_source
    base = os.path.dirname(config_path)
    for source, layer in layers:
        _apply_layer(s, layer, source, base, cwd)
    sections = [data, *(e for e in environments.values() if isinstance(e, dict))]
    if any(section.get("rules") or section.get("words_per_minute") for section in sections):
        from .rulefile import from_config

        s.rules = from_config(data)
        s.sources["rules"] = "config file"


def _unknown_environment(env_name: str, environments: Mapping[str, Any], shown: str) -> str:
    known = ", ".join(sorted(environments)) or "none"
    close = ([e for e in sorted(environments) if e.lower().startswith(env_name.lower())]
             or difflib.get_close_matches(env_name, list(environments), n=1))
    hint = f"; did you mean '{close[0]}'?" if close else ""
    return f"no environment {env_name!r} in {shown} (environments: {known}){hint}"


def _from_environment_and_options(s: Settings, cli: Mapping[str, Any], environ: Mapping[str, str]) -> None:
    """Environment variables over the file, then the command line over everything."""
    for key, variable, option in OVERRIDES:
        if environ.get(variable):
            _set(s, key, environ[variable], variable)
        if cli.get(key) is not None:
            _set(s, key, cli[key], option)
    s.workflows_configured = list(s.workflows)
    if cli.get("paths"):
        _set(s, "workflows", [str(p) for p in cli["paths"]], "command line")
    if cli.get("settle_time") is not None:
        _set(s, "settle_time", _settle(cli["settle_time"], "--settle-time"), "--settle-time")
    if cli.get("prune") is not None:
        _set(s, "prune", bool(cli["prune"]), "--prune" if cli["prune"] else "--no-prune")
    if cli.get("insecure"):
        _set(s, "insecure", True, "--insecure")


def _read_key(s: Settings, cli: Mapping[str, Any], environ: Mapping[str, str]) -> None:
    """The key: masked in every output from the moment it is read (checked later, in ``_check``)."""
    if cli.get("api_key"):
        s.api_key, s.sources["api_key"] = cli["api_key"], "--api-key"
    elif environ.get(s.api_key_env):
        s.api_key, s.sources["api_key"] = environ[s.api_key_env], s.api_key_env
    if s.api_key is not None:
        register_secret(s.api_key)


def _check(s: Settings, environ: Mapping[str, str], *, need_key: bool) -> None:
    """The URL, the key and the rate limit checked together, each error naming where its value came from."""
    try:
        s.api_url = check_api_url(s.api_url, insecure=s.insecure)
    except ConfigError as exc:
        raise ConfigError(f"{exc} (api_url from {s.source('api_url')})") from None
    _check_key(s)
    for_this_run = ("--api-url", "--rate-limit", ENV_VARS["api_url"], ENV_VARS["rate_limit"])
    if s.local and ("rate_limit" not in s.sources or
                    (s.source("api_url") in for_this_run and s.source("rate_limit") not in for_this_run)):
        # The in-process emulator has no quota; the quick start must not wait a minute. A config
        # file's rate_limit is the remote API's quota (init writes one): it paces local only when
        # the file chose local too, or when given for this run (--rate-limit, VOICEBOT_RATE_LIMIT).
        _set(s, "rate_limit", "off", "default for local")
    if str(s.rate_limit).strip().lower() in ("off", "none", ""):
        s.rate_limit = "off"  # one spelling, whatever was typed (OFF, None)
    try:
        parse_rate_limit(s.rate_limit)
    except ConfigError as exc:
        raise ConfigError(f"{exc} (from {s.source('rate_limit')})") from None
    if need_key:
        require_key(s, environ)


def _check_key(s: Settings) -> None:
    if s.local:
        s.api_key = None  # the in-process emulator takes no key: never send (or check) one
    elif s.api_key is not None:
        s.api_key = check_api_key(s.api_key, s.source("api_key"))


def require_key(s: Settings, environ: Mapping[str, str]) -> None:
    """A remote API needs a key: ConfigError naming the variable that was read, and why another was not."""
    if not s.api_key and not s.local:
        raise ConfigError(_missing_key(s, environ))


def with_key(resolved: Settings, cli: Mapping[str, Any], environ: Mapping[str, str], *,
             need_key: bool = False) -> Settings:
    """A copy of ``resolved`` (load_settings' answer for the same ``cli`` before the key was put in the
    environment) with the key read from ``environ`` now: the Action resolves an environment once to learn
    which variable its key goes in, then uses that resolution for the step. The rest of a resolution never
    depends on the key."""
    import copy

    s = copy.deepcopy(resolved)
    _read_key(s, cli, environ)
    _check_key(s)
    if need_key:
        require_key(s, environ)
    return s


def _missing_key(s: Settings, environ: Mapping[str, str]) -> str:
    """The sentence for a missing key: which variable was read, and why another was not."""
    message = f"no API key: set {s.api_key_env}"
    if s.api_key_env == DEFAULT_KEY_ENV:
        message += " (or the variable named by api_key_env in the config file)"
    message += " or pass --api-key, or use --api-url local to try the built-in emulator"
    if s.api_key_env != DEFAULT_KEY_ENV and environ.get(DEFAULT_KEY_ENV):
        message += (f"; {DEFAULT_KEY_ENV} is set but not used, because api_key_env "
                    f"(from {s.source('api_key_env')}) names {s.api_key_env}")
    return message


def _set(s: Settings, name: str, value: Any, source: str) -> None:
    setattr(s, name, value)
    s.sources[name] = source


def _first(*candidates: tuple[Any, str]) -> tuple[Any, str | None]:
    """The first given (value, source) pair; empty strings count as not given."""
    for value, source in candidates:
        if value:
            return value, source
    return None, None


def config_environments(config_file: str | None, environ: Mapping[str, str], cwd: str) -> list[str] | None:
    """The names of the config file's environments; None without a config file (nothing to check against)."""
    path, _ = _config_path({"config": config_file} if config_file else {}, environ, cwd)
    if not path:
        return None
    data = load_config_file(path, shown=_shown(path, cwd))
    environments = data.get("environments")
    return sorted(environments) if isinstance(environments, dict) else []


def _config_path(cli: Mapping[str, Any], environ: Mapping[str, str], cwd: str) -> tuple[str | None, str | None]:
    if cli.get("no_config"):
        return None, None
    given, source = _first((cli.get("config"), "--config"), (environ.get(ENV_VARS["config"]), ENV_VARS["config"]))
    if given:
        path = os.path.join(cwd, os.path.expanduser(str(given)))
        if not os.path.exists(path):
            raise ConfigError(f"config file {given} (from {source}) does not exist")
        if not os.path.isfile(path):
            raise ConfigError(f"config file {given} (from {source}) is not a file")
        return path, source
    default = os.path.join(cwd, DEFAULT_CONFIG)
    return (default, "found in the current directory") if os.path.isfile(default) else (None, None)


def _shown(path: str, cwd: str) -> str:
    """Relative to the working directory when under it, else absolute."""
    try:
        relative = os.path.relpath(path, cwd)
    except ValueError:  # another drive on Windows
        return os.path.abspath(path)
    return os.path.abspath(path) if relative.startswith("..") else relative


def _apply_layer(s: Settings, layer: Mapping[str, Any], source: str, base: str, cwd: str) -> None:
    """One validated layer of the config file over what is already resolved."""
    for key, value in layer.items():
        if key == "workflows_dir":
            dirs = [value] if isinstance(value, str) else list(value)
            _set(s, "workflows", [_shown(_inside(base, d, source), cwd) for d in dirs], source)
        elif key == "guards":
            # Field by field: an environment that only lowers max_delete_share keeps the rest.
            g = s.guards
            _set(s, "guards", Guards(
                max_delete_share=parse_share(value.get("max_delete_share", g.max_delete_share)),
                max_update_share=parse_share(value.get("max_update_share", g.max_update_share)),
                min_existing=int(value.get("min_existing", g.min_existing)),
            ), source)
        elif key == "owns":
            s.scope = Scope(value.get("prefix"), value.get("names"))
            s.sources["owns"] = source
        elif key == "settle_time":
            _set(s, key, _settle(value, source), source)
        elif key == "unkept_fields":
            _set(s, key, tuple(value), source)
        elif key == "timeout":
            timeout = float(value)
            if not math.isfinite(timeout) or not 0 < timeout <= 3600:
                raise ConfigError(f"timeout (from {source}) must be a number of seconds from 0 to 3600")
            _set(s, key, timeout, source)
        elif key in SETTINGS:
            _set(s, key, value, source)


def _settle(value: Any, source: str) -> float:
    seconds = float(value)
    if not math.isfinite(seconds) or not 0 <= seconds <= 600:
        raise ConfigError(f"settle_time (from {source}) must be a number of seconds from 0 to 600")
    return seconds


def _inside(base: str, given: str, source: str) -> str:
    """A path from a config file, kept inside the config file's directory tree.

    A file under git must not point the tool at /etc or a runner's home (a path on
    the command line is the user's explicit choice and may go anywhere)."""
    root = os.path.realpath(base)
    path = os.path.realpath(os.path.join(base, os.path.expanduser(str(given))) if not os.path.isabs(str(given))
                            else str(given))
    if path != root and not path.startswith(root.rstrip(os.sep) + os.sep):
        raise ConfigError(f"workflows_dir {short(given)} (from {source}) leaves the config file's directory "
                          f"{_shown(root, os.getcwd())}: give a path inside it, or pass the directory on the command line")
    return os.path.join(base, str(given))


def parse_share(value: Any) -> float:
    """A guard threshold as a fraction: ``0.3`` or ``"30%"`` -> 0.3."""
    if isinstance(value, str) and value.strip().endswith("%"):
        share = float(value.strip()[:-1]) / 100
    else:
        share = float(value)
    if not math.isfinite(share) or not 0 <= share <= 1:
        raise ConfigError(f"a guard share must be from 0 to 1 (or 0% to 100%), not {short(value)}")
    return share
