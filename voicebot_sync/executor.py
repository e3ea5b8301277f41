"""Apply a Plan: in order, through the rate limiter, surviving faults, stoppable.

Creates, then updates, then deletes, exactly as planned. A write whose answer
was lost (timeout, dropped connection, 5xx) is checked before it is repeated:
a lost POST is looked for in a fresh list and adopted when it was created, a
lost PUT or DELETE is checked with a GET. So a fault never creates a duplicate
and never reports as done what did not happen.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any, Callable

from .client import VoicebotClient
from .errors import (
    AnswerLost,
    ApiError,
    AuthError,
    ConnectionFailed,
    NotFound,
    RateLimited,
    ServerError,
)
from .model import remote_fields
from .plan import Change, Plan
from .ratelimit import least_time
from .stop import StopRequested, StopSignal

DONE = {"create": "created", "update": "updated", "delete": "deleted"}


@dataclass
class Outcome:
    """What became of one change."""

    change: Change
    status: str  # created | updated | deleted | failed
    id: str | None = None
    error: str | None = None
    note: str | None = None
    # A failure that ends the run (bad key, API down after every retry).
    fatal: bool = False

    def to_json(self) -> dict[str, Any]:
        out = {"action": self.change.action, "name": self.change.name, "id": self.id, "status": self.status}
        if self.error:
            out["error"] = self.error
        if self.note:
            out["note"] = self.note
        return out


@dataclass
class Report:
    """The result of an apply: what was done, what failed, what remains, and what it cost."""

    total: int
    outcomes: list[Outcome] = field(default_factory=list)
    remaining: list[Change] = field(default_factory=list)
    requests: int = 0
    rate_limited: int = 0
    retries: int = 0
    wall_seconds: float = 0.0
    least_seconds: float = 0.0
    stopped: str | None = None  # why the run stopped early, if it did
    plan_fingerprint: str = ""

    def count(self, status: str) -> int:
        return sum(1 for o in self.outcomes if o.status == status)

    @property
    def failed(self) -> list[Outcome]:
        return [o for o in self.outcomes if o.status == "failed"]

    @property
    def complete(self) -> bool:
        return not self.remaining and not self.failed

    def to_json(self) -> dict[str, Any]:
        return {
            "complete": self.complete,
            "created": self.count("created"),
            "updated": self.count("updated"),
            "deleted": self.count("deleted"),
            "failed": len(self.failed),
            "failures": [o.to_json() for o in self.failed],
            "remaining": [{"action": c.action, "name": c.name, "id": c.id} for c in self.remaining],
            "outcomes": [o.to_json() for o in self.outcomes],
            "requests": self.requests,
            "minimum_requests": self.total + 1,
            "rate_limited": self.rate_limited,
            "retries": self.retries,
            "wall_seconds": round(self.wall_seconds, 3),
            "least_seconds": round(self.least_seconds, 3),
            "stopped": self.stopped,
            "plan_fingerprint": self.plan_fingerprint,
        }


class Events:
    """What the executor tells its audience; every method may be left as is."""

    def start(self, plan: Plan, executor: "Executor") -> None: ...
    def wait(self, seconds: float, why: str) -> None: ...
    def begin(self, index: int, change: Change) -> None: ...
    def end(self, index: int, outcome: Outcome) -> None: ...
    def note(self, text: str) -> None: ...
    def finish(self, report: Report) -> None: ...


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
    ):
        self.client = client
        self.events = events or Events()
        self.stop = stop or StopSignal()
        self.deadline = deadline
        self.clock = clock or client.limiter.clock
        self.max_retries = client.retry.max_retries

    def remaining_seconds(self, operations: int) -> float:
        """When the last of the next ``operations`` requests may start, from now (the ETA)."""
        if operations <= 0:
            return 0.0
        return self.client.limiter.earliest_starts(operations)[-1]

    def run(self, plan: Plan) -> Report:
        """Apply ``plan.changes``; the report counts every request the client sent, the list included."""
        started = time.monotonic()
        report = Report(
            total=len(plan.changes),
            least_seconds=least_time(len(plan.changes) + 1, self.client.limiter.windows),
            plan_fingerprint=plan.plan_fingerprint,
        )
        self.events.start(plan, self)
        pending = list(plan.changes)
        try:
            while pending:
                change = pending[0]
                if self._should_stop(report):
                    break
                self.events.begin(report.total - len(pending) + 1, change)
                try:
                    outcome = self._apply(change)
                except StopRequested:
                    report.stopped = self.stop.reason or "stopped"
                    break
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
            report.wall_seconds = time.monotonic() - started
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
        except (RateLimited, ServerError, ConnectionFailed) as exc:
            # Still failing after every retry: the API is down for us; stop starting more.
            return Outcome(change, "failed", change.id, str(exc), fatal=True)
        except ApiError as exc:
            return Outcome(change, "failed", change.id, exc.server_message if exc.status else str(exc))

    def _retrying(self, change: Change, attempt_write: Callable[[], Outcome], took_effect: Callable[[], Outcome | None]) -> Outcome:
        """Write; when its answer is lost, check whether it took effect before writing again."""
        attempt = 0
        while True:
            attempt += 1
            try:
                return attempt_write()
            except (AnswerLost, ServerError) as exc:
                self.events.note(f"answer lost for {change.action} \"{change.name}\" ({exc}); checking before retrying")
                with self.stop.guard():
                    found = took_effect()
                if found is not None:
                    found.note = "confirmed after a lost answer"
                    return found
                if attempt > self.max_retries:
                    raise
                self.client.backoff(attempt, exc)
            except ConnectionFailed as exc:
                # Nothing reached the server: repeating is safe.
                if attempt > self.max_retries:
                    raise
                self.client.backoff(attempt, exc)

    def _create(self, change: Change) -> Outcome:
        fields = dict(change.after or {})

        def write() -> Outcome:
            return Outcome(change, "created", str(self.client.create_workflow(fields)["id"]))

        def created() -> Outcome | None:
            # The plan had no workflow of this name, so one that has it now is ours.
            for w in self.client.list_workflows():
                if w.get("name") == fields["name"] or remote_fields(w, ("name",))["name"] == fields["name"]:
                    return Outcome(change, "created", str(w["id"]))
            return None

        return self._retrying(change, write, created)

    def _update(self, change: Change) -> Outcome:
        fields = dict(change.after or {})

        def write() -> Outcome:
            try:
                self.client.update_workflow(change.id, fields)
            except NotFound:
                return Outcome(change, "failed", change.id, "the workflow no longer exists remotely; run plan again")
            return Outcome(change, "updated", change.id)

        def updated() -> Outcome | None:
            try:
                current = self.client.get_workflow(change.id)
            except NotFound:
                return Outcome(change, "failed", change.id, "the workflow no longer exists remotely; run plan again")
            if remote_fields(current, tuple(fields)) == fields:
                return Outcome(change, "updated", change.id)
            return None

        return self._retrying(change, write, updated)

    def _delete(self, change: Change) -> Outcome:
        def write() -> Outcome:
            try:
                self.client.delete_workflow(change.id)
            except NotFound:
                return Outcome(change, "deleted", change.id, note="already gone")
            return Outcome(change, "deleted", change.id)

        def deleted() -> Outcome | None:
            try:
                self.client.get_workflow(change.id)
            except NotFound:
                return Outcome(change, "deleted", change.id)
            return None

        return self._retrying(change, write, deleted)
