"""The budget ledger: runs of one key start from what earlier runs spent.

Time is faked: one "true" time moves when anything sleeps; each simulated
process has its own monotonic clock (a different origin) and shares the wall
clock, as processes on one machine do. Only the concurrency tests use real
processes and threads, and they do not sleep.
"""

from __future__ import annotations

import json
import multiprocessing
import os
import threading
import time

import pytest
from filelock import FileLock

from voicebot_sync.core.schedule import parse_rate_limit
from voicebot_sync.state.ledger import MAX_ENTRIES, Ledger, LedgerState, ledger_for
from voicebot_sync.api.ratelimit import RateLimiter, budget_status
from voicebot_sync.text.redaction import fingerprint

DEFAULT = parse_rate_limit("6/1m,60/1h")
WALL0 = 1_700_000_000.0
FP = fingerprint("test-key-not-a-real-one")


class World:
    """One machine: a true time that sleeps move, a wall clock and per-process monotonic clocks."""

    def __init__(self):
        self.t = 0.0
        self.sleeps: list[float] = []

    def wall(self) -> float:
        return WALL0 + self.t

    def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.t += seconds

    def process(self, directory, windows=DEFAULT, origin: float = 0.0) -> RateLimiter:
        """A new run: its own monotonic origin, a fresh Ledger object on the shared directory."""
        ledger = Ledger(directory, FP, wall=self.wall)
        return RateLimiter(windows, clock=lambda: origin + self.t, sleep=self.sleep, ledger=ledger)


def never_exceeded(times: list[float], windows) -> None:
    times = sorted(times)
    for count, length in windows:
        for i in range(len(times) - count):
            assert times[i + count] - times[i] >= length - 1e-6, (count, length, i)


def file_data(directory) -> dict:
    with open(os.path.join(directory, f"{FP}.json"), encoding="utf-8") as fh:
        return json.load(fh)


# -- runs one after another -----------------------------------------------------


def test_two_runs_on_one_ledger_never_exceed_a_window_together(tmp_path):
    world = World()
    sent = []
    first = world.process(tmp_path, origin=500.0)
    for _ in range(4):
        first.acquire()
        sent.append(world.wall())
    world.t += 5
    # The second run (another process, another monotonic origin) goes on from there.
    second = world.process(tmp_path, origin=98_000.0)
    for _ in range(70):
        second.acquire()
        sent.append(world.wall())
    never_exceeded(sent, DEFAULT)
    # And it waited no longer than needed: two more fit in the first minute, then the window.
    assert sent[4:6] == [WALL0 + 5, WALL0 + 5]
    assert sent[6] == WALL0 + 60


def test_a_run_after_six_requests_in_the_last_minute_waits_for_the_window(tmp_path):
    world = World()
    first = world.process(tmp_path)
    for _ in range(6):
        first.acquire()
    world.t += 20
    second = world.process(tmp_path, origin=7.0)
    assert second.delay() == (40.0, "rate limit 6/1m")
    assert second.full_window_wait() == 40.0
    second.acquire()
    assert world.sleeps == [40.0]


def test_a_run_within_the_hour_sees_the_hour_window(tmp_path):
    world = World()
    first = world.process(tmp_path)
    for _ in range(60):
        first.acquire()
    spent_at = world.t
    world.t += 600
    second = world.process(tmp_path, origin=1e6)
    wait, why = second.delay()
    assert why == "rate limit 60/1h"
    assert wait == pytest.approx(3600 - (world.t - 0.0))  # the first of the 60 started at t=0
    assert spent_at == 540  # 60 requests at 6/1m took 9 minutes


def test_settle_moves_the_ledger_entry_to_the_answer(tmp_path):
    world = World()
    limiter = world.process(tmp_path)
    limiter.acquire()
    world.t += 2.5  # the answer takes 2.5 s
    limiter.settle()
    assert file_data(tmp_path)["starts"] == [WALL0 + 2.5]
    # Settling again later never moves it back, and never adds an entry.
    world.t += 1
    limiter.settle()
    assert file_data(tmp_path)["starts"] == [WALL0 + 3.5]


def test_a_429_block_is_seen_by_the_next_run(tmp_path):
    world = World()
    first = world.process(tmp_path)
    first.acquire()
    first.block_for(30, "server said 429 Retry-After")
    assert file_data(tmp_path)["blocked_until"] == WALL0 + 30
    world.t += 10
    second = world.process(tmp_path, origin=42.0)
    assert second.delay() == (20.0, "server said 429 Retry-After")
    second.acquire()
    assert world.sleeps == [20.0]


def test_an_expired_block_holds_nothing_back(tmp_path):
    world = World()
    world.process(tmp_path).block_for(30, "server said 429 Retry-After")
    world.t += 31
    assert world.process(tmp_path).delay() == (0.0, "")


def test_without_a_ledger_nothing_is_written(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    world = World()
    limiter = RateLimiter(DEFAULT, clock=lambda: world.t, sleep=world.sleep)
    for _ in range(7):
        limiter.acquire()
    limiter.block_for(5, "x")
    assert limiter.ledger is None and os.listdir(tmp_path) == []


# -- what cannot be proven is not assumed free -------------------------------------


def test_a_missing_ledger_is_empty(tmp_path):
    world = World()
    ledger = Ledger(tmp_path / "not-yet", FP, wall=world.wall)
    assert ledger.load() == LedgerState()
    limiter = world.process(tmp_path / "not-yet")
    assert limiter.delay() == (0.0, "") and limiter.ledger_problem is None


@pytest.mark.parametrize("content", [
    b"{not json",
    b"",
    b"\xff\xfe garbage",
    b"[]",
    b'{"version": 1}',
    b'{"version": 2, "starts": [], "blocked_until": 0}',
    b'{"version": 1, "starts": "many", "blocked_until": 0}',
    b'{"version": 1, "starts": [1, "2"], "blocked_until": 0}',
    b'{"version": 1, "starts": [true], "blocked_until": 0}',
    b'{"version": 1, "starts": [NaN], "blocked_until": 0}',
    b'{"version": 1, "starts": [-5], "blocked_until": 0}',
    b'{"version": 1, "starts": [], "blocked_until": "soon"}',
    b'{"version": 1, "starts": [], "blocked_until": 1e300}',
    b'{"version": 1, "starts": [1e300], "blocked_until": 0}',
], ids=lambda c: c[:40].decode("latin-1"))
def test_a_corrupt_ledger_means_a_busy_window(tmp_path, content):
    world = World()
    (tmp_path / f"{FP}.json").write_bytes(content)
    state = Ledger(tmp_path, FP, wall=world.wall).load()
    assert not state.trusted and state.problem and state.unknown_before == world.wall()
    limiter = world.process(tmp_path)
    wait, why = limiter.delay()
    assert wait == 3600.0 and "assuming the key's budget was just spent" in why
    assert limiter.ledger_problem == state.problem
    status = budget_status(DEFAULT, state, world.wall())
    assert [(w.used, w.left) for w in status.windows] == [(6, 0), (60, 0)]
    assert status.next_start_in == 3600.0 and not status.trusted


def test_a_start_slightly_in_the_future_is_kept_not_distrusted(tmp_path):
    # The wall clock stepped back a few seconds: the request still counts (as just now).
    world = World()
    (tmp_path / f"{FP}.json").write_text(json.dumps({"version": 1, "starts": [WALL0 + 5] * 6, "blocked_until": 0}))
    limiter = world.process(tmp_path)
    assert limiter.delay() == (60.0, "rate limit 6/1m") and limiter.ledger_problem is None


def test_an_unreadable_ledger_means_a_busy_window(tmp_path):
    world = World()
    (tmp_path / f"{FP}.json").mkdir()  # unreadable as a file, even for root
    state = Ledger(tmp_path, FP, wall=world.wall).load()
    assert not state.trusted and "cannot read" in state.problem


@pytest.mark.skipif(not hasattr(os, "geteuid") or os.geteuid() == 0, reason="root reads any file")
def test_a_ledger_without_read_permission_means_a_busy_window(tmp_path):
    world = World()
    path = tmp_path / f"{FP}.json"
    path.write_text(json.dumps({"version": 1, "starts": [], "blocked_until": 0}))
    path.chmod(0)
    try:
        assert not Ledger(tmp_path, FP, wall=world.wall).load().trusted
    finally:
        path.chmod(0o600)


def test_a_ledger_locked_too_long_means_a_busy_window_and_a_write_is_reported(tmp_path):
    world = World()
    ledger = Ledger(tmp_path, FP, wall=world.wall, lock_timeout=0.05)
    holder = FileLock(ledger.lock_path)
    done = threading.Event()
    held = threading.Event()

    def hold():
        with holder:
            held.set()
            done.wait(5)

    thread = threading.Thread(target=hold)
    thread.start()
    try:
        held.wait(5)
        state = ledger.load()
        assert not state.trusted and "locked" in state.problem
        limiter = RateLimiter(DEFAULT, clock=lambda: world.t, sleep=world.sleep, ledger=ledger)
        assert limiter.delay()[0] == 3600.0
        limiter.record()  # the run goes on; the problem is kept for a warning
        assert "locked" in limiter.ledger_problem
    finally:
        done.set()
        thread.join()


def test_a_corrupt_ledger_is_replaced_on_the_next_write_and_keeps_its_meaning(tmp_path):
    world = World()
    (tmp_path / f"{FP}.json").write_text("{oops")
    first = world.process(tmp_path)
    assert first.delay()[0] == 3600.0
    first.acquire()  # waits out the hour, then writes a good file
    assert world.sleeps == [3600.0]
    data = file_data(tmp_path)
    assert data["starts"] == [WALL0 + 3600] and data["unknown_before"] == WALL0
    # A run that reads the repaired file assumes no less than the one that found it broken.
    assert Ledger(tmp_path, FP, wall=world.wall).load().trusted
    assert world.process(tmp_path).delay() == (0.0, "")


def test_a_ledger_broken_between_writes_holds_the_next_run_back(tmp_path):
    world = World()
    first = world.process(tmp_path)
    first.acquire()
    (tmp_path / f"{FP}.json").write_text("garbage")
    world.t += 10
    first.acquire()  # this run still knows its own requests and replaces the file
    data = file_data(tmp_path)
    assert data["starts"] == [WALL0 + 10] and data["unknown_before"] == WALL0 + 10
    # The next run cannot know what the broken file held: a full window, from when it was found.
    world.t += 5
    assert world.process(tmp_path).delay()[0] == 3600.0 - 5


# -- many writers, bounded size, no key ------------------------------------------


def _record_many(directory: str, base: float, n: int) -> None:
    ledger = Ledger(directory, FP, lock_timeout=30)  # the real wall clock: these are real processes
    for i in range(n):
        ledger.record(base - i / 1000)


def test_two_processes_writing_at_once_lose_nothing(tmp_path):
    ctx = multiprocessing.get_context("spawn")
    now = time.time()
    procs = [ctx.Process(target=_record_many, args=(str(tmp_path), now - tag, 50)) for tag in (0, 1)]
    for p in procs:
        p.start()
    for p in procs:
        p.join(60)
        assert p.exitcode == 0
    data = file_data(tmp_path)
    assert len(data["starts"]) == 100 and data["starts"] == sorted(data["starts"])
    assert not [n for n in os.listdir(tmp_path) if n.endswith(".tmp")]


def test_threads_with_separate_ledgers_lose_nothing(tmp_path):
    world = World()
    threads = [
        threading.Thread(target=lambda tag=tag: [
            Ledger(tmp_path, FP, wall=world.wall).record(WALL0 - 100 + tag + i / 1000) for i in range(50)
        ])
        for tag in range(4)
    ]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    state = Ledger(tmp_path, FP, wall=world.wall).load()
    assert state.trusted and len(state.starts) == 200


def test_pruning_keeps_the_file_bounded(tmp_path):
    world = World()
    world.t = 5000
    # 1500 entries a second apart, as many writes would leave them (written at once: fsync is slow).
    (tmp_path / f"{FP}.json").write_text(json.dumps(
        {"version": 1, "starts": [world.wall() - 1500 + i for i in range(1500)], "blocked_until": 0}))
    ledger = Ledger(tmp_path, FP, wall=world.wall)
    ledger.record(world.wall())  # every write prunes: at most MAX_ENTRIES, the newest
    starts = file_data(tmp_path)["starts"]
    assert len(starts) == MAX_ENTRIES and starts[-1] == world.wall() and starts[0] == world.wall() - 999
    first = world.wall()
    ledger.keep_seconds = 3600
    for _ in range(3):
        world.t += 400
        ledger.record(world.wall())
    assert len(file_data(tmp_path)["starts"]) == MAX_ENTRIES
    world.t += 3000
    ledger.record(world.wall())  # ... and drops what is older than keep_seconds
    assert file_data(tmp_path)["starts"] == [first + 800, first + 1200, world.wall()]
    ledger.prune(60)  # only the last minute
    assert file_data(tmp_path)["starts"] == [world.wall()]
    world.t += 61
    ledger.prune(60)
    assert file_data(tmp_path)["starts"] == []


def test_a_limiter_keeps_what_its_longest_window_needs(tmp_path):
    world = World()
    ledger = Ledger(tmp_path, FP, wall=world.wall, keep_seconds=60)
    RateLimiter(parse_rate_limit("100/2h"), clock=lambda: world.t, sleep=world.sleep, ledger=ledger)
    assert ledger.keep_seconds == 7200


def test_the_key_never_reaches_the_ledger(tmp_path):
    key = "sk-live-THIS-IS-THE-SECRET-KEY-123"
    world = World()
    ledger = ledger_for(key, tmp_path, wall=world.wall)
    limiter = RateLimiter(DEFAULT, clock=lambda: world.t, sleep=world.sleep, ledger=ledger)
    limiter.acquire()
    limiter.settle()
    limiter.block_for(9, "server said 429 Retry-After")
    names = os.listdir(tmp_path)
    assert names and all(n.startswith(fingerprint(key)) for n in names)
    for name in names:
        assert key not in name
        path = tmp_path / name
        if path.is_file():
            assert key.encode() not in path.read_bytes()
    assert ledger_for(None, tmp_path) is None and ledger_for("", tmp_path) is None
    with pytest.raises(ValueError):
        Ledger(tmp_path, key)  # a key is not a fingerprint
    with pytest.raises(ValueError):
        Ledger(tmp_path, "../escape")


def test_the_default_directory_follows_the_state_directory(tmp_path, monkeypatch):
    monkeypatch.setenv("VOICEBOT_SYNC_STATE_DIR", str(tmp_path / "state"))
    ledger = ledger_for("some-key-value")
    assert ledger.path == os.path.join(str(tmp_path / "state"), "ledger", f"{fingerprint('some-key-value')}.json")


# -- the budget command --------------------------------------------------------------


def test_budget_status_counts_each_window_and_says_when_the_next_may_start():
    now = WALL0 + 10_000
    hour_ago = [now - 3000 + i for i in range(17)]
    last_minute = [now - 50, now - 23]
    state = LedgerState(starts=tuple(hour_ago + last_minute))
    status = budget_status(DEFAULT, state, now)
    assert [(w.used, w.left, w.next_free_in) for w in status.windows] == [(2, 4, 0.0), (19, 41, 0.0)]
    assert status.describe() == "6/1m: 4 left; 60/1h: 41 left; next request may start now"

    full = LedgerState(starts=tuple(hour_ago + [now - 60 + 23 + i for i in range(6)]))
    status = budget_status(DEFAULT, full, now)
    assert status.windows[0].left == 0 and status.windows[0].next_free_in == 23
    assert status.next_start_in == 23 and status.reason == "rate limit 6/1m"
    assert status.describe() == "6/1m: 0 left; 60/1h: 37 left; next request may start in 23s (rate limit 6/1m)"


def test_budget_status_shows_a_429_block_and_agrees_with_the_next_run(tmp_path):
    world = World()
    first = world.process(tmp_path)
    for _ in range(3):
        first.acquire()
    first.block_for(45, "server said 429 Retry-After")
    world.t += 15
    state = Ledger(tmp_path, FP, wall=world.wall).load()
    status = budget_status(DEFAULT, state, world.wall())
    assert [w.left for w in status.windows] == [3, 57]
    assert (status.next_start_in, status.reason) == (30.0, "server said 429 Retry-After")
    assert world.process(tmp_path, origin=3.0).delay() == (status.next_start_in, status.reason)


def test_budget_status_with_no_windows_and_an_empty_ledger():
    status = budget_status([], LedgerState(), WALL0)
    assert status.windows == [] and status.next_start_in == 0
    assert status.describe() == "next request may start now"


# -- through the client ------------------------------------------------------------


def test_a_client_run_writes_its_requests_and_its_429_for_the_next_run(tmp_path):
    import httpx

    from voicebot_sync.api.client import VoicebotClient

    world = World()
    answers = [httpx.Response(429, json={"message": "too many requests"}, headers={"Retry-After": "7"}),
               httpx.Response(200, json={"data": []})]
    key = "sk-client-secret-0123456789"
    limiter = RateLimiter(DEFAULT, clock=lambda: world.t, sleep=world.sleep, ledger=ledger_for(key, tmp_path, wall=world.wall))
    client = VoicebotClient("https://api.test/v1", key, transport=httpx.MockTransport(lambda r: answers.pop(0)), limiter=limiter)
    client.send("GET", "/workflows")
    assert world.sleeps == [7]  # the 429 was waited out through the limiter
    data = json.loads((tmp_path / f"{fingerprint(key)}.json").read_text())
    assert data["starts"] == [WALL0, WALL0 + 7]
    assert key not in json.dumps(data)
    # The next run four seconds later knows both requests.
    world.t += 4
    after = RateLimiter(DEFAULT, clock=lambda: world.t, sleep=world.sleep, ledger=ledger_for(key, tmp_path, wall=world.wall))
    assert len(after._log) == 2
