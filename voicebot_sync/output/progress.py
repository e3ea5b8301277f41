"""What a person (or a CI log) sees while apply runs.

On a terminal: one line per finished operation and a live status line with
done/total, the current wait and an ETA from the rate limit. Without a terminal:
one timestamped line per operation and a line for every wait over 5 seconds.
"""

from __future__ import annotations

import time
from datetime import datetime, timezone
from typing import TextIO

from ..core.schedule import format_seconds
from typing import TYPE_CHECKING

from ..apply.report import Events, Outcome, Report

if TYPE_CHECKING:  # only a type here: importing the executor pulls in httpx, which validate never needs
    from ..apply.executor import Executor
from ..core.plan import Change, Plan
from ..text.escaping import visible
from .changes import SYMBOL

CI_WAIT_THRESHOLD = 5.0


def wait_line(seconds: float, why: str, *, at_least: float = CI_WAIT_THRESHOLD) -> str | None:
    """The line a log shows for a wait a person would otherwise take for a hang; None when too short to say."""
    return f"waiting {format_seconds(seconds)}: {visible(why)}" if seconds >= at_least else None


class Prefixed:
    """A stream that starts every line with ``prefix`` (one environment's progress among several)."""

    def __init__(self, out: TextIO, prefix: str):
        self.out, self.prefix = out, prefix

    def write(self, text: str) -> int:
        self.out.write("\n".join((self.prefix + line) if line else line for line in text.split("\n")))
        return len(text)

    def flush(self) -> None:
        self.out.flush()

    def isatty(self) -> bool:
        return False


def _stamp() -> str:
    return datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def describe_outcome(outcome: Outcome) -> str:
    c = outcome.change
    ident = f" (id {visible(outcome.id)})" if outcome.id else ""
    if outcome.status == "failed":
        return f"! failed to {c.action} \"{visible(c.name)}\"{ident}: {visible(outcome.error)}"
    if outcome.status == "uncertain":
        return (f"? uncertain: {c.action} \"{visible(c.name)}\"{ident}: {visible(outcome.error)}"
                + (f"; {visible(outcome.note)}" if outcome.note else ""))
    note = f" [{visible(outcome.note)}]" if outcome.note else ""
    return f"{SYMBOL[c.action]} {outcome.status} \"{visible(c.name)}\"{ident}{note}"


def summary_lines(report: Report) -> list[str]:
    head = "Apply complete" if report.complete else ("Apply stopped" if report.remaining else "Apply finished with failures")
    uncertain = f", {len(report.uncertain)} uncertain" if report.uncertain else ""
    lines = [
        f"{head}: {report.count('created')} created, {report.count('updated')} updated, "
        f"{report.count('deleted')} deleted, {len(report.failed)} failed{uncertain}, {len(report.remaining)} remaining.",
        f"Requests: {report.requests} sent (minimum {report.minimum_requests}), {report.rate_limited} rate-limited (429), "
        f"{report.retries} retries. Time: {format_seconds(report.wall_seconds)} "
        f"(the rate limit allowed {format_seconds(report.least_seconds)} at the least).",
    ]
    if report.stopped:
        lines.append(f"Stopped: {visible(report.stopped)}.")
    for o in report.failed:
        lines.append(f"  failed: {o.change.action} \"{visible(o.change.name)}\": {visible(o.error)}")
    for o in report.uncertain:
        lines.append(f"  uncertain: {o.change.action} \"{visible(o.change.name)}\": {visible(o.note or o.error)}")
    if report.remaining:
        lines.append(f"Not started ({len(report.remaining)}): " + ", ".join(f"{c.action} \"{visible(c.name)}\"" for c in report.remaining[:10])
                     + (" ..." if len(report.remaining) > 10 else ""))
        lines.append("Run apply again to finish: the new plan holds just what remains.")
    return lines


class LineEvents(Events):
    """For CI logs and files: timestamped lines, nothing rewritten in place."""

    def __init__(self, out: TextIO, *, quiet_waits_under: float = CI_WAIT_THRESHOLD):
        self.out = out
        self.quiet_waits_under = quiet_waits_under
        self.total = 0

    def _line(self, text: str) -> None:
        self.out.write(f"{_stamp()} {text}\n")
        self.out.flush()

    def start(self, plan: Plan, executor: Executor) -> None:
        self.total = len(plan.changes)
        eta = executor.remaining_seconds(len(plan.changes))
        self._line(f"applying {len(plan.changes)} changes; the rate limit allows them in {format_seconds(eta)} at the least")

    def wait(self, seconds: float, why: str) -> None:
        line = wait_line(seconds, why, at_least=self.quiet_waits_under)
        if line:
            self._line(line)

    def end(self, index: int, outcome: Outcome) -> None:
        self._line(f"[{index}/{self.total}] {describe_outcome(outcome)}")

    def note(self, text: str) -> None:
        self._line(visible(text))

    def begin(self, index: int, change: Change) -> None:
        pass

    def finish(self, report: Report) -> None:
        for line in summary_lines(report):
            self.out.write(line + "\n")
        self.out.flush()


class TerminalEvents(LineEvents):
    """For a person at a terminal: finished operations scroll, a status line stays at the bottom.

    The status line is ``statusline.StatusLine``: fitted to the terminal's width, and every other
    line (retries, notes, -v) makes room for it through the doors."""

    def __init__(self, out: TextIO, *, columns=None):
        super().__init__(out, quiet_waits_under=0.0)
        from .statusline import StatusLine

        self.done = 0
        self.executor: Executor | None = None
        self.live = StatusLine(out, columns=columns)
        self._why = ""
        self._wait_until: float | None = None

    @property
    def status(self) -> str:
        return self.live.text

    def _set_status(self, text: str, until: float | None = None) -> None:
        if text != self.live.text or not self.live.shown:
            self.live.show(text, until=until)

    def _line(self, text: str) -> None:
        self.live.line(text)

    def start(self, plan: Plan, executor: Executor) -> None:
        self.executor = executor
        self.live.clear()  # a wait of the plan's list is over
        super().start(plan, executor)

    def wait(self, seconds: float, why: str) -> None:
        self._why = why
        self.tick(seconds)

    def tick(self, left: float) -> None:
        """Redraw the status line while a wait runs, whenever what it says changes (the seconds left, the
        ETA), so it never looks frozen, in a backoff too."""
        from .statusline import fit_middle

        whole = int(left + 0.999)
        if self.executor is None:  # before the run (the plan's list): no counts and no ETA yet
            head, tail = f"waiting {format_seconds(whole)}: ", ""
        else:
            eta = self.executor.remaining_seconds(self.total - self.done)
            head = f"[{self.done}/{self.total}] waiting {format_seconds(whole)}: "
            tail = f"; ETA {format_seconds(max(eta, whole))}"
        self._set_status(fit_middle(head, visible(self._why), tail, self.live.columns()),
                         until=time.monotonic() + left)

    def begin(self, index: int, change: Change) -> None:
        self._set_status(f"[{self.done}/{self.total}] {change.action} \"{visible(change.name)}\" ...")

    def end(self, index: int, outcome: Outcome) -> None:
        self.done = index
        self.live.text = ""
        self._line(f"[{index}/{self.total}] {describe_outcome(outcome)}")

    def finish(self, report: Report) -> None:
        self.live.clear()
        super().finish(report)


def events_for(out: TextIO, *, terminal: bool) -> Events:
    """A status line only where it can be redrawn in place (``statusline.live_terminal``: not TERM=dumb)."""
    from .statusline import live_terminal

    return TerminalEvents(out) if terminal and live_terminal(out) else LineEvents(out)


class RequestLog:
    """``--log-file``: one JSON line per request, for audit (never the key)."""

    def __init__(self, path: str):
        from ..text.sinks import RedactingFile

        self.fh = RedactingFile(path)

    def __call__(self, record) -> None:
        import json

        self.fh.write(json.dumps({
            "time": datetime.fromtimestamp(record.at or time.time(), timezone.utc).isoformat(timespec="milliseconds"),
            "method": record.method, "path": record.path, "status": record.status,
            "attempt": record.attempt, "duration_ms": round(record.seconds * 1000, 1), "error": record.error,
        }) + "\n")
        self.fh.flush()

    def close(self) -> None:
        self.fh.close()
