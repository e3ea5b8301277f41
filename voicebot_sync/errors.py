"""One error tree for the whole tool.

    VoicebotSyncError              exit 1 unless a subclass says otherwise
    ├── ConfigError                bad option, config file or environment
    ├── ValidationError            definition files are invalid (carries every Problem)
    │   └── MatchError             definitions cannot be matched to the remote unambiguously
    ├── ApiError                   the API answered with an error or not at all
    │   ├── AuthError              401/403: the key is missing, wrong or not allowed
    │   ├── NotFound               404
    │   ├── RequestRejected        any other 4xx but 408, or a write answered 2xx with a status that is not Ok:
    │   │                          refused, final (contract section 4): never repeated
    │   ├── RateLimited            429 (carries retry_after seconds, or None)
    │   ├── ServerError            5xx or 408 (or a read answered 2xx with an Error envelope): may have acted
    │   ├── UnexpectedAnswer       an answer the reference does not allow (HTML, wrong shape, pages): not retried
    │   ├── Unreachable            the API cannot be reached at all (name, TLS, refused at first contact): not retried
    │   └── ConnectionFailed       no answer at all (transient: retried)
    │       └── AnswerLost         the request left, its answer did not come back
    ├── Uncertain                  a write's outcome could not be checked: it stays in the journal
    ├── Locked                     another apply holds this account's lock
    ├── PlanError                  a saved plan cannot be used
    │   └── StalePlan              the remote changed since the plan was made
    ├── UnsafePlan                 a safety guard refused the plan
    │   └── TooMuchChange          over a delete/update threshold (force to override)
    ├── Refused                    apply needs confirmation that was not given
    ├── FileError                  a file, directory or port the user named cannot be used
    ├── UsageError                 the command line itself is wrong (unknown option, conflicting options)
    ├── ApplyFailed                some operations failed; the others went through
    ├── Incomplete                 exit 3: stopped before finishing, nothing failed
    └── Interrupted                exit 130: stopped at once (a second signal) while a request was in flight

Library code raises these; ``cli.py`` catches them once and prints one line.
Anything else is a bug: one line, the traceback in a log file, exit 70.

Exit codes, in one table (``EXIT``): 0 success, 1 any expected failure,
2 changes present / drift found, 3 incomplete, 70 internal error, 130 second interrupt.
"""

from __future__ import annotations

from dataclasses import dataclass


EXIT = {
    "ok": 0,
    "error": 1,
    "changes": 2,  # plan --detailed-exitcode with changes, drift found
    "incomplete": 3,
    "internal": 70,  # EX_SOFTWARE: a bug
    "interrupted": 130,
}


# From least to most serious: several environments end with the most serious code of theirs.
_SEVERITY = [EXIT["ok"], EXIT["changes"], EXIT["incomplete"], EXIT["error"], EXIT["interrupted"], EXIT["internal"]]


def worst(codes) -> int:
    """The exit code of several environments: the most serious of theirs (an unknown code counts as worst)."""
    return max(codes, key=lambda c: _SEVERITY.index(c) if c in _SEVERITY else len(_SEVERITY), default=EXIT["ok"])


def exit_code_of(exc: BaseException | None) -> int:
    """The code an outcome ends with: 0 for none, the error's own code, else 1."""
    return EXIT["ok"] if exc is None else getattr(exc, "exit_code", EXIT["error"])


class VoicebotSyncError(Exception):
    """Root of every expected failure; ``str(err)`` is the one line a user sees."""

    exit_code = 1


class ConfigError(VoicebotSyncError):
    """An option, environment variable or config file value is wrong."""


@dataclass(frozen=True, order=True)
class Problem:
    """One validation problem, located in a file (line is 1-based, 0 when unknown)."""

    file: str
    line: int
    message: str

    def __str__(self) -> str:
        return f"{self.file}:{self.line}: {self.message}"


class ValidationError(VoicebotSyncError):
    """Definition (or config) files are invalid; ``problems`` lists all of them."""

    def __init__(self, problems: list[Problem]):
        self.problems = sorted(problems)
        count = len(self.problems)
        super().__init__(f"{count} validation problem{'s' if count != 1 else ''} found")


class ApiError(VoicebotSyncError):
    """The API answered with an error status, or did not answer."""

    def __init__(self, message: str, *, status: int | None = None, method: str = "", path: str = ""):
        self.status = status
        self.method = method
        self.path = path
        self.server_message = message
        where = f"{method} {path}".strip()
        prefix = f"{where}: " if where else ""
        code = f"HTTP {status}: " if status is not None else ""
        super().__init__(f"{prefix}{code}{message}")


class AuthError(ApiError):
    """401/403: the key is missing, wrong or lacks permission; nothing further can succeed."""


class NotFound(ApiError):
    """404: the workflow (or the API path) does not exist."""


class RequestRejected(ApiError):
    """Another 4xx: the server refused this request as it was; repeating it will not help."""


class RateLimited(ApiError):
    """429: over the server's quota; ``retry_after`` is in seconds when the server said."""

    def __init__(self, message: str, *, retry_after: float | None = None, **kw):
        self.retry_after = retry_after
        super().__init__(message, status=429, **kw)


class ServerError(ApiError):
    """5xx: the server failed; it may or may not have carried the request out."""


class UnexpectedAnswer(ApiError):
    """The answer is not what the API reference allows (HTML, wrong shape, pagination): repeating will not help."""


class Unreachable(ApiError):
    """The API cannot be reached at all (unknown name, TLS failure, refused at first contact): not retried."""


class ConnectionFailed(ApiError):
    """The API could not be reached: nothing was sent, or nothing came back."""


class AnswerLost(ConnectionFailed):
    """The request was sent but its answer was lost (timeout, dropped connection)."""


class MatchError(ValidationError):
    """Definitions cannot be matched to the remote unambiguously (duplicate names, missing ids)."""


class Uncertain(VoicebotSyncError):
    """A write's outcome could not be checked; it is kept in the journal and checked on the next run.

    ``fatal``: the API itself is in doubt, so no further operation starts (False: this write only)."""

    fatal = True


class Locked(VoicebotSyncError):
    """Another apply holds this account's lock (and --lock-timeout ran out)."""


class FileError(VoicebotSyncError):
    """A file, directory or port the user named cannot be used (translated from OSError at the door)."""

    @classmethod
    def from_os_error(cls, exc: OSError, path: str | None = None) -> "FileError":
        where = path or exc.filename
        return cls(f"{where}: {exc.strerror or exc}" if where else str(exc.strerror or exc))


class UsageError(VoicebotSyncError):
    """The command line is wrong: an unknown option, or options that cannot go together."""


class PlanError(VoicebotSyncError):
    """A saved plan file is unreadable or was made for another API."""


class StalePlan(PlanError):
    """The remote no longer matches the state the saved plan was made against."""


class UnsafePlan(VoicebotSyncError):
    """A safety guard refused the plan; nothing was changed."""


class TooMuchChange(UnsafePlan):
    """The plan changes a larger share of the remote than the configured threshold."""


class Refused(VoicebotSyncError):
    """Apply was not confirmed (no terminal and no --yes, or the user said no)."""


class ApplyFailed(VoicebotSyncError):
    """Apply finished, but some operations failed; ``report`` holds the details."""

    def __init__(self, message: str, report=None):
        self.report = report
        super().__init__(message)


class Incomplete(VoicebotSyncError):
    """Apply stopped before finishing (deadline or interrupt) with nothing failed: run it again."""

    exit_code = EXIT["incomplete"]

    def __init__(self, message: str, report=None):
        self.report = report
        super().__init__(message)


class Interrupted(VoicebotSyncError):
    """Apply stopped at once (a second signal): what was in flight is unknown; ``report`` holds the rest."""

    exit_code = EXIT["interrupted"]

    def __init__(self, message: str, report=None):
        self.report = report
        super().__init__(message)
