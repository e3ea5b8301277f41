"""Options every command shares, settings from them, environments, and the events through which
commands talk to this face."""

from __future__ import annotations

import json
import os
from typing import Any

import click

from ..errors import UsageError, ValidationError
from .app import _print_problems

# -- shared options --------------------------------------------------------------


def click_option(name: str, *decls: str, help_suffix: str = "", **extra: Any):
    """The option of setting ``name`` from the one table of sources (read/sources.py), as click's decorator:
    its variable shown by click (``show_envvar``), its default as the table says it (the option itself
    defaults to None, so that load_settings knows it was not given)."""
    from ..read.sources import BY_NAME

    source = BY_NAME[name]
    kwargs: dict[str, Any] = {"help": source.help + help_suffix}
    if source.variable:
        kwargs.update(envvar=source.variable, show_envvar=True)
    if source.default is not None and "default" not in extra:
        kwargs["show_default"] = source.default
    kwargs.update(extra)
    return click.option(source.option, *decls, **kwargs)


def connection_options(f):
    """--api-url, --api-key, --rate-limit, --config, --env, --insecure, -v on every command that talks to the API."""
    # Help, variables and defaults from the one table of sources (read/sources.py).
    options = [
        click_option("api_url"),
        click_option("api_key"),
        click_option("rate_limit"),
        click_option("insecure", is_flag=True, default=None, show_default=False),
        click.option("-v", "--verbose", is_flag=True, help="Print each request's method, path, status and time (never the key)."),
    ]
    for option in reversed(options):
        f = option(f)
    return config_options(f)


def _no_color(ctx, param, value):
    if value:
        ctx.find_root().meta["no_color"] = True
    return value


# The one place that says which commands run over several environments at once (--env a,b,
# --all-environments), keyed by the command function's name. Every other command takes one
# environment: its --help offers no list, and a list given to it is refused naming these.
SEVERAL_ENVIRONMENTS = ("validate", "plan", "apply", "drift", "doctor")


def _one_environment(ctx, param, value):
    if value and "," in value:
        several = ", ".join(SEVERAL_ENVIRONMENTS[:-1]) + " and " + SEVERAL_ENVIRONMENTS[-1]
        raise click.UsageError(f"{ctx.info_name} takes one environment (--env NAME), not {value!r}; "
                               f"several at once work with {several}", ctx=ctx)
    return value


def config_options(f):
    if f.__name__ in SEVERAL_ENVIRONMENTS:
        f = click_option("env", "env_name", help_suffix=" Several at once: staging,production.")(f)
        f = click.option("--all-environments", "all_envs", is_flag=True,
                         help="Every environment of the config file, each with its own key and budget, at once.")(f)
    else:
        f = click_option("env", "env_name", callback=_one_environment)(f)
    f = click_option("config", "config_file", type=click.Path(dir_okay=False))(f)
    f = click.option("--no-config", is_flag=True, help="Read no config file, not even voicebot-sync.yaml.")(f)
    f = click.option("--no-color", is_flag=True, expose_value=False, callback=_no_color, is_eager=True,
                     help="No colours (also NO_COLOR=1 or TERM=dumb).")(f)
    return f


def _settings(need_key: bool = False, env: str | None | bool = False, **given):
    """Resolved settings; only options the user actually gave are passed on (click resolved envvars
    already, but config.load_settings must know the true source, so it re-reads the environment).
    ``env`` (when not False) selects one environment of several."""
    from ..read.settings import load_settings

    ctx = click.get_current_context()
    cli: dict[str, Any] = {}
    names = {"api_url": "api_url", "api_key": "api_key", "rate_limit": "rate_limit", "config_file": "config",
             "env_name": "env", "paths": "paths", "prune": "prune", "insecure": "insecure", "settle_time": "settle_time"}
    for param, key in names.items():
        if param not in given:
            continue
        source = ctx.get_parameter_source(param)
        if source == click.core.ParameterSource.COMMANDLINE:
            value = given[param]
            if key == "paths":
                value = list(value) or None
            if key in ("prune", "insecure") and not value:
                continue
            if value is not None:
                cli[key] = value
    if given.get("env_from_plan") and "env" not in cli:
        cli["env"] = given["env_from_plan"]
    environ = os.environ
    if env is not False:
        cli["env"] = env
        environ = {k: v for k, v in os.environ.items() if k != "VOICEBOT_ENV"}
    if ctx.params.get("no_config"):
        cli["no_config"] = True
    return load_settings(cli, environ, os.getcwd(), need_key=need_key)


def _environments(env_name: str | None, all_envs: bool, config_file: str | None) -> list[str] | None:
    """Several environments (``--env a,b`` or ``--all-environments``), or None for the one-environment case."""
    if not all_envs and not (env_name and "," in env_name):
        return None
    if all_envs and env_name and _from_command_line(click.get_current_context(), "env_name"):
        raise UsageError("--all-environments and --env cannot go together")
    if all_envs:
        from ..read.settings import config_environments

        names = config_environments(config_file, os.environ, os.getcwd()) or []
        if not names:
            raise UsageError("--all-environments: the config file defines no environments")
        return names
    from ..commands.environments import parse_environments

    names = parse_environments(env_name)
    if any(not n.strip() for n in env_name.split(",")):
        raise UsageError(f"--env {env_name!r}: give distinct names separated by commas, such as staging,production")
    return names


def _report_failure(env: str, exc: BaseException) -> None:
    from ..text.escaping import visible

    if isinstance(exc, ValidationError):
        _print_problems(exc)
    click.echo(f"error: [{visible(env)}] {exc}", err=True)


def _events(*, verbose: bool = False, log=None, prefix: str = ""):
    """How commands talk to this face (core.events.Events): notes, waits and retries on stderr,
    -v request lines, --log-file."""
    from ..core.events import Events
    from ..core.schedule import format_seconds
    from ..text.escaping import visible

    loggers = [h for h in ((_verbose_printer(prefix) if verbose else None), log) if h]
    waited = _wait_printer(prefix=prefix)

    class Terminal(Events):
        def note(self, text: str) -> None:
            click.echo(prefix + visible(text), err=True)

        def wait(self, seconds: float, why: str) -> None:
            waited(seconds, why)

        def request(self, record) -> None:
            for log_one in loggers:
                log_one(record)

        def retry(self, why: str, seconds: float) -> None:
            click.echo(f"{prefix}retrying in {format_seconds(seconds)}: {visible(why)}", err=True)

    return Terminal()


def _verbose_printer(prefix: str = ""):
    def show(record) -> None:
        status = record.status if record.status is not None else "no answer"
        click.echo(f"{prefix}  {record.method} {record.path} -> {status} ({record.seconds * 1000:.0f} ms)", err=True)

    return show


def _wait_printer(prefix: str = ""):
    """A line for every wait a person would otherwise take for a hang."""
    from ..output.progress import wait_line

    def on_wait(seconds: float, why: str) -> None:
        line = wait_line(seconds, why)
        if line:
            click.echo(prefix + line, err=True)

    return on_wait


def max_wait_option(f):
    """--max-wait on the read-only commands: a server that answers 429 to everything is given up on in time."""
    return click_option("max_wait", default="60s", show_default=True)(f)


def _with_max_wait(settings, max_wait: str):
    from ..core.schedule import parse_duration

    settings.max_wait = parse_duration(max_wait)
    return settings


def paths_argument(f):
    return click.argument("paths", nargs=-1, type=click.Path())(f)



def _color(stream) -> bool:
    """Colour only on a terminal, and never with NO_COLOR (no-color.org), TERM=dumb or --no-color."""
    if os.environ.get("NO_COLOR") or os.environ.get("TERM") == "dumb":
        return False
    ctx = click.get_current_context(silent=True)
    if ctx is not None and ctx.find_root().meta.get("no_color"):
        return False
    return stream.isatty()


def _from_command_line(ctx, param: str) -> bool:
    return ctx.get_parameter_source(param) == click.core.ParameterSource.COMMANDLINE


def _plan_env(path: str) -> str | None:
    try:
        with open(path, encoding="utf-8") as fh:
            data = json.load(fh)
        env = data.get("env") if isinstance(data, dict) else None
        return env if isinstance(env, str) and env else None
    except (OSError, ValueError, RecursionError):
        return None  # Plan.load says what is wrong with it, with the right error

