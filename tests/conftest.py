import os
import textwrap

import pytest
from click.testing import CliRunner
from hypothesis import settings

# CI runs the property tests with a fixed seed (a landing must not hang on a new random
# example); locally they explore afresh each run, which is how they find bugs.
settings.register_profile("ci", derandomize=True, deadline=None)
settings.register_profile("dev", deadline=None)
settings.load_profile("ci" if os.environ.get("CI") else "dev")
# The convergence property tests, deeper on demand: VOICEBOT_PROPERTY_EXAMPLES=600 python -m pytest -k converge
PROPERTY_EXAMPLES = int(os.environ.get("VOICEBOT_PROPERTY_EXAMPLES") or 0)

from voicebot_sync.emulator import Emulator, running

KEY = "vbk-test-4f9a2c71e0d3b8a6"
CONNECTION_VARS = ("VOICEBOT_API_URL", "VOICEBOT_API_KEY", "VOICEBOT_RATE_LIMIT", "VOICEBOT_SYNC_CONFIG", "VOICEBOT_ENV", "GITHUB_ACTIONS")


@pytest.fixture(autouse=True)
def clean_environment(monkeypatch, tmp_path_factory):
    """No test sees the developer's own connection settings, or another test's ledger, journal and locks."""
    for name in CONNECTION_VARS:
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("VOICEBOT_SYNC_STATE_DIR", str(tmp_path_factory.mktemp("state")))
    from voicebot_sync.text.redaction import forget_secrets

    forget_secrets()


class ToolRunner(CliRunner):
    """CliRunner with ``catch_exceptions=False``: the group answers as the console script does (exit codes
    and one-line errors, through the same error handler), and a bug is raised in the test, which fails.
    ``ToolRunner(crash_log=True)`` runs the console script's own crash path (one line, a log, 70)."""

    def __init__(self, *args, crash_log=False, **kw):
        super().__init__(*args, **kw)
        self.crash_log = crash_log

    def invoke(self, cli, args=None, **kw):
        from voicebot_sync.cli.app import ErrorHandler

        kw.setdefault("catch_exceptions", False)
        return super().invoke(ErrorHandler(cli) if self.crash_log else cli, args, **kw)


@pytest.fixture
def runner():
    return ToolRunner()


@pytest.fixture
def quick_backoff(monkeypatch):
    """Every retry still happens, each after a thousandth of its real backoff: a test of what the tool
    does after transient faults does not sit through 20 s of real sleep (test_client.py tests the backoff)."""
    from voicebot_sync.api.retry import RetryPolicy

    real = RetryPolicy.backoff
    monkeypatch.setattr(RetryPolicy, "backoff", lambda self, attempt: real(self, attempt) / 1000)


@pytest.fixture
def emulator():
    return Emulator(api_keys=[KEY], quirks=True)


@pytest.fixture
def api(emulator, monkeypatch):
    """The emulator over real HTTP on 127.0.0.1, with the connection in the environment."""
    with running(emulator) as url:
        monkeypatch.setenv("VOICEBOT_API_URL", url)
        monkeypatch.setenv("VOICEBOT_API_KEY", KEY)
        monkeypatch.setenv("VOICEBOT_RATE_LIMIT", "off")
        yield url


def write_workflow(directory, name, message="Hello [name], see you on [date].", filename=None, **fields):
    """One definition file; returns its path."""
    directory = os.fspath(directory)
    os.makedirs(directory, exist_ok=True)
    path = os.path.join(directory, filename or name.lower().replace(" ", "-") + ".yaml")
    lines = [f"name: {name!r}".replace("'", '"'), "message: |-"]
    lines += ["  " + line for line in message.splitlines()]
    for key, value in fields.items():
        lines.append(f"{key}: {value}")
    with open(path, "w", encoding="utf-8") as fh:
        fh.write("\n".join(lines) + "\n")
    return path


@pytest.fixture
def workflows(tmp_path):
    """A small repo of three definitions."""
    d = tmp_path / "workflows"
    write_workflow(d, "Appointment reminder", "Hello [name], your appointment is on [date] at [time].")
    write_workflow(d, "Refill ready", "Hello [name], your prescription is ready for pickup.", workflow_type="ROBOCALL")
    write_workflow(d, "Lab results", "Hello [name], your lab results are in.\nPress 1 to talk to a nurse.",
                   workflow_type="CONVERSATION", description="Lab results follow-up")
    return d
