"""The terminal's status line (issue 18, item 8): on a real pseudo-terminal, as a person sees it."""

import fcntl
import os
import pty
import struct
import termios
from types import SimpleNamespace

import pytest

from voicebot_sync.text import sinks
from voicebot_sync.text.sinks import SafeStream
from voicebot_sync.output.progress import LineEvents, TerminalEvents, events_for
from voicebot_sync.output.statusline import CLEAR, fit

from fakes import FakeApi, FakeClock


class Executor:
    """What the status line asks an executor: the ETA, which moves as time passes."""

    def __init__(self, etas):
        self.etas = list(etas)

    def remaining_seconds(self, operations):
        return self.etas.pop(0) if len(self.etas) > 1 else self.etas[0]


@pytest.fixture
def terminal():
    """A pseudo-terminal 40 columns wide: (stdout, stderr, read) with the doors on both, as the CLI has."""
    master, slave = pty.openpty()
    fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", 24, 40, 0, 0))
    raw = open(slave, "w", encoding="utf-8")

    def read() -> str:
        os.set_blocking(master, False)
        chunks = []
        while True:
            try:
                data = os.read(master, 65536)
            except (BlockingIOError, OSError):
                break
            if not data:
                break
            chunks.append(data)
        return b"".join(chunks).decode("utf-8").replace("\r\n", "\n")

    yield SafeStream(raw), SafeStream(raw), read
    sinks.live_line(None)
    raw.close()
    os.close(master)


def drawn(text: str) -> list[str]:
    """The status lines drawn (what follows a clear, up to the next clear, that is not a finished line)."""
    return [part for part in text.split(CLEAR) if part and "\n" not in part]


def test_a_retry_line_is_never_glued_to_the_status_line_and_the_line_fits_the_terminal(terminal, monkeypatch):
    monkeypatch.setenv("TERM", "xterm-256color")
    stdout, stderr, read = terminal
    events = events_for(stdout, terminal=True)
    assert isinstance(events, TerminalEvents)
    events.start(SimpleNamespace(changes=[1, 2, 3]), Executor([30.0, 29.0, 28.0]))
    events.wait(11.0, "rate limit 6/1m of the key in use")
    stderr.write("retrying in 1s: cannot reach the server; retry 1 of 5\n")
    text = read()
    at = text.index("retrying in 1s")
    assert text[:at].endswith(CLEAR)  # the status line was cleared first, not written after
    assert text.endswith(drawn(text)[-1])  # and drawn again below the retry line
    assert all(len(line) <= 39 for line in drawn(text))  # fitted to 40 columns: it never wraps


def test_the_eta_keeps_moving_while_the_seconds_left_do_not(terminal, monkeypatch):
    monkeypatch.setenv("TERM", "xterm")
    stdout, _, read = terminal
    events = TerminalEvents(stdout)
    events.start(SimpleNamespace(changes=[1, 2]), Executor([0.0, 41.0, 40.0, 39.0]))
    events.wait(1.0, "backoff")
    for left in (0.9, 0.6, 0.3):
        events.tick(left)
    etas = [line.rsplit("ETA ", 1)[-1] for line in drawn(read()) if "ETA" in line]
    assert etas[-3:] == ["41s", "40s", "39s"]


def test_term_dumb_gets_lines_and_no_redraws(terminal, monkeypatch):
    monkeypatch.setenv("TERM", "dumb")
    stdout, stderr, read = terminal
    events = events_for(stdout, terminal=True)
    assert isinstance(events, LineEvents) and not isinstance(events, TerminalEvents)
    events.start(SimpleNamespace(changes=[1]), Executor([12.0]))
    events.wait(12.0, "rate limit 6/1m")
    stderr.write("retrying in 1s: cannot reach the server\n")
    text = read()
    assert "\x1b[2K" not in text and "\r" not in text
    assert "waiting 12s: rate limit 6/1m" in text


def test_a_wait_after_a_failed_request_says_why_in_words_never_a_class_name():
    from voicebot_sync.api.client import VoicebotClient
    from voicebot_sync.api.ratelimit import RateLimiter
    from voicebot_sync.api.retry import RetryPolicy

    clock, waits = FakeClock(), []
    api = FakeApi()
    api.faults = [("GET", "500"), ("GET", "connect")]
    limiter = RateLimiter([], clock=clock, sleep=clock.sleep, on_wait=lambda seconds, why: waits.append(why))
    client = VoicebotClient("https://api.test/voicebot/v1", "k-1", transport=api.transport(), limiter=limiter,
                            retry=RetryPolicy(max_retries=3))
    client.list_workflows()
    assert waits == ["retrying after a server error (HTTP 500)", "retrying after the connection failed"]


def test_fit_counts_wide_characters_as_two_columns():
    assert fit("予約" * 30, 40) == "予約" * 9 + "予…"
    assert fit("short", 40) == "short"
