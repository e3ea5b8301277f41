"""One function over many items, with parts of the list done by forked children when that pays.

Reading 10,000 definition files is Python work (a C parser, then the walk, the
schema and the checks): one core does it in about half a second. On a machine
with more cores, ``map_in_order`` forks children that each take a contiguous part
of the list, while this process does the first part, and gathers their results
(pickled through a pipe) in the order of the list: the result is exactly what
``[function(item) for item in items]`` gives, only sooner.

It falls back to doing everything here, and the result stays the same, whenever
forking is not safe or does not pay: fewer than ``MIN_PER_PROCESS`` items a
process, one usable core, a system other than Linux (macOS and Windows spawn new
interpreters, which costs more than it saves), or another thread running (a
forked copy of a threaded process may inherit a held lock). A child that fails
in any way (an exception, a signal, a result that does not unpickle) only costs
time: its part is done again here. Children never write to the terminal and leave
with ``os._exit``, so no buffer is flushed twice and no exit handler runs twice.
"""

from __future__ import annotations

import os
import sys
import threading
from typing import Any, Callable, Sequence

MIN_PER_PROCESS = 500  # below this a fork (a few milliseconds) saves less than it costs
MAX_PROCESSES = 4


def processes_for(count: int) -> int:
    """How many processes (this one included) to share ``count`` items between: 1 means no fork."""
    if not sys.platform.startswith("linux") or not hasattr(os, "fork") or threading.active_count() > 1:
        return 1
    try:
        cores = len(os.sched_getaffinity(0))
    except (AttributeError, OSError):
        cores = os.cpu_count() or 1
    return max(1, min(cores, MAX_PROCESSES, count // MIN_PER_PROCESS))


def map_in_order(function: Callable[[Any], Any], items: Sequence[Any], *, processes: int | None = None) -> list[Any]:
    """``[function(item) for item in items]``, parts of it in forked children when that pays.

    ``processes``: how many to use (tests); None chooses (``processes_for``)."""
    count = processes_for(len(items)) if processes is None else max(1, min(processes, len(items)))
    if count < 2:
        return [function(item) for item in items]
    size = -(-len(items) // count)
    parts = [items[i:i + size] for i in range(0, len(items), size)]
    children: list[tuple[Sequence[Any], int, int]] = []  # (part, pid, fd) of each child not yet gathered
    try:
        for part in parts[1:]:
            children.append((part, *_fork(function, part)))
        results = [function(item) for item in parts[0]]
        while children:
            part, pid, fd = children.pop(0)
            results.extend(_gather(function, part, pid, fd))
        return results
    finally:
        for _part, pid, fd in children:  # this process failed or was interrupted: the children go too
            _close(fd)
            _reap(pid, kill=True)


def _fork(function: Callable[[Any], Any], part: Sequence[Any]) -> tuple[int, int]:
    """Start a child working on ``part``: (its pid, the read end of the pipe its result comes through)."""
    import pickle  # here, not at the top: a small repository never forks (4 ms of imports)
    import signal

    read_end, write_end = os.pipe()
    pid = os.fork()
    if pid == 0:  # the child: compute, send, leave without running anything of the parent's
        status = 1
        try:
            os.close(read_end)
            signal.signal(signal.SIGINT, signal.SIG_DFL)  # an interrupt ends it at once; the parent decides
            data = memoryview(pickle.dumps([function(item) for item in part], protocol=pickle.HIGHEST_PROTOCOL))
            while data:
                data = data[os.write(write_end, data):]
            status = 0
        finally:
            os._exit(status)
    os.close(write_end)
    return pid, read_end


def _gather(function: Callable[[Any], Any], part: Sequence[Any], pid: int, fd: int) -> list[Any]:
    """A child's results; its part done here instead when it failed in any way."""
    import pickle

    chunks: list[bytes] | None = []
    try:
        while chunk := os.read(fd, 1 << 20):
            chunks.append(chunk)
    except OSError:
        chunks = None
    except BaseException:  # interrupted while waiting: the child goes too
        _close(fd)
        _reap(pid, kill=True)
        raise
    _close(fd)
    if _reap(pid, kill=False) == 0 and chunks is not None:
        try:
            results = pickle.loads(b"".join(chunks))
        except Exception:  # noqa: BLE001 - a damaged result only means the slower path
            results = None
        if isinstance(results, list) and len(results) == len(part):
            return results
    return [function(item) for item in part]


def _reap(pid: int, *, kill: bool) -> int | None:
    """Wait for a child (killed first with ``kill``); its exit status, None when it did not exit normally."""
    import signal

    try:
        if kill:
            os.kill(pid, signal.SIGKILL)
        _, status = os.waitpid(pid, 0)
    except OSError:  # ChildProcessError too: already reaped
        return None
    return os.waitstatus_to_exitcode(status) if os.WIFEXITED(status) else None


def _close(fd: int) -> None:
    try:
        os.close(fd)
    except OSError:
        pass
