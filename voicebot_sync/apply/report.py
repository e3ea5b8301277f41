"""What an apply reports: the ``Outcome`` of each change, the run's ``Report``, and the ``Events`` the
executor tells its audience as it goes (the output package renders them; the executor fills them in)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from ..core.events import Events  # noqa: F401  (the executor and the faces import it from here too)
from ..core.plan import Change, Plan

if TYPE_CHECKING:
    from .executor import Executor


@dataclass
class Outcome:
    """What became of one change."""

    change: Change
    status: str  # created | updated | deleted | failed | uncertain
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
    list_pages: int = 1  # requests the plan's list took: one per page

    @property
    def minimum_requests(self) -> int:
        """What the apply could not do with fewer: one request per change, plus the list's pages."""
        return self.total + max(1, self.list_pages)

    def count(self, status: str) -> int:
        return sum(1 for o in self.outcomes if o.status == status)

    @property
    def failed(self) -> list[Outcome]:
        return [o for o in self.outcomes if o.status == "failed"]

    @property
    def uncertain(self) -> list[Outcome]:
        return [o for o in self.outcomes if o.status == "uncertain"]

    @property
    def complete(self) -> bool:
        return not self.remaining and not self.failed and not self.uncertain

    def to_json(self) -> dict[str, Any]:
        return {
            "complete": self.complete,
            "created": self.count("created"),
            "updated": self.count("updated"),
            "deleted": self.count("deleted"),
            "failed": len(self.failed),
            "failures": [o.to_json() for o in self.failed],
            "uncertain": [o.to_json() for o in self.uncertain],
            "remaining": [{"action": c.action, "name": c.name, "id": c.id} for c in self.remaining],
            "outcomes": [o.to_json() for o in self.outcomes],
            "requests": self.requests,
            "minimum_requests": self.minimum_requests,
            "rate_limited": self.rate_limited,
            "retries": self.retries,
            "wall_seconds": round(self.wall_seconds, 3),
            "least_seconds": round(self.least_seconds, 3),
            "stopped": self.stopped,
            "plan_fingerprint": self.plan_fingerprint,
        }


def interrupted_line(report: "Report | None") -> str:
    """What an apply stopped at once says last: what was done, what is unknown, what to do."""
    if report is None:
        return "interrupted: stopped at once; run plan to see what remains"
    done = sum(1 for o in report.outcomes if o.status in ("created", "updated", "deleted"))
    unknown = len(report.uncertain)
    parts = [f"{done} of {report.total} operations done"]
    if unknown:
        parts.append(f"{unknown} uncertain (the next apply checks {'it' if unknown == 1 else 'them'} before "
                     "repeating anything)")
    return f"interrupted: stopped at once with {', '.join(parts)}; run plan to see what remains"
