"""Apply a Plan: in order, through the rate limiter, surviving faults, stoppable.

Creates, then updates, then deletes, exactly as planned. Every write is recorded
in the journal before it is sent. A write whose answer was lost (timeout,
dropped connection, 5xx) is checked before it is repeated: a lost POST is looked
for in lists spread over the settle time (a list may lag behind writes) and
adopted when it appears; only a list taken a full settle time after the POST
that still lacks it lets the POST be sent again. A lost PUT or DELETE is checked
with a GET. What cannot be checked is reported as *uncertain* and stays in the
journal for the next run. So a fault never creates a duplicate and never reports
as done what did not happen.
"""

from __future__ import annotations

import time
from typing import Any, Callable

from ..api.client import VoicebotClient
from ..errors import (
    AnswerLost,
    ApiError,
    AuthError,
    ConnectionFailed,
    NotFound,
    RateLimited,
    RequestRejected,
    ServerError,
    Uncertain,
    UnexpectedAnswer,
    Unreachable,
)
from ..state.journal import Entry, Journal
from ..core.kept import KeptCheck
from ..core.model import loose_name_key, remote_fields
from ..core.plan import Change, Plan
from ..core.schedule import least_time
from .report import Events, Outcome, Report
from .stop import StopRequested, StopSignal
from ..text.escaping import visible

DONE = {"create": "created", "update": "updated", "delete": "deleted"}


DEFAULT_SETTLE = 10.0  # seconds a list may lag behind writes; configurable (settle_time)


class Executor:
    """Carries out a plan's changes with one client; ``stop`` and ``deadline`` end it early."""

    def __init__(
        self,
        client: VoicebotClient,
        *,
        events: Events | None = None,
        stop: StopSignal | None = None,
        deadline: float | None = None,
        clock: Callable[[], float] | None = None,
        journal: Journal | None = None,
        settle: float = DEFAULT_SETTLE,
        wall: Callable[[], float] = time.time,
        unkept: tuple[str, ...] | list[str] = (),
    ):
        self.client = client
        self.events = events or Events()
        self.stop = stop or StopSignal()
        self.deadline = deadline
        self.clock = clock or client.limiter.clock
        self.max_retries = client.retry.max_retries
        self.journal = journal
        self.settle = settle
        self.wall = wall
        self.in_flight: Change | None = None
        self.sent_before = 0  # client.sent when the change in flight began
        self.kept = KeptCheck(unkept)  # fields the server did not keep: warned once per run (kept.py)
        # Creates of earlier runs that a list may not show yet, by name: (sent on our clock, id if confirmed).
        self._unsettled: dict[str, tuple[float, str | None]] = {}
        if journal is not None:
            for entry in journal.pending_creates():
                sent = self.clock() - max(0.0, wall() - entry.sent_at)
                self._unsettled[loose_name_key(entry.name)] = (sent, entry.id if entry.state == "created" else None)

    def remaining_seconds(self, operations: int) -> float:
        """When the last of the next ``operations`` requests may start, from now (the ETA)."""
        if operations <= 0:
            return 0.0
        return self.client.limiter.earliest_starts(operations)[-1]

    def run(self, plan: Plan) -> Report:
        """Apply ``plan.changes``; the report counts every request the client sent, the list included."""
        started = self.clock()
        report = Report(
            total=len(plan.changes),
            least_seconds=least_time(plan.requests, self.client.limiter.windows),  # the list's pages included
            plan_fingerprint=plan.plan_fingerprint,
            list_pages=plan.list_pages,
        )
        self.last_report = report  # for a caller that is interrupted at once (second signal)
        self.events.start(plan, self)
        pending = list(plan.changes)
        try:
            while pending:
                change = pending[0]
                if self._should_stop(report):
                    break
                self.events.begin(report.total - len(pending) + 1, change)
                self.in_flight = change
                self.sent_before = self.client.sent  # a request for it has left once client.sent is past this
                try:
                    outcome = _depends_on_a_failure(change, report) or self._apply(change)
                except StopRequested:
                    report.stopped = self.stop.reason or "stopped"
                    break
                except KeyboardInterrupt:
                    # A second signal: stop at once. What was in flight is unknown, never "not started".
                    pending.pop(0)
                    outcome = Outcome(change, "uncertain", change.id,
                                      "stopped at once while this request was in flight: its outcome is unknown",
                                      note=_check_hint(change))
                    report.outcomes.append(outcome)
                    report.stopped = "stopped at once (second signal)"
                    raise
                finally:
                    self.in_flight = None
                pending.pop(0)
                report.outcomes.append(outcome)
                self.events.end(report.total - len(pending), outcome)
                if outcome.fatal:
                    report.stopped = outcome.error
                    break
        finally:
            report.remaining = pending
            report.requests = self.client.sent
            report.rate_limited = self.client.rate_limited
            report.retries = self.client.retries
            report.wall_seconds = self.clock() - started
            self.events.finish(report)
        return report

    def _should_stop(self, report: Report) -> bool:
        if self.stop.requested:
            report.stopped = self.stop.reason or "stop requested"
            return True
        if self.deadline is not None:
            wait, _ = self.client.limiter.delay()
            if self.clock() + wait > self.deadline:
                report.stopped = "time budget (--max-duration) would run out before the next operation could start"
                return True
        return False

    # -- one change -------------------------------------------------------------

    def _apply(self, change: Change) -> Outcome:
        try:
            if change.action == "create":
                return self._create(change)
            if change.action == "update":
                return self._update(change)
            return self._delete(change)
        except AuthError as exc:
            return Outcome(change, "failed", change.id, str(exc), fatal=True)
        except Uncertain as exc:
            return Outcome(change, "uncertain", change.id, str(exc.__cause__ or exc), note=_check_hint(change),
                           fatal=getattr(exc, "fatal", True))
        except (RateLimited, ServerError, ConnectionFailed, Unreachable, UnexpectedAnswer) as exc:
            # Still failing after every retry, or an API we cannot talk to: stop starting more.
            return Outcome(change, "failed", change.id, str(exc), fatal=True)
        except ApiError as exc:
            return Outcome(change, "failed", change.id, exc.server_message if exc.status else str(exc))

    def _journalled(self, change: Change, fields: dict[str, Any], send: Callable[[], Outcome],
                    took_effect: Callable[[float], Outcome | None]) -> Outcome:
        """Write (recorded in the journal first); when its answer is lost, check before writing again."""
        attempt = 0
        while True:
            attempt += 1
            entry = self._begin(change, fields)
            sent = self.clock()
            try:
                outcome = send()
            except (AnswerLost, ServerError) as exc:
                self.events.note(f"answer lost for {change.action} \"{visible(change.name)}\" ({exc}); "
                                 "checking before retrying")
                try:
                    with self.stop.guard():
                        found = took_effect(sent)
                except ApiError as check_failed:
                    self._uncertain(entry)
                    raise Uncertain(str(check_failed)) from exc
                if found is not None:
                    self._known(entry, found)
                    found.note = "confirmed after a lost answer"
                    return found
                self._done(entry)  # looked long enough: it did not take effect
                if attempt > self.max_retries:
                    raise
                self.client.backoff(attempt, exc)
            except ConnectionFailed as exc:
                # Nothing reached the server: repeating is safe.
                self._done(entry)
                if attempt > self.max_retries:
                    raise
                self.client.backoff(attempt, exc)
            except (StopRequested, RequestRejected, AuthError, NotFound, RateLimited, Unreachable):
                # Stopped while waiting for a slot, refused, or never acted on (401, 404, 429, not
                # sent): the write certainly did not take effect. A refusal is final: not repeated.
                self._done(entry)
                raise
            except BaseException:
                # Stopped at once (second signal) or a bug: the entry stays, the next run checks it.
                self._uncertain(entry)
                raise
            else:
                self._known(entry, outcome)
                return outcome

    def _begin(self, change: Change, fields: dict[str, Any]) -> Entry | None:
        return self.journal.begin(change.action, change.name, change.id, fields) if self.journal else None

    def _done(self, entry: Entry | None) -> None:
        if self.journal and entry:
            self.journal.done(entry)

    def _known(self, entry: Entry | None, outcome: Outcome) -> None:
        """The write's outcome is known. A confirmed create stays in the journal for the settle time
        (a list may not show it yet, and the next run must not create it again); anything else leaves."""
        if self.journal and entry and outcome.change.action == "create" and outcome.status == "created":
            self.journal.created(entry, str(outcome.id))
        else:
            self._done(entry)

    def _uncertain(self, entry: Entry | None) -> None:
        if self.journal and entry:
            self.journal.uncertain(entry)

    def _create(self, change: Change) -> Outcome:
        fields = dict(change.after or {})
        wanted = loose_name_key(fields["name"])

        def find(sent: float) -> Outcome | None:
            # The plan had no workflow of this name (nor a look-alike: the planner refuses those), so
            # one that has it now, however the server stored it, is ours. A list may lag behind
            # writes: keep looking until a list taken a settle time after the send.
            while True:
                listed = self.clock()
                for w in self.client.list_workflows():
                    if loose_name_key(w["name"]) == wanted:
                        return Outcome(change, "created", str(w["id"]))
                if listed - sent >= self.settle:
                    return None
                left = sent + self.settle - self.clock()
                self.events.note(f"not in the list yet; looking again in {left:.0f}s (lists may lag behind writes)")
                self.events.wait(left, "waiting for the list to settle after a lost answer")
                self.client.limiter.sleep(left)

        if wanted in self._unsettled:
            # An earlier run's create of this name may not be in the list yet: look first.
            earlier, known_id = self._unsettled.pop(wanted)
            inside_settle = self.clock() - earlier < self.settle
            with self.stop.guard():
                found = self._fetch_created(change, known_id) if known_id else None
                if found is None:
                    found = find(earlier)
            if found is not None:
                # The journal keeps the entry until a list shows it (or the settle time passes).
                found.note = "created by an earlier run (the list did not show it yet)"
                return found
            if known_id and inside_settle:
                # Confirmed by the server, yet seen neither by id nor in lists until the settle time
                # passed: a server that lags everywhere (or forgot). Not sent again by this run: the
                # journal keeps it, and a run after the settle time creates it if it is still missing.
                lagging = Uncertain(f"an earlier run created it (id {known_id}), but neither the workflow nor "
                                    "the list shows it yet; apply again later creates it if it is still missing")
                lagging.fatal = False  # this workflow only: the other operations go on
                raise lagging

        def write() -> Outcome:
            answer = self.client.create_workflow(fields)
            outcome = self._answered(Outcome(change, "created", str(answer["id"])), fields, answer)
            return self._kept(outcome, fields, answer)

        return self._journalled(change, fields, write, find)

    def _kept(self, outcome: Outcome, sent: dict[str, Any], answer: Any) -> Outcome:
        """What the server answered against what was sent: a field it did not keep is said (once per run)."""
        # The name has its own check and words (``_answered``): said once, not twice.
        others = {k: v for k, v in sent.items() if k != "name"}
        found = self.kept.warnings(outcome.change.name, outcome.change.source, others, answer)
        for text in found.values():
            self.events.note(text)
        if found:
            outcome.note = outcome.note or f"the server did not keep {', '.join(found)}"
        return outcome

    def _fetch_created(self, change: Change, workflow_id: str) -> Outcome | None:
        """A create an earlier run confirmed: one GET by id sees it even when the list lags."""
        try:
            w = self.client.get_workflow(workflow_id)
        except NotFound:
            return None  # a GET by id may lag like the list: the caller looks in lists next
        return Outcome(change, "created", str(w["id"])) if loose_name_key(w["name"]) == loose_name_key(change.name) else None

    def _answered(self, outcome: Outcome, sent: dict[str, Any], answer: Any) -> Outcome:
        """Compare the name the server answered with the name sent: a server that normalises names
        (NFC, collapsed spaces) is said once, with the fix, and the planner's look-alike matching
        keeps it from ever being taken for a missing workflow and created again."""
        stored = answer.get("name") if isinstance(answer, dict) else None
        if isinstance(stored, str) and "name" in sent and stored != sent["name"]:
            where = f" in {outcome.change.source}" if outcome.change.source else ""
            outcome.note = (f"the server stored the name as \"{visible(stored)}\", not as sent "
                            f"(\"{visible(sent['name'])}\"): write it that way{where}, or every apply renames it again")
            self.events.note(f"warning: {outcome.note}")
        return outcome

    def _update(self, change: Change) -> Outcome:
        fields = dict(change.after or {})

        def write() -> Outcome:
            try:
                answer = self.client.update_workflow(change.id, fields)
            except NotFound:
                return Outcome(change, "failed", change.id, "the workflow no longer exists remotely; run plan again")
            return self._kept(self._answered(Outcome(change, "updated", change.id), fields, answer), fields, answer)

        def updated(sent: float) -> Outcome | None:
            try:
                current = self.client.get_workflow(change.id)
            except NotFound:
                return Outcome(change, "failed", change.id, "the workflow no longer exists remotely; run plan again")
            if remote_fields(current, tuple(fields)) == fields:
                return Outcome(change, "updated", change.id)
            return None

        return self._journalled(change, fields, write, updated)

    def _delete(self, change: Change) -> Outcome:
        def write() -> Outcome:
            try:
                self.client.delete_workflow(change.id)
            except NotFound:
                return Outcome(change, "deleted", change.id, note="already gone")
            return Outcome(change, "deleted", change.id)

        def deleted(sent: float) -> Outcome | None:
            try:
                self.client.get_workflow(change.id)
            except NotFound:
                return Outcome(change, "deleted", change.id)
            return None

        return self._journalled(change, {}, write, deleted)


def _depends_on_a_failure(change: Change, report: Report) -> Outcome | None:
    """A delete of a workflow that looks like the other half of a rename whose create failed (same
    message and type) is not attempted: carried out alone it would leave neither workflow. Every
    other operation is independent and goes on after a refusal (contract section 4)."""
    if change.action != "delete" or not change.before:
        return None
    shape = (change.before.get("message"), change.before.get("workflow_type"))
    for o in report.failed:
        after = o.change.after or {}
        if o.change.action == "create" and (after.get("message"), after.get("workflow_type")) == shape:
            return Outcome(change, "failed", change.id,
                           f"not attempted: it looks like the old half of a rename whose create of "
                           f"\"{visible(o.change.name)}\" failed; deleting it alone would leave neither")
    return None


def _check_hint(change: Change) -> str:
    if change.action == "create":
        return f"it stays in the journal: the next apply looks for \"{visible(change.name)}\" before creating it"
    return f"run plan to see whether the {change.action} of \"{visible(change.name)}\" took effect"
