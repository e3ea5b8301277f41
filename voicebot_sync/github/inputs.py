"""The action's inputs into the tool's settings: which variables they set, where the key goes,
the list of environments, and the settings of each (``config.load_settings``, in-process)."""

from __future__ import annotations

import os
import re
from typing import Mapping

from ..read.sources import ACTION_INPUTS, BY_NAME
from ..text.redaction import fingerprint, register_secret
from .runner import Runner

# The action's inputs, passed by action.yml under names of their own, and the tool's variables they set.
# An empty input sets nothing, so a job-level VOICEBOT_* variable still counts (GitHub gives a step every
# declared env entry, an empty one too, and an empty step-level entry would hide the job's value).
# One table of every setting's sources (read/sources.py) says which.
INPUT_VARIABLES = ACTION_INPUTS
DEFAULT_KEY_VARIABLE = BY_NAME["api_key"].variable


def environment_names(value: str | None) -> list[str]:
    """``staging,production`` (or spaces) as a list; empty: none given (the default environment).
    The one parser of the command line's ``--env a,b`` (commands.environments), duplicates refused."""
    from ..commands.environments import parse_environments

    return parse_environments(value)


def _given(environ: Mapping[str, str]) -> dict[str, str]:
    """The variables that are set: an empty one means not given."""
    return {k: v for k, v in environ.items() if not (k.startswith("VOICEBOT_") and v == "")}


def _settings_environ(environ: Mapping[str, str]) -> dict[str, str]:
    """What ``load_settings`` reads: the given variables, the environment list left out (each is passed on its own)."""
    return {k: v for k, v in _given(environ).items() if k != "VOICEBOT_ENV"}


def key_variables(environ: Mapping[str, str], cwd: str | None = None, resolved: dict | None = None) -> list[str]:
    """The variables the tool reads the key from, one per environment of the list: the ``api_key_env`` of
    that environment of the config file (or of its top), else VOICEBOT_API_KEY. When the config cannot be
    read the tool reports that itself; the key then goes to VOICEBOT_API_KEY. ``resolved`` (env -> (cli,
    Settings)) keeps each resolution for the step, which then only reads the key (``settings_for``)."""
    from ..read.settings import load_settings

    found = []
    cwd = cwd or os.getcwd()
    for env in environment_names(environ.get("VOICEBOT_ENV")) or [None]:
        cli = _cli(Runner(environ), env)
        try:
            settings = load_settings(cli, _settings_environ(environ), cwd)
            name = str(getattr(settings, "api_key_env", "") or "")
            if resolved is not None:  # the step reads the key into a copy (settings.with_key): once per environment
                resolved[env] = (cli, settings)
        except Exception:  # noqa: BLE001 - any problem here is the tool's to report, with its own words
            name = DEFAULT_KEY_VARIABLE
        found.append(name if re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", name) else DEFAULT_KEY_VARIABLE)
    return list(dict.fromkeys(found))


def action_environment(environ: Mapping[str, str], out=None, resolved: dict | None = None) -> dict[str, str]:
    """The step's environment with the action's inputs applied: non-empty ``VS_*`` inputs set the tool's
    ``VOICEBOT_*`` variables; the ``api-key`` input (``VS_API_KEY``, stripped) goes to the variable the tool
    will read it from for each listed environment (``key_variables``), so ``environment: production`` with
    ``api_key_env: VOICEBOT_PROD_KEY`` works. The key is masked, then it, the keys in use and the GitHub
    token are registered for redaction."""
    env = dict(environ)
    key = env.pop("VS_API_KEY", "")
    # Mask first: once a secret is registered (reading the config may do it), every line carrying it is
    # redacted, its mask line too. (A job-level variable from a secret is masked by the runner itself.)
    Runner(env, out=out).mask(key)
    for source, target in INPUT_VARIABLES.items():
        value = env.pop(source, "")
        if value.strip():
            env[target] = value.strip()
    register_secret(key)
    variables = key_variables(env, resolved=resolved)
    if key.strip():
        for name in variables:
            env[name] = key.strip()
    for secret in [*(env.get(v) for v in variables), env.get(DEFAULT_KEY_VARIABLE), env.get("VS_GITHUB_TOKEN"),
                   env.get("GITHUB_TOKEN")]:
        register_secret(secret)
    return env


def environments(runner: Runner) -> list[str | None]:
    """The environments to run, in the order given; ``[None]`` without any."""
    return environment_names(runner.env.get("VOICEBOT_ENV")) or [None]


def settings_for(runner: Runner, env: str | None, *, need_key: bool = True):
    """The tool's settings for one environment, from the inputs and the step's variables (never the GitHub
    token: ``load_settings`` reads only the VOICEBOT_* variables and the one its ``api_key_env`` names)."""
    from ..read.settings import load_settings, with_key

    cli = _cli(runner, env)
    cli_then, resolved = (getattr(runner, "resolved", None) or {}).get(env, (None, None))
    if resolved is not None and cli_then == cli:
        return with_key(resolved, cli, _settings_environ(runner.env), need_key=need_key)
    return load_settings(cli, _settings_environ(runner.env), os.getcwd(), need_key=need_key)


def _cli(runner: Runner, env: str | None) -> dict:
    """What the step gives load_settings as if from a command line: the paths, --prune, the environment."""
    cli: dict = {}
    if runner.paths:
        cli["paths"] = runner.paths
    if runner.flag("PRUNE"):
        cli["prune"] = True
    if env:
        cli["env"] = env
    return cli


def ledger_fingerprint(runner: Runner) -> str:
    """The fingerprint that names the ledger cache: the key's (``redaction.fingerprint``), or, when the listed
    environments use several keys, one over theirs; empty when there is no key (nothing is spent)."""
    keys = []
    for env in environments(runner):
        try:
            settings = settings_for(runner, env, need_key=False)
        except Exception:  # noqa: BLE001 - the command itself reports a bad config
            continue
        if settings.api_key and not settings.local:
            keys.append(fingerprint(settings.api_key))
    keys = sorted(set(keys))
    if len(keys) <= 1:
        return keys[0] if keys else ""
    return fingerprint("\n".join(keys))
