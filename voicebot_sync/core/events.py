"""One protocol for what a command tells its face while it runs.

Every method does nothing: ``Events`` itself is the null implementation, and a face (the
terminal, the Action's log, a test) overrides only what it shows. The commands speak
only this; ``commands.common.make_client`` hands the API layer the three methods it
calls (``wait``, ``request``, ``retry``), as plain callables like httpx's event hooks.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # for the type names only: core never imports the rooms above it
    from .plan import Change, Plan


class Events:
    """What a run tells its audience; every method may be left as is."""

    # -- every command --------------------------------------------------------
    def note(self, text: str) -> None:
        """A line a person should see (a warning, a note): plain text, escaped by the face."""

    def wait(self, seconds: float, why: str) -> None:
        """A wait of ``seconds`` is about to start (the rate limit, a Retry-After, a backoff)."""

    def request(self, record: Any) -> None:
        """One request was answered or failed (api.client.RequestRecord): -v and --log-file."""

    def retry(self, why: str, seconds: float) -> None:
        """A transient fault (``why``) is retried after ``seconds``."""

    # -- apply's executor -----------------------------------------------------
    def start(self, plan: "Plan", executor: Any) -> None:
        """The executor begins ``plan``."""

    def tick(self, left: float) -> None:
        """About every 0.2 s of a wait, with the seconds left (a status line that ticks)."""

    def begin(self, index: int, change: "Change") -> None:
        """Operation ``index`` (from 1) starts."""

    def end(self, index: int, outcome: Any) -> None:
        """Operation ``index`` ended (apply.report.Outcome)."""

    def finish(self, report: Any) -> None:
        """The executor's report is final."""
