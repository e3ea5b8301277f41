"""Several environments: the one list parser and the one runner, for every command and both faces.

``--env staging,production`` on the command line and the Action's ``environment`` input are read by
``parse_environments``; ``each_environment`` runs a command for each, at once, each with its own
settings, client, limiter, ledger, lock and journal.
"""

from __future__ import annotations

import re
from typing import Any

from ..errors import UsageError


def parse_environments(value: str | None) -> list[str]:
    """``staging,production`` (commas, or white space as a YAML input may hold) as a list; empty: none.
    A name given twice is refused, never silently dropped: it is a typo for another environment."""
    names = [n for n in re.split(r"[,\s]+", value or "") if n]
    twice = sorted({n for n in names if names.count(n) > 1})
    if twice:
        raise UsageError(f"environments {value!r}: {', '.join(twice)} given twice; give distinct names separated "
                         "by commas, such as staging,production")
    return names


def each_environment(envs, work) -> list[tuple[Any, Any, Exception | None]]:
    """``work(env)`` for every environment: one in this thread, several at once (each its own
    settings, client, limiter, ledger, lock and journal). The tool's own errors are results, so a
    failure in one environment does not stop the others; anything else is a bug and propagates."""
    from ..errors import VoicebotSyncError

    def guarded(env):
        try:
            return env, work(env), None
        except VoicebotSyncError as exc:
            return env, None, exc

    if len(envs) == 1:
        return [guarded(envs[0])]
    from concurrent.futures import ThreadPoolExecutor

    with ThreadPoolExecutor(max_workers=len(envs)) as pool:
        return list(pool.map(guarded, envs))


