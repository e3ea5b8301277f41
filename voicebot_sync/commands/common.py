"""What every command shares: the connection, loading, planning.

The CLI and the GitHub Action call the command functions (``commands.plan``,
``commands.apply``, …); they are handed settings and ``Events`` (core/events.py: one
protocol, a null implementation) and return results. Tests call them directly with
an injected transport (and, through ``make_client``, a clock).
"""

from __future__ import annotations

import os
import time
from dataclasses import dataclass
from typing import Any, Callable, Sequence

from ..errors import ConfigError, PlanError
from ..core.events import Events
from ..core.model import Scope
from ..core.plan import Guards, Plan, remote_fingerprint
from ..api.ratelimit import RateLimiter
from ..api.retry import RetryPolicy
from ..apply.stop import StopSignal

LOCAL_STATE = os.path.join(".voicebot-sync", "local-api.json")


def connection(settings, transport: Any = None) -> "Connection":
    return Connection(settings.api_url, settings.api_key, settings.windows, settings.max_retries, settings.timeout,
                      transport=transport,
                      key_source=settings.source("api_key") if settings.api_key else settings.api_key_env,
                      max_wait=settings.max_wait)


def client_for(settings, events: Events, *, transport: Any = None, stop: StopSignal | None = None,
               waits: Events | None = None, read_only: bool = False):
    """A client for ``settings`` whose waits, requests and retries are told to ``events`` (waits to
    ``waits`` when given: apply's progress shows them). ``transport``: an httpx transport (tests);
    None means the network. ``read_only``: the command writes nothing (plan, drift, export): an
    unreadable ledger is set aside."""
    client = make_client(connection(settings, transport), stop=stop, events=events, waits=waits, read_only=read_only)
    if client.limiter.ledger_notice:
        events.note(client.limiter.ledger_notice)
    return client


def load(settings, events: Events):
    """The definitions, and the paths discovery passed over (said before the plan with --prune)."""
    from ..read.definitions import load_definitions_with_notes
    from ..errors import ValidationError

    try:
        definitions, notes = load_definitions_with_notes(settings.workflows, env=settings.env, scope=settings.scope)
    except ValidationError as exc:
        for note in getattr(exc, "notes", []):
            events.note(f"note: {note}")
        raise
    for w in sorted({w for d in definitions for w in d.warnings}):
        events.note(f"{w.file}:{w.line}: warning: {w.message}")
    if notes and settings.prune:
        # Anything not read would look unmanaged: say so before the plan deletes it.
        for note in notes:
            events.note(f"note: {note}")
    return definitions, notes


def skipped_note(skipped: Sequence[str]) -> list[str]:
    """The plan's note on paths discovery passed over (none when it read them all)."""
    if not skipped:
        return []
    shown = ", ".join(skipped[:5]) + (" ..." if len(skipped) > 5 else "")
    return [f"{len(skipped)} path{'s' if len(skipped) != 1 else ''} not read: {shown}"]


def plan_definitions(client, settings, definitions, skipped: Sequence[str], findings) -> Plan:
    """The finished plan of loaded definitions, for plan and apply alike: one list, then the
    environment, the rules' findings and spoken lengths, and the paths not read."""
    from ..core import rulecheck

    plan = plan_against(client, definitions, api_url=settings.api_url, windows=settings.windows,
                        prune=settings.prune, scope=settings.scope, unkept=settings.unkept_fields)
    plan = rulecheck.annotate(plan.with_(env=settings.env), definitions, settings, findings)
    return plan.with_(notes=plan.notes + tuple(skipped_note(skipped)))


@dataclass
class Connection:
    """Where to send requests and how: what a client needs, without the CLI."""

    api_url: str
    api_key: str | None
    windows: Sequence[tuple[int, float]] = ()
    max_retries: int = 5
    timeout: float = 30.0
    transport: Any = None  # an httpx transport; None means the network
    backoff_base: float = 1.0  # seconds before the first retry of a transient fault; doubles each time
    key_source: str = "VOICEBOT_API_KEY"  # the variable (or --api-key) a wrong key is to be checked in
    max_wait: float | None = None  # the longest total wait for 429s per request (read-only commands)


def make_client(
    conn: Connection,
    *,
    stop: StopSignal | None = None,
    events: Events | None = None,
    waits: Events | None = None,
    clock: Callable[[], float] = time.monotonic,
    sleep: Callable[[float], None] | None = None,
    read_only: bool = False,
):
    """A client whose every wait goes through one limiter (and one stop signal), told to ``events``
    (waits to ``waits`` when given). The API layer takes plain callables: the three methods it calls."""
    from ..api.client import VoicebotClient

    events = events or Events()
    on_wait = (waits or events).wait

    transport = conn.transport
    base_url = conn.api_url
    if conn.api_url == "local":
        from ..emulator import local_transport

        transport = transport or local_transport(os.path.abspath(LOCAL_STATE))
        base_url = "http://local.invalid/voicebot/v1"
    from urllib.parse import urlsplit

    from ..read.connection import is_loopback

    ledger = None
    if conn.api_url != "local" and conn.api_key and conn.windows:
        # Every run starts from what earlier runs with this key spent (never the key itself on disk).
        from ..state.ledger import ledger_for

        ledger = ledger_for(conn.api_key)
    limiter = RateLimiter(conn.windows, clock=clock, sleep=sleep or (stop or StopSignal()).sleep, on_wait=on_wait,
                          ledger=ledger, read_only=read_only)
    longest = max((length for _, length in conn.windows), default=3600.0)
    retry = RetryPolicy(max_retries=conn.max_retries, base=conn.backoff_base, max_retry_after=longest + 60.0,
                        max_wait=conn.max_wait)
    return VoicebotClient(
        base_url, conn.api_key, transport=transport, limiter=limiter, timeout=conn.timeout,
        retry=retry, on_request=events.request, on_retry=events.retry, key_source=conn.key_source,
        # A loopback URL never goes through an environment proxy (the key would reach the proxy).
        trust_env=not is_loopback(urlsplit(base_url).hostname),
    )


def owned(remote: list[dict[str, Any]], scope: Scope, also_ids=()) -> list[dict[str, Any]]:
    return scope.owned(remote, also_ids)


def plan_against(client, definitions, *, api_url: str, windows, prune: bool, scope: Scope, unkept=()) -> Plan:
    """List the remote once and plan the definitions against it."""
    from ..core.schedule import least_time
    from ..core.planner import make_plan

    remote = client.list_workflows()
    plan = make_plan(definitions, remote, api_url=api_url, windows=windows, prune=prune, scope=scope, unkept=unkept)
    pages = getattr(client, "list_pages", 1)
    if pages > 1:  # apply's list takes every page again
        plan = plan.with_(list_pages=pages)
        plan = plan.with_(estimated_seconds=least_time(plan.requests, windows))
    if plan.has_changes and windows:
        # From the budget left now (this run's requests and, through the ledger, earlier runs'),
        # not only from an empty window: apply's own list plus one request per change.
        plan = plan.with_display(eta_now=client.limiter.earliest_starts(plan.requests)[-1])
    return plan


def check_saved_plan(client, plan: Plan, path: str, *, api_url: str, scope: Scope) -> Plan:
    """A saved plan (loaded by the face from ``path``), refused unless it was made for this API against
    the remote as it is now, and every update and delete in it points at the remote workflow it names."""
    from ..state.statedir import canonical_url

    if canonical_url(plan.api_url) != canonical_url(api_url):
        raise PlanError(f"the plan in {path} was made for {plan.api_url}, not {api_url}: nothing was changed")
    remote = owned(client.list_workflows(), scope, plan.pinned_ids)
    plan.check_fresh(remote_fingerprint(remote))
    plan.check_targets(remote)
    # The share guards count the remote as it is, never as a (hand-edited) file says it was.
    return plan.with_(remote_count=len(remote))


def check_prune_scope(settings) -> None:
    """A command never deletes what it did not read: --prune needs the whole workflows directory.

    Paths narrower than the configured directory (``apply workflows/one.yaml``)
    would make every workflow defined elsewhere look unmanaged, so with --prune
    (from the command line or the config) they are refused."""
    if not settings.prune or settings.source("workflows") != "command line":
        return
    configured = [os.path.realpath(p) for p in settings.workflows_configured]
    given = [os.path.realpath(p) for p in settings.workflows]
    if not any(os.path.exists(p) for p in configured):
        return  # nothing else is defined anywhere: the given paths are the whole repo
    covered = all(any(c == g or c.startswith(g.rstrip(os.sep) + os.sep) for g in given) for c in configured)
    if not covered:
        from ..errors import UsageError

        source = settings.source("prune")
        raise UsageError(
            f"--prune (from {source}) with paths narrower than the workflows directory "
            f"({' '.join(settings.workflows_configured)}) would delete every workflow defined elsewhere: "
            "give no paths (or the whole directory), or leave out --prune")


def check_safety(plan: Plan, *, guards: Guards, force: bool, prune: bool, source: str) -> None:
    """The plan's own guards; --force passes the shares, never an empty --prune."""
    if prune:
        plan.raise_if_empty_prune(source)
    if not force:
        plan.raise_if_unsafe(guards)


def export_remote(client, out_dir: str, *, scope: Scope, with_ids: bool = False, force: bool = False):
    from ..authoring.export import existing_definitions, write_export

    if not force and os.path.isdir(out_dir) and existing_definitions(out_dir):
        write_export([], out_dir)  # refuses, before a request is spent
    return write_export(owned(client.list_workflows(), scope), out_dir, with_ids=with_ids, force=force)


def parse_assignments(pairs: Sequence[str]) -> dict[str, str]:
    """``--set name=Ada`` pairs as a dict."""
    values = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep or not key.strip():
            raise ConfigError(f"--set takes NAME=VALUE, not {pair!r}")
        values[key.strip()] = value
    return values


def reviewed_changes(path: str) -> set[str]:
    """Change fingerprints from a saved plan (JSON) or a text file with one per line."""
    try:
        with open(path, encoding="utf-8") as fh:
            text = fh.read()
    except OSError as exc:
        raise PlanError(f"cannot read reviewed plan {path}: {exc.strerror}") from exc
    if text.lstrip().startswith("{"):
        return {c.fingerprint for c in Plan.load(path).changes}
    return set(text.split())
