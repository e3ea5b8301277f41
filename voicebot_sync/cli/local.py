"""validate, render, new, init, schema, config, budget, emulator: the commands of authoring
and local work (offline, or reading only the ledger)."""

from __future__ import annotations

import json
import os

import click

from ..errors import ConfigError, Problem, UsageError
from .app import main
from .options import _environments, _events, _settings, config_options, connection_options, paths_argument


@main.command()
@paths_argument
@click.option("--format", "fmt", type=click.Choice(["text", "json"]), default="text", show_default=True)
@config_options
def validate(paths, fmt, config_file, env_name, all_envs, no_config):
    """Check definition files offline: schema, templates, duplicate names and ids, every environment's overrides."""
    from ..commands.validate import validate as run
    from ..read.settings import config_environments
    from ..text.escaping import visible

    envs = _environments(env_name, all_envs, config_file)
    settings = (_settings(paths=paths, config_file=config_file, env=None) if envs else
                _settings(paths=paths, config_file=config_file, env_name=env_name))
    environments = None if no_config else config_environments(config_file, os.environ, os.getcwd())
    result = run(settings, environments, _events(), only=envs,
                 settings_for=lambda env: _settings(paths=paths, config_file=config_file, env=env))
    for note in result.skipped:
        click.echo(f"note: {visible(note)}", err=True)
    from ..output.ruleview import text_lines

    for line in text_lines(result.findings):  # team-rule warnings and waivers: shown, not blocking
        click.echo(line, err=True)
    if fmt == "json":
        click.echo(json.dumps({"format_version": 1, "valid": True, "definitions": result.definitions,
                               "files": result.files, "environments": result.environments,
                               "skipped": result.skipped, "rules": [f.to_json() for f in result.findings],
                               "warnings": [str(w) for w in result.warnings]},
                              indent=2, ensure_ascii=False))
        return
    envs_checked = f" (and under {', '.join(result.environments)})" if result.environments else ""
    click.echo(f"{result.definitions} definition{'s' if result.definitions != 1 else ''} in {result.files} "
               f"file{'s' if result.files != 1 else ''}: valid{envs_checked}.")



def fault_options(f):
    """The emulator's fault and quirk options, generated from its own table (emulator.FAULT_OPTIONS)."""
    from ..emulator import FAULT_OPTIONS

    for name, kind, default, text in reversed(FAULT_OPTIONS):
        flag = "--" + name.replace("_", "-")
        if kind is bool:
            f = click.option(flag, name, is_flag=True, default=False, help=text)(f)
        elif isinstance(kind, tuple) and all(isinstance(k, str) for k in kind):
            f = click.option(flag, name, type=click.Choice(list(kind)), default=default, show_default=True, help=text)(f)
        elif kind is tuple:
            f = click.option(flag, name, default=",".join(default), help=text)(f)
        else:
            f = click.option(flag, name, type=kind, default=default, show_default=default is not None, help=text)(f)
    return f


@main.command()
@click.option("--host", default="127.0.0.1", show_default=True,
              help="Address to listen on; keep loopback unless the emulator has keys (--api-key).")
@click.option("--port", default=8080, show_default=True, type=int)
@click.option("--api-key", "api_keys", multiple=True, help="An accepted key (repeatable); none: no key required.")
@click.option("--data", "data_file", type=click.Path(dir_okay=False), help="Persist workflows in this JSON file.")
@click.option("--rate-limit", default="6/1m,60/1h", show_default=True, help="The quota to enforce per key, or off.")
@fault_options
def emulator(host, port, api_keys, data_file, rate_limit, **faults):
    """Serve the Voicebot workflow API locally, for demos, tests and offline CI.

    The fault and quirk options make it misbehave on purpose (lost answers, lagging
    lists, pagination, 429s, HTML pages, trickling answers), so a client's recovery
    paths can be tried against it.

    A create without workflow_type is stored as ROBOCALL: the API reference's table says
    "Required: yes" and gives the default ROBOCALL; the emulator reads it as a default the
    server fills in (voicebot-sync itself always sends workflow_type)."""
    from ..read.connection import is_loopback
    from ..core.schedule import parse_rate_limit
    from ..emulator import main_serve
    from ..errors import FileError

    if not api_keys and not is_loopback(host):
        click.echo(f"warning: serving on {host} without keys: anyone who can reach it can change its workflows; "
                   "pass --api-key, or keep --host 127.0.0.1", err=True)
    try:
        main_serve(host, port, list(api_keys), data_file, parse_rate_limit(rate_limit), **faults)
    except OSError as exc:
        raise FileError.from_os_error(exc, f"{host}:{port}") from exc
    except ValueError as exc:
        raise UsageError(str(exc)) from exc



@main.command()
@click.argument("file", type=click.Path(dir_okay=False))
@click.option("--name", "workflow", help="Which workflow of a multi-document file (default: the first).")
@click.option("--set", "assignments", multiple=True, metavar="PARAM=VALUE", help="A placeholder's value (repeatable); others use their `example`.")
@config_options
def render(file, workflow, assignments, config_file, env_name, no_config):
    """Print a workflow's message filled in, and its length against the 1000-character limit."""
    from ..errors import ValidationError as Invalid
    from ..core.model import MAX_MESSAGE_LENGTH
    from ..commands.common import parse_assignments
    from ..core.template import example_values, over_max_length, placeholders, render as fill, worst_case

    settings = _settings(config_file=config_file, env_name=env_name)
    from ..read.definitions import load_definitions

    definitions = load_definitions([file], env=settings.env)
    chosen = [d for d in definitions if workflow in (None, d.name)]
    if not chosen:
        raise ConfigError(f"no workflow named {workflow!r} in {file}")
    d = chosen[0]
    given = parse_assignments(assignments)
    known = placeholders(d.desired()["message"])
    for name in given:
        if name not in known:
            import difflib

            close = difflib.get_close_matches(name, known, n=1)
            hint = f" (did you mean '{close[0]}'?)" if close else f" (its placeholders: {', '.join(known) or 'none'})"
            raise UsageError(f"--set {name}: the message has no placeholder [{name}]{hint}")
    values = {**example_values(d.parameters or {}), **given}
    try:
        text = fill(d.desired()["message"], values)
    except ValueError as exc:
        raise ConfigError(f"{exc}: pass --set NAME=VALUE or give the parameter an example") from exc
    click.echo(text)
    click.echo(f"-- {len(text)} characters (limit {MAX_MESSAGE_LENGTH}); "
               f"{worst_case(d.desired()['message'], d.parameters)}", err=True)
    click.echo(f"-- {_spoken_line(settings, d, text)}", err=True)
    for line in over_max_length(d.parameters, given):
        click.echo(f"warning: --set {line}", err=True)
    if len(text) > MAX_MESSAGE_LENGTH:
        raise Invalid([Problem(d.source, d.key_lines.get("message", d.line),
                               f"filled-in message is {len(text)} characters; the limit is {MAX_MESSAGE_LENGTH}")])


def _spoken_line(settings, definition, text: str) -> str:
    """How long ``text`` (the message filled in) takes to say, and at worst (words_per_minute in the config)."""
    from ..core import spoken
    from ..core.rulecheck import ruleset_for

    speech = ruleset_for(settings).speech
    language = definition.fields.get(spoken.LANGUAGE_LABEL)
    line = (f"about {spoken.phrase(spoken.seconds_for_text(text, language, speech))} to say, at "
            f"{speech.rate(language):g} words a minute")
    worst = spoken.for_definition(definition, speech)
    if worst is not None and worst.worst is not None:
        line += f" (at most {spoken.phrase(worst.worst)} with every placeholder at its max_length)"
    return line


@main.command()
@click.option("--config", "which", flag_value="config", help="The config file's schema instead.")
@click.option("--workflow", "which", flag_value="workflow", default=True, help="The workflow definition schema (default).")
def schema(which):
    """Print the JSON Schema of definition files (or of the config file), for editors."""
    from importlib.resources import files

    click.echo(files("voicebot_sync").joinpath("schemas", f"{which}.schema.json").read_text(encoding="utf-8"), nl=False)


@main.command()
@click.argument("name")
@click.option("--dir", "directory", default="workflows", show_default=True, type=click.Path(file_okay=False))
@click.option("--type", "workflow_type", type=click.Choice(["ROBOCALL", "CONVERSATION"]), default="ROBOCALL", show_default=True)
def new(name, directory, workflow_type):
    """Write a definition skeleton (never a second definition of a name); validate refuses it until its
    message is written."""
    from ..text.escaping import visible
    from ..authoring.new import defined_names, new_definition

    settings = _settings()
    known = defined_names(list(dict.fromkeys([*settings.workflows, directory])))
    path = new_definition(name, directory, workflow_type, known)
    click.echo(f"wrote {visible(path)}: edit the message, then run `voicebot-sync validate {directory}`")


@main.command()
@click.option("--force", is_flag=True, help="Overwrite files that differ from what init would write.")
def init(force):
    """Start a repository: voicebot-sync.yaml, workflows/, the JSON Schemas (for editors, offline),
    a pre-commit hook, VS Code settings and a .gitignore entry for .voicebot-sync/."""
    from ..authoring.init import init_repo

    written = init_repo(os.getcwd(), force=force)
    for path in written:
        click.echo(f"wrote {path}")
    click.echo("Nothing to write: the repository is set up already." if not written else
               "Next: edit workflows/, then `voicebot-sync validate` and `voicebot-sync plan --api-url local`.")


@main.command()
@connection_options
def budget(api_url, api_key, rate_limit, insecure, verbose, config_file, env_name, no_config):
    """Show what is left of the rate limit for the key in use, from the ledger every command keeps."""
    import time

    from ..state.ledger import ledger_for
    from ..api.ratelimit import budget_status

    settings = _settings(need_key=True, api_url=api_url, api_key=api_key, rate_limit=rate_limit, insecure=insecure,
                         config_file=config_file, env_name=env_name)
    if settings.local or not settings.windows:
        click.echo(f"No rate limit for {settings.api_url if not settings.local else 'the local emulator'}: "
                   "requests may start at once.")
        return
    ledger = ledger_for(settings.api_key)
    status = budget_status(settings.windows, ledger.load(), time.time())
    env = f" (environment {settings.env})" if settings.env else ""
    click.echo(f"Key {ledger.path.rsplit('/', 1)[-1][:-5]}{env} at {settings.api_url}: {status.describe()}")
    if not status.trusted:
        click.echo(f"warning: {status.problem}; a busy window is assumed", err=True)


@main.command("config")
@paths_argument
@click.option("--format", "fmt", type=click.Choice(["text", "json"]), default="text", show_default=True)
@connection_options
def show_config(paths, fmt, api_url, api_key, rate_limit, insecure, verbose, config_file, env_name, no_config):
    """Print the resolved settings and where each came from (the key only as set/unset)."""
    settings = _settings(paths=paths, api_url=api_url, api_key=api_key, rate_limit=rate_limit, insecure=insecure,
                         config_file=config_file, env_name=env_name)
    rows = settings.describe()
    if fmt == "json":
        click.echo(json.dumps({"format_version": 1, "settings": {name: {"value": value, "source": source}
                                                                 for name, value, source in rows}}, indent=2))
        return
    width = max(len(r[0]) for r in rows)
    for name, value, source in rows:
        click.echo(f"{name.ljust(width)}  {value}  ({source})")


if __name__ == "__main__":  # pragma: no cover
    main()
