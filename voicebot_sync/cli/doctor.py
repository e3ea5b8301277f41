"""doctor: the face over ``commands.doctor`` (options -> one call -> render -> exit code)."""

from __future__ import annotations

import json
import sys

import click

from ..errors import EXIT, Refused, VoicebotSyncError
from .app import main
from .options import (_environments, _events, _report_failure, _settings, _with_max_wait, connection_options,
                      max_wait_option)


@main.command()
@click.option("--write-test", is_flag=True,
              help="Also create, read back, look for and delete one probe workflow (at most 4 requests): which "
                   "optional fields the server keeps, and whether its list lags.")
@click.option("--yes", "-y", is_flag=True, help="Run the write test without asking (required without a terminal).")
@click.option("--format", "fmt", type=click.Choice(["text", "json"]), default="text", show_default=True)
@max_wait_option
@connection_options
def doctor(write_test, yes, fmt, max_wait, api_url, api_key, rate_limit, insecure, verbose, config_file, env_name,
           all_envs, no_config):
    """Check the URL, the key and the server's shape with one request (the list); exit 1 when voicebot-sync
    cannot work with it."""
    from ..commands.environments import each_environment
    from ..commands.doctor import doctor as run
    from ..errors import worst

    if write_test and not yes and not _on_terminal():
        raise Refused("not running the write test: no terminal to confirm on; pass --yes to run it without a question")
    given = dict(api_url=api_url, api_key=api_key, rate_limit=rate_limit, insecure=insecure, config_file=config_file)
    envs = _environments(env_name, all_envs, config_file)
    if envs and write_test and not yes:
        raise Refused("the write test in several environments runs without a question per environment: pass --yes")
    settings_of = {env: _with_max_wait(_settings(need_key=True, env=env, **given), max_wait) for env in envs} if envs \
        else {None: _with_max_wait(_settings(need_key=True, env_name=env_name, **given), max_wait)}

    def work(env):
        prefix = f"[{env}] " if env else ""
        return run(settings_of[env], _events(verbose=verbose, prefix=prefix), write_test=write_test,
                   confirm=lambda question: _confirm(question, yes))

    results = each_environment(list(settings_of), work)
    codes, documents, texts = _gathered(results, several=bool(envs))
    if fmt == "json":
        document = documents[None] if not envs else {"format_version": 1, "environments": documents}
        click.echo(json.dumps(document, indent=2, ensure_ascii=False))
    else:
        click.echo("\n".join(texts), nl=False)
    _echo_reasons(results)
    code = worst(codes)
    if code:
        sys.exit(code)


def _gathered(results, *, several: bool) -> tuple[list[int], dict, list[str]]:
    """Each environment's exit code, JSON document and text report. A failure is reported and counted when
    there are several environments; with one, it is raised (the one handler says it)."""
    from ..output.doctor import render_doctor_text

    codes, documents, texts = [], {}, []
    for env, result, exc in results:
        if exc is not None:
            if not several:
                raise exc
            _report_failure(env, exc)
            codes.append(getattr(exc, "exit_code", EXIT["error"]))
            continue
        documents[env] = result.to_json()
        texts.append(render_doctor_text(result))
        codes.append(EXIT["ok"] if result.ok and not result.refused else EXIT["error"])
    return codes, documents, texts


def _echo_reasons(results) -> None:
    """Why each environment's check failed or was refused, one line each on stderr (after the reports)."""
    for env, result, exc in results:
        if result is not None and (not result.ok or result.refused):
            where = f"[{env}] " if env else ""
            click.echo(f"error: {where}{result.reason if not result.ok else result.refused}", err=True)


def _on_terminal() -> bool:
    return sys.stdin.isatty()


def _confirm(question: str, yes: bool) -> None:
    if yes:
        return
    try:
        answer = click.confirm(question, default=False, err=True)
    except click.Abort:
        raise Refused("write test not run: interrupted at the question; nothing was created") from None
    if not answer:
        raise Refused("write test not run: nothing was created")
