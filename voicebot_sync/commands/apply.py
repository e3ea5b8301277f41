"""``apply``: make the remote match, under the account lock, with the journal, stoppable.

The sequence, in one place for the CLI and the Action: take the account's lock
(before the remote is read, so a second apply plans against what the first left),
read the journal, make the plan (or reload a saved one and check it), settle the
journal against the remote, save the plan if asked, check it against a review and
the guards, let the face show and confirm it, then execute it with stop signals
handled, and return the report. The face turns the result into text and an exit code.
"""

from __future__ import annotations

import os
import time
from dataclasses import dataclass, field
from typing import Callable

from ..core import rulecheck
from ..errors import ApplyFailed, Incomplete, Interrupted
from ..text.escaping import visible
from ..apply.executor import Executor
from ..apply.report import Report, interrupted_line
from ..core.events import Events
from ..state.journal import Journal
from ..state.lock import account_lock
from ..core.model import loose_name_key
from ..core.plan import Plan
from ..apply.probe import remove_leftover_probes
from ..apply.stop import StopSignal
from .common import (
    check_prune_scope,
    check_safety,
    client_for,
    load,
    plan_definitions,
    check_saved_plan,
)


@dataclass
class ApplyOptions:
    """What shapes one apply, beyond the settings."""

    # Plain values, never paths to read again: the faces load files, the command checks what it is given.
    saved: Plan | None = None  # apply exactly this saved plan (checked against the remote first)
    saved_from: str = "the saved plan"  # where it came from, for messages
    reviewed: set[str] | None = None  # refuse any change whose fingerprint is not in this reviewed set
    reviewed_from: str = "the reviewed plan"
    # Called with the plan as soon as it is made (and saved): raises to refuse it, before anything is
    # sent but that plan's one list request (the Action compares a large plan's fingerprint here).
    check_plan: Callable[[Plan], None] | None = None
    out_file: str | None = None  # save the plan about to be applied
    force: bool = False  # past the share guards
    max_duration: float | None = None  # seconds from ``started``
    lock_wait: float = 600.0  # seconds to wait for another apply of the account (0: refuse)
    started: float = field(default_factory=time.monotonic)


@dataclass
class ApplyResult:
    """The plan that was applied (or found empty) and what became of it (None: nothing to do)."""

    plan: Plan
    report: Report | None = None
    interrupted: bool = False  # stopped at once by a second signal: the report says what was done

    def raise_for_outcome(self) -> None:
        """The report as the tree's errors: stopped at once -> Interrupted, failed or uncertain ->
        ApplyFailed, stopped -> Incomplete."""
        report = self.report
        if self.interrupted:
            raise Interrupted(interrupted_line(report), report)
        if report is None:
            return
        if report.failed or report.uncertain:
            bad = len(report.failed) + len(report.uncertain)
            raise ApplyFailed(f"{bad} of {report.total} operations failed or are uncertain (see above); "
                              "run apply again: it checks uncertain creates before repeating them", report)
        if report.remaining:
            raise Incomplete(f"stopped with {len(report.remaining)} of {report.total} operations not started "
                             f"({report.stopped}); run apply again to finish", report)


def lock_url(settings) -> str:
    """The account the lock and the journal belong to (local state lives in the working directory)."""
    return settings.api_url if not settings.local else "local:" + os.path.abspath(".")


def apply(
    settings,
    options: ApplyOptions,
    events: Events | None = None,
    *,
    progress: Events | None = None,  # the executor's audience (and apply's waits); default: events
    transport=None,
    stop: StopSignal | None = None,
    confirm: Callable[[Plan], None] = lambda plan: None,
    stop_hint: str = "",
) -> ApplyResult:
    """Apply ``settings``' definitions (or ``options.saved``); ``confirm`` may show the plan and raise Refused."""
    events = events or Events()
    progress = progress or events
    stop = stop or StopSignal()
    if options.saved is None:
        check_prune_scope(settings)
    account = lock_url(settings)
    with account_lock(account, settings.api_key, timeout=options.lock_wait, on_wait=events.note), \
            client_for(settings, events, transport=transport, stop=stop, waits=progress) as client:
        journal = Journal.for_account(account, settings.api_key)
        if journal.problem:
            events.note(f"warning: {journal.problem}")
        remove_leftover_probes(client, journal, settle=settings.settle_time, note=events.note)  # doctor's, if stopped
        if options.saved is not None:
            the_plan = check_saved_plan(client, options.saved, options.saved_from, api_url=settings.api_url,
                                        scope=settings.scope)
            source = options.saved_from
        else:
            definitions, skipped = load(settings, events)
            findings = rulecheck.check(definitions, settings)  # an error rule stops here, before any request
            the_plan = plan_definitions(client, settings, definitions, skipped, findings)
            source = " ".join(settings.workflows)
        creating = {loose_name_key(c.name) for c in the_plan.of("create")}
        for entry in journal.settle_pending(the_plan.remote_names, time.time(), settings.settle_time):
            if loose_name_key(entry.name) not in creating:
                continue
            if entry.state == "created":  # confirmed: its answer was not lost, the list only lags (or forgot)
                events.note(f"note: an earlier run created \"{visible(entry.name)}\" (id {visible(entry.id)}) moments "
                            "ago and the list does not show it yet; apply looks for it before creating it again")
            else:
                events.note(f"note: an earlier create of \"{visible(entry.name)}\" lost its answer; apply looks "
                            "for it before creating it again")
        if options.out_file:
            the_plan.dump(options.out_file)
        if options.check_plan is not None:
            options.check_plan(the_plan)
        if options.reviewed is not None:
            the_plan.check_reviewed(options.reviewed, options.reviewed_from)
        check_safety(the_plan, guards=settings.guards, force=options.force,
                     prune=settings.prune or bool(the_plan.of("delete")), source=source)
        if not the_plan.has_changes:
            result = _nothing_to_do(the_plan, client)
            _remember(account, settings.env, events, result)
            return result
        confirm(the_plan)
        deadline = options.started + options.max_duration if options.max_duration is not None else None
        stop.deadline = deadline  # every wait, not only the start of each operation
        executor = Executor(client, events=progress, stop=stop, deadline=deadline, journal=journal,
                            settle=settings.settle_time, unkept=settings.unkept_fields)
        # Signals are ours only while changes are made: before, Ctrl-C simply ends the command.
        with stop.handling_signals(on_first=lambda: progress.note(stop_notice(executor, stop_hint))):
            try:
                result = ApplyResult(the_plan, executor.run(the_plan))
            except KeyboardInterrupt:  # a second signal: stopped at once; returned, like any outcome, for the face
                return ApplyResult(the_plan, getattr(executor, "last_report", None), interrupted=True)
            _remember(account, settings.env, events, result)
        return result


def _remember(account: str, env: str | None, events: Events, result: ApplyResult) -> None:
    """Record what this apply made or found managed, for drift (applied.py): a hint, so failing
    to write it is a warning, never a failed apply."""
    from ..state.applied import AppliedRecord, record_apply
    from ..errors import VoicebotSyncError

    record = AppliedRecord.for_account(account, env)
    if record.problem:
        events.note(f"warning: {record.problem}")
    try:
        record_apply(record, result.plan, result.report)
    except VoicebotSyncError as exc:
        events.note(f"warning: the record of applied workflows was not saved: {exc}")


def stop_notice(executor: Executor, hint: str = "") -> str:
    """What the first stop signal says at once: what happens to the operation in flight."""
    what = executor.in_flight
    if what is not None and executor.client.sent > getattr(executor, "sent_before", executor.client.sent):
        text = f"stopping after the request in flight ({what.action} \"{visible(what.name)}\") is answered and checked"
    elif what is not None:  # still waiting for the rate limit: nothing of it was sent, and nothing will be
        text = (f"stopping: the next operation ({what.action} \"{visible(what.name)}\") was waiting for the rate "
                "limit and will not start")
    else:
        text = "stopping: no new operation will start"
    return f"{text}; {hint}" if hint else text


def _nothing_to_do(plan: Plan, client) -> ApplyResult:
    report = Report(total=0, requests=client.sent, rate_limited=client.rate_limited, retries=client.retries,
                    plan_fingerprint=plan.plan_fingerprint, list_pages=plan.list_pages)
    return ApplyResult(plan, report)
