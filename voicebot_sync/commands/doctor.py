"""``doctor``: can voicebot-sync work with this server? One list says most of it.

With the one request every command starts with (the list, every page of it), doctor
reports what the API reference leaves open for a real account: whether the URL and the
key work, the list's shape (envelope or bare, how it pages and in how many pages), the
fields the server returns beyond the managed ones, duplicated remote names (exactly, and
after Unicode NFC), rate-limit headers, the server's clock skew (its ``Date`` header), the
answer time, and what the ledger says is left of the budget. ``--write-test`` adds the
probe of ``probe.py``: which optional fields the server keeps, and whether its list lags.

``doctor`` returns a ``DoctorResult``; the face renders it (``render_text``,
``to_json``) and exits 0 when ``ok``, 1 otherwise (``reason`` is the one line).
"""

from __future__ import annotations

import email.utils
import re
import time
import unicodedata
from dataclasses import dataclass, field
from typing import Any, Callable

from ..errors import ApiError, RequestRejected
from ..text.escaping import visible
from ..core.model import MANAGED_FIELDS
from ..core.events import Events
from .common import client_for

FORMAT_VERSION = 1
SKEW_WARNING = 300.0  # seconds: Retry-After dates and the ledger's wall times start to mislead
_RATE_HEADER = re.compile(r"rate.?limit|retry-after|quota", re.I)
_ALIASES = {"id", "option_one", "option_two"}  # not "extra": the id, and response_options spelt otherwise


@dataclass
class DoctorResult:
    """What doctor found about one server (one environment)."""

    api_url: str
    env: str | None = None
    ok: bool = True
    reason: str | None = None  # why the tool cannot work with this server (one line)
    requests: int = 0
    answer_seconds: float | None = None
    listing: dict[str, Any] | None = None  # the list's shape (JSON: "list")
    extra_fields: list[str] = field(default_factory=list)
    duplicate_names: list[dict[str, Any]] = field(default_factory=list)
    nfc_duplicate_names: list[dict[str, Any]] = field(default_factory=list)
    rate_limit_headers: dict[str, str] = field(default_factory=dict)
    clock_skew_seconds: float | None = None
    budget: dict[str, Any] | None = None
    leftover_probes_removed: list[str] = field(default_factory=list)
    probes_on_remote: list[dict[str, str]] = field(default_factory=list)
    write_test: Any = None  # probe.ProbeReport
    refused: str | None = None  # the write test was not run: why
    warnings: list[str] = field(default_factory=list)

    def fail(self, reason: str) -> None:
        if self.ok:
            self.ok, self.reason = False, reason

    def to_json(self) -> dict[str, Any]:
        return {
            "format_version": FORMAT_VERSION, "api_url": self.api_url, "env": self.env, "ok": self.ok,
            "reason": self.reason, "requests": self.requests,
            "answer_seconds": None if self.answer_seconds is None else round(self.answer_seconds, 3),
            "list": self.listing, "extra_fields": self.extra_fields, "duplicate_names": self.duplicate_names,
            "nfc_duplicate_names": self.nfc_duplicate_names, "rate_limit_headers": self.rate_limit_headers,
            "clock_skew_seconds": None if self.clock_skew_seconds is None else round(self.clock_skew_seconds, 1),
            "budget": self.budget, "leftover_probes_removed": self.leftover_probes_removed,
            "probes_on_remote": self.probes_on_remote,
            "write_test": self.write_test.to_json() if self.write_test is not None else None,
            "write_test_refused": self.refused, "warnings": self.warnings,
        }


def doctor(settings, events: Events | None = None, *, transport=None, write_test: bool = False,
           confirm: Callable[[str], None] = lambda question: None, wall: Callable[[], float] = time.time) -> DoctorResult:
    """Check ``settings``' server; ``confirm(question)`` may raise Refused before the write test."""
    from .apply import lock_url
    from ..state.journal import Journal
    from ..state.lock import account_lock
    from ..apply.probe import remove_leftover_probes

    events = events or Events()
    result = DoctorResult(settings.api_url if not settings.local else "local", settings.env)
    account = lock_url(settings)
    journal = Journal.for_account(account, settings.api_key)
    probes_left = any(e.action == "probe" for e in journal.entries.values())
    with client_for(settings, events, transport=transport) as client:
        try:
            if probes_left or write_test:
                # Writes: under the account's lock, as apply's are (it shares the journal).
                with account_lock(account, settings.api_key, timeout=10.0, on_wait=events.note):
                    journal = Journal.for_account(account, settings.api_key)
                    result.leftover_probes_removed = remove_leftover_probes(
                        client, journal, settle=settings.settle_time, note=events.note)
                    _look(client, result)
                    if write_test and result.ok:
                        _write_test(client, journal, result, settings, confirm)
            else:
                _look(client, result)
        except ApiError as exc:
            result.fail(str(exc))
        finally:
            result.requests = client.sent
            result.budget = _budget(client, settings, wall)
    return result


def _look(client, result: DoctorResult) -> None:
    """The one list, and everything it tells."""
    from ..api.answers import PAGINATION_KEYS
    from ..apply.probe import is_probe_name

    workflows = client.list_workflows()  # every page: the whole remote, or an error
    answer = client.last_list
    result.answer_seconds = answer.seconds
    result.listing = {
        "shape": answer.kind, "envelope_keys": answer.envelope_keys,
        "pagination": answer.style, "pagination_signals": [k for k in PAGINATION_KEYS if k in answer.envelope_keys]
        + (["Link"] if "link" in answer.headers else []),
        "pages": answer.pages, "workflows": len(workflows), "total": answer.total,
    }
    result.extra_fields = sorted({k for w in workflows for k in w} - set(MANAGED_FIELDS) - _ALIASES)
    result.duplicate_names, result.nfc_duplicate_names = _duplicates(workflows)
    for d in result.duplicate_names:
        result.warnings.append(f"{len(d['ids'])} remote workflows are named \"{visible(d['name'])}\" "
                               f"({', '.join(map(visible, d['ids']))}): plans report them as ambiguous until one is "
                               "pinned with id: or the extras are deleted")
    for d in result.nfc_duplicate_names:
        result.warnings.append(f"remote names {', '.join(repr(visible(n)) for n in d['names'])} differ only in "
                               "Unicode form (equal after NFC): voicebot-sync treats them as one name, so plans "
                               "report them as ambiguous")
    result.rate_limit_headers = {k: visible(v)[:200] for k, v in answer.headers.items() if _RATE_HEADER.search(k)}
    # The server wrote its Date while answering: half the answer time before the answer was read.
    result.clock_skew_seconds = _skew(answer.headers.get("Date"), answer.received_at - answer.seconds / 2)
    if result.clock_skew_seconds is not None and abs(result.clock_skew_seconds) > SKEW_WARNING:
        result.warnings.append(f"the server's clock is {result.clock_skew_seconds:+.0f}s from this machine's: "
                               "a Retry-After given as a date would be misread; check this machine's time (NTP)")
    result.probes_on_remote = [{"name": str(w["name"]), "id": str(w["id"])} for w in workflows
                               if is_probe_name(w.get("name"))]
    for p in result.probes_on_remote:
        result.warnings.append(f"a doctor probe is on the remote and not in this machine's journal: "
                               f"\"{visible(p['name'])}\" (id {visible(p['id'])}): it is safe to delete")


def _write_test(client, journal, result: DoctorResult, settings, confirm: Callable[[str], None]) -> None:
    """The probe, when the budget lets its requests start at once (never a probe left waiting for a slot)."""
    from ..core.schedule import format_seconds
    from ..apply.probe import PROBE_PREFIX, WRITE_TEST_REQUESTS, write_test as run_probe

    paginated = result.listing is not None and result.listing["pages"] > 1
    # Looking for the probe in a paged list would cost a request per page: not done, said so.
    need = WRITE_TEST_REQUESTS - 1 if paginated else WRITE_TEST_REQUESTS
    if client.limiter.windows:
        wait = client.limiter.earliest_starts(need)[-1]
        if wait > 0:
            result.refused = (f"not running the write test: the rate budget left does not let its {need} requests "
                              f"start at once (the last could start in {format_seconds(wait)}); try again then "
                              "(see voicebot-sync budget)")
            return
    confirm(f"Create, read back and delete one probe workflow (\"{PROBE_PREFIX} ...\") at "
            f"{result.api_url} ({need} requests)?")
    try:
        probe = run_probe(client, journal, look_in_list=not paginated)
    except RequestRejected as exc:
        result.fail(f"the server refused to create the probe workflow: {exc}")
        return
    result.write_test = probe
    if probe.core_not_kept:
        result.fail(f"the server did not keep {', '.join(probe.core_not_kept)} as sent: plans against it would "
                    "never converge")
    if probe.config_line:
        dropped = ", ".join(f for f in probe.not_kept if f not in probe.core_not_kept)
        result.warnings.append(f"the server does not keep {dropped}: add `{probe.config_line}` to voicebot-sync.yaml"
                               + (f" (under environments: {settings.env}:)" if settings.env else "")
                               + " so plans stop showing them as a change on every run")
    if probe.listed is False:
        result.warnings.append(f"the list lags behind writes (the probe was not listed at once): keep settle_time "
                               f"(now {settings.settle_time:g}s) above the lag")


def _duplicates(workflows: list[dict[str, Any]]) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    exact: dict[str, list[str]] = {}
    by_form: dict[str, set[str]] = {}
    for w in workflows:
        name = str(w.get("name"))
        exact.setdefault(name, []).append(str(w["id"]))
        by_form.setdefault(unicodedata.normalize("NFC", name), set()).add(name)
    same = [{"name": n, "ids": ids} for n, ids in sorted(exact.items()) if len(ids) > 1]
    forms = [{"names": sorted(names), "ids": sorted(i for n in names for i in exact[n])}
             for _, names in sorted(by_form.items()) if len(names) > 1]
    return same, forms


def _skew(date: str | None, local: float) -> float | None:
    """Server time minus this machine's, from a ``Date`` header (None without one)."""
    if not date:
        return None
    try:
        when = email.utils.parsedate_to_datetime(date)
    except (TypeError, ValueError):
        return None
    return None if when is None else when.timestamp() - local


def _budget(client, settings, wall: Callable[[], float]) -> dict[str, Any] | None:
    """What the ledger says is left, after doctor's own requests (None: no limit, or the local emulator)."""
    from ..api.ratelimit import budget_status
    from ..core.schedule import format_window

    ledger = client.limiter.ledger
    if ledger is None or not settings.windows:
        return None
    status = budget_status(settings.windows, ledger.load(), wall())
    return {"windows": [{"window": format_window(w.window), "used": w.used, "left": w.left,
                         "next_free_in": round(w.next_free_in)} for w in status.windows],
            "next_start_in": round(status.next_start_in), "trusted": status.trusted, "summary": status.describe()}
