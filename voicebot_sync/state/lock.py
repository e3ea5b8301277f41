"""One writer per account at a time: an exclusive lock around apply.

The lock is a file under ``.voicebot-sync/locks/`` named by the fingerprint of
the API URL in its one spelling (``statedir.canonical_url``), whatever the key. ``filelock`` uses the operating system's lock, which
the OS releases when its process dies, so a lock left by a crashed or killed run
is simply taken over. Runs on different machines are not covered: CI must
serialise them (a ``concurrency`` group).
"""

from __future__ import annotations

import contextlib
import os
import time
from typing import Callable, Iterator

from ..errors import Locked
from .statedir import account_id, state_dir


@contextlib.contextmanager
def account_lock(api_url: str, api_key: str | None, *, timeout: float,
                 on_wait: Callable[[str], None] | None = None) -> Iterator[str]:
    """Hold the account's lock; wait up to ``timeout`` seconds (0: refuse at once). Yields the lock path."""
    from filelock import FileLock

    # Per API URL, whatever the key: two keys of one account (a rotation) must not write at once either.
    name = account_id(api_url, None) + ".lock"
    path = os.path.join(state_dir("locks"), name)
    owner_file = path + ".owner"
    # The working directory's lock, and one for the whole machine: two checkouts of one repo
    # (or a second clone) against the same account must not apply at once either.
    with _machine_lock(name, timeout, on_wait):
        with _held(FileLock(path), path, owner_file, timeout, on_wait):
            yield path


def _machine_lock(name: str, timeout: float, on_wait):
    import tempfile

    from filelock import FileLock

    folder = os.path.join(tempfile.gettempdir(), "voicebot-sync-locks")
    try:
        os.makedirs(folder, exist_ok=True)
        path = os.path.join(folder, name)
        return _held(FileLock(path, mode=0o666), path, path + ".owner", timeout, on_wait, optional=True)
    except OSError:
        return contextlib.nullcontext()  # no shared temp dir: the working directory's lock still holds


@contextlib.contextmanager
def _held(lock, path: str, owner_file: str, timeout: float, on_wait, optional: bool = False) -> Iterator[str]:
    from filelock import Timeout

    try:
        lock.acquire(timeout=0)
    except Timeout:  # (a TimeoutError, so an OSError: it must come first)
        holder = _holder(owner_file)
        if timeout <= 0:
            raise Locked(f"another apply against this account is running{holder}: not applying; "
                         "wait for it, or pass --lock-timeout to wait") from None
        if on_wait:
            on_wait(f"waiting up to {timeout:g}s for another apply against this account{holder}")
        try:
            lock.acquire(timeout=timeout)
        except Timeout:
            raise Locked(f"another apply against this account still runs after {timeout:g}s{holder}: "
                         "nothing was changed") from None
    except OSError:
        if not optional:
            raise
        yield path  # a machine-wide lock we may not use (another user's file): the directory's lock holds
        return
    try:
        with contextlib.suppress(OSError):
            with open(owner_file, "w", encoding="utf-8") as fh:
                fh.write(f"{os.getpid()} {time.time():.0f}\n")
        yield path
    finally:
        with contextlib.suppress(OSError):
            os.unlink(owner_file)
        lock.release()


def _holder(owner_file: str) -> str:
    try:
        with open(owner_file, encoding="utf-8") as fh:
            pid = fh.read().split()[0]
    except (OSError, IndexError):
        return ""
    return f" (process {pid})" if pid.isdigit() else ""
