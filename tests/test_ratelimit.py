import pytest

from voicebot_sync.core.schedule import format_seconds, parse_duration, parse_rate_limit
from voicebot_sync.errors import ConfigError
from voicebot_sync.api.ratelimit import RateLimiter, least_time

from fakes import FakeClock

DEFAULT = parse_rate_limit("6/1m,60/1h")


def test_rate_limit_spec_parses_several_windows_sorted():
    assert parse_rate_limit("60/1h,6/1m") == [(6, 60.0), (60, 3600.0)]
    assert parse_rate_limit("3/1s,10/5s") == [(3, 1.0), (10, 5.0)]
    assert parse_rate_limit("off") == []


@pytest.mark.parametrize("bad", ["6", "6/", "x/1m", "0/1m", "6/1d", "6/0s", "6/1m,,"])
def test_bad_rate_limit_spec_is_a_config_error(bad):
    with pytest.raises(ConfigError, match="rate limit|duration"):
        parse_rate_limit(bad)


def test_durations_sum_their_parts():
    assert parse_duration("5h30m") == 19800
    assert parse_duration("90s") == 90
    assert parse_duration("1.5m") == 90
    with pytest.raises(ConfigError):
        parse_duration("5 hours")
    assert format_seconds(3725) == "1h2m5s"
    assert format_seconds(38) == "38s"


@pytest.mark.parametrize("requests,seconds", [(0, 0), (1, 0), (4, 0), (6, 0), (7, 60), (12, 60), (13, 120), (60, 540), (61, 3600), (121, 7200)])
def test_least_time_matches_the_contract_examples(requests, seconds):
    assert least_time(requests, DEFAULT) == seconds


def test_requests_start_as_soon_as_every_window_allows():
    clock = FakeClock()
    limiter = RateLimiter(parse_rate_limit("2/1s,3/10s"), clock=clock, sleep=clock.sleep)
    starts = []
    for _ in range(5):
        limiter.acquire()
        starts.append(clock.now - 1000)
    # Two at once, the third when the 1s window frees, the 4th when the 10s window frees.
    assert starts == [0, 0, 1, 10, 10]
    assert limiter.recorded == 5


def test_no_window_is_ever_exceeded_under_a_burst():
    clock = FakeClock()
    windows = [(6, 60.0), (60, 3600.0)]
    limiter = RateLimiter(windows, clock=clock, sleep=clock.sleep)
    times = []
    for _ in range(130):
        limiter.acquire()
        times.append(clock.now)
    for count, length in windows:
        for i in range(len(times) - count):
            assert times[i + count] - times[i] >= length - 1e-9
    # And never later than needed: the 130th starts exactly when the schedule allows.
    assert times[-1] - times[0] == least_time(130, windows)


def test_wait_hook_names_the_binding_window():
    clock = FakeClock()
    seen = []
    limiter = RateLimiter(parse_rate_limit("1/1m"), clock=clock, sleep=clock.sleep, on_wait=lambda s, why: seen.append((s, why)))
    limiter.acquire()
    limiter.acquire()
    assert seen == [(60.0, "rate limit 1/1m")]


def test_block_for_holds_every_request_back():
    clock = FakeClock()
    limiter = RateLimiter([], clock=clock, sleep=clock.sleep)
    limiter.block_for(7, "server said 429 Retry-After")
    assert limiter.delay() == (7, "server said 429 Retry-After")
    limiter.acquire()
    assert clock.sleeps == [7]


def test_earliest_starts_accounts_for_what_was_already_spent():
    clock = FakeClock()
    limiter = RateLimiter(parse_rate_limit("2/10s"), clock=clock, sleep=clock.sleep)
    limiter.acquire()
    limiter.acquire()
    assert limiter.earliest_starts(3) == [10, 10, 20]
