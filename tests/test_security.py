"""The key never shows, and outside text never steers a sink (issue 9).

Every command runs at -v with keys of several shapes, and every output stream and
every file the run leaves is searched for the key. Hostile names go through every
sink and come out as data."""

import json
import os

import pytest
from click.testing import CliRunner

from voicebot_sync.cli import main
from voicebot_sync.emulator import Emulator, running

from conftest import ToolRunner, write_workflow

# Keys as people paste them: the tool strips surrounding whitespace and uses the rest.
KEY_SHAPES = ["sk-live-4f9a2c71e0d3\n", "sk-live-4f9a2c71e0d3\r", "sk-live-4f9a2c71e0d3 ", "sk+live/4f9a=2c71%e0&d3?x"]
HOSTILE = [
    "\x1b[2J\x1b]0;owned\x07clear", "harmless\r~ update \"harmless\"", "x\n::add-mask::x", "x\n::warning ::forged",
    "</details><img src=x onerror=alert(1)>", "@someone please look", "#1 https://evil.example/login",
    "evil\u202eeulav", "C1\x9b2J\x85", "A" * 10000, "Plan: 0 to add, 0 to change, 0 to destroy.",
]


def _files_under(root):
    for dirpath, _dirs, files in os.walk(root):
        for f in files:
            path = os.path.join(dirpath, f)
            with open(path, "rb") as fh:
                yield path, fh.read().decode("utf-8", "replace")


def _run(runner, *args, env=None):
    result = runner.invoke(main, [str(a) for a in args], env=env)
    assert result.exception is None or isinstance(result.exception, SystemExit), result.exception
    assert "Traceback" not in result.output + result.stderr
    return result


@pytest.mark.parametrize("raw_key", KEY_SHAPES)
def test_no_command_shows_writes_or_logs_the_key_whatever_its_shape(tmp_path, monkeypatch, raw_key):
    key = raw_key.strip()
    monkeypatch.chdir(tmp_path)
    workflows = tmp_path / "workflows"
    write_workflow(workflows, "Reminder", f"Hello [name], {key} is not a key here")  # a key-like message, too
    emulator = Emulator(api_keys=[key], echo_auth_on_401=True)
    emulator.add_workflow(name="Unmanaged", message="m")
    runner = CliRunner()
    outputs = []
    with running(emulator) as url:
        env = {"VOICEBOT_API_URL": url, "VOICEBOT_API_KEY": raw_key, "VOICEBOT_RATE_LIMIT": "off"}
        commands = [
            ("validate", workflows), ("config",), ("plan", "-v", "--out", tmp_path / "plan.json"),
            ("plan", "-v", "--format", "json"), ("plan", "-v", "--format", "markdown"),
            ("apply", "-v", "--yes", "--log-file", tmp_path / "requests.log"),
            ("apply", "-v", "--plan", tmp_path / "plan.json", "--format", "json"),
            ("drift", "-v", "--format", "markdown", "--out", tmp_path / "drift.md"),
            ("export", "-v", "--out-dir", tmp_path / "exported"), ("budget",),
        ]
        for args in commands:
            outputs.append(_run(runner, *args, env=env))
        # A wrong key that the server echoes back in its 401 message.
        wrong = {**env, "VOICEBOT_API_KEY": key + "-wrong"}
        outputs.append(_run(runner, "plan", "-v", env=wrong))
        assert outputs[-1].exit_code == 1
    for result in outputs:
        text = result.output + result.stderr
        assert key not in text and (key + "-wrong") not in text
    for path, text in _files_under(tmp_path):
        if path.endswith(".yaml") and "workflows" in path.split(os.sep)[-2:][0]:
            continue  # the user's own definition file
        if path.endswith("plan.json") or "exported" in path:
            continue  # data files keep the user's message (which quotes the key on purpose, above)
        assert key not in text, path


@pytest.mark.parametrize("bad_key", ["sk-\u201cquoted\u201d", "sk- inner space", "sk-\x07bell", "sk-caf\u00e9"])
def test_a_key_that_cannot_be_a_header_is_refused_at_once_in_one_line_that_never_repeats_it(tmp_path, monkeypatch, bad_key):
    monkeypatch.chdir(tmp_path)
    write_workflow(tmp_path / "workflows", "Reminder")
    result = _run(CliRunner(), "plan", env={"VOICEBOT_API_KEY": bad_key, "VOICEBOT_API_URL": "https://127.0.0.1:9/v1"})
    assert result.exit_code == 1
    assert len(result.stderr.strip().splitlines()) == 1 and "was not used" in result.stderr
    assert bad_key.strip() not in result.output + result.stderr
    # The local emulator needs no key: a bad one in the environment does not matter there.
    ok = _run(CliRunner(), "plan", "--api-url", "local", env={"VOICEBOT_API_KEY": bad_key})
    assert ok.exit_code == 0


def test_hostile_remote_names_are_data_in_every_sink(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    emulator = Emulator(api_keys=["k-123456"])
    for i, name in enumerate(HOSTILE):
        emulator.add_workflow(name=name, message=f"m {i}")
    (tmp_path / "workflows").mkdir()
    runner = CliRunner()
    with running(emulator) as url:
        env = {"VOICEBOT_API_URL": url, "VOICEBOT_API_KEY": "k-123456", "VOICEBOT_RATE_LIMIT": "off",
               "GITHUB_ACTIONS": "true"}
        text = _run(runner, "plan", "--prune", env=env)
        md = _run(runner, "plan", "--format", "markdown", env=env)
        js = _run(runner, "plan", "--prune", "--format", "json", env=env)
        drift = _run(runner, "drift", "--format", "markdown", env=env)
        applied = _run(runner, "apply", "--prune", "--force", "--yes", "--log-file", tmp_path / "log", env=env)
    for result in (text, md, drift, applied):
        out = result.output + result.stderr
        assert not any(ch in out for ch in "\x1b\r\x07\x9b\x85\u202e"), "a control character reached the terminal"
        assert not any(line.lstrip().startswith("::") for line in out.splitlines()), "outside text began a workflow command"
    for result in (md, drift):
        assert "</details><img" not in result.output and "<img" not in result.output
        assert "@someone" not in result.output  # no mention notifies anyone
    assert json.loads(js.output)["format_version"] == 1  # stdout stays valid JSON
    # Where the fake summary line stands, it is inside quotes, and the real one ends the plan.
    summary = [line for line in text.output.splitlines() if line.startswith("Plan: ")]
    assert summary == ["Plan: 0 to add, 0 to change, 11 to destroy."]


def test_http_is_plain_only_to_ip_loopback_and_localhost(monkeypatch, tmp_path):
    monkeypatch.chdir(tmp_path)
    for url in ("http://evil.localhost/voicebot/v1", "http://localhost.evil.com/v1", "http://10.0.0.1/v1"):
        result = _run(CliRunner(), "config", "--api-url", url)
        assert result.exit_code == 1 and "refusing plain http://" in result.stderr
    for url in ("https://user:secret@api.example/v1", "https://api.example/v1?key=secret"):
        result = _run(CliRunner(), "config", "--api-url", url)
        assert result.exit_code == 1 and "secret" not in result.output + result.stderr


def test_a_loopback_url_never_goes_through_an_environment_proxy(api, runner, workflows, monkeypatch):
    monkeypatch.setenv("HTTP_PROXY", "http://127.0.0.1:9")  # nothing listens there
    monkeypatch.setenv("ALL_PROXY", "http://127.0.0.1:9")
    result = _run(runner, "plan", workflows)
    assert result.exit_code == 0, result.stderr


@pytest.mark.parametrize("config,args", [
    ("timeout: .nan\n", ["plan"]), ("timeout: .inf\n", ["plan"]),
    ("", ["plan", "--rate-limit", "100000000000000000000/1s"]), ("", ["plan", "--rate-limit", "1/" + "9" * 400 + "s"]),
    ("", ["apply", "--max-duration", "9" * 400 + "h"]),
])
def test_absurd_numbers_are_one_line_never_a_traceback(tmp_path, monkeypatch, config, args):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "voicebot-sync.yaml").write_text(config)
    write_workflow(tmp_path / "workflows", "Reminder")
    result = _run(CliRunner(), *args, env={"VOICEBOT_API_KEY": "k-123456", "VOICEBOT_API_URL": "https://127.0.0.1:9/v1"})
    assert result.exit_code == 1 and result.stderr.strip().splitlines()[-1].startswith("error: ")


@pytest.mark.parametrize("args", [["plan", "--formt", "json"], ["drift", "--bogus"], ["plan", "-detailed-exitcode"],
                                  ["nonsense"], ["apply", "--plan", "p.json", "workflows"]])
def test_a_usage_error_exits_1_with_one_error_line(tmp_path, monkeypatch, args):
    monkeypatch.chdir(tmp_path)
    result = _run(CliRunner(), *args)
    assert result.exit_code == 1
    assert result.stderr.startswith("error: ") and "Usage:" not in result.stderr


def test_an_unexpected_error_is_one_line_exit_70_and_a_log(tmp_path, monkeypatch):
    import voicebot_sync.read.definitions as definitions

    monkeypatch.chdir(tmp_path)

    def broken(*a, **k):
        raise RuntimeError("injected bug")

    monkeypatch.setattr(definitions, "load_definitions_with_notes", broken)
    result = _run(ToolRunner(crash_log=True), "validate")  # the console script's own crash path
    assert result.exit_code == 70
    (line,) = result.stderr.strip().splitlines()
    assert line.startswith("error: unexpected error: RuntimeError: injected bug; details in ")
    log = line.split("details in ")[1].split(" (please")[0]
    assert "injected bug" in open(log).read() and "Traceback" in open(log).read()


@pytest.mark.parametrize("url", ["http://[::1", "https://xn--/v1", "https://api.example:99999/v1"])
def test_a_malformed_api_url_is_one_line_exit_1(tmp_path, monkeypatch, url):
    monkeypatch.chdir(tmp_path)
    write_workflow(tmp_path / "workflows", "Reminder")
    result = _run(CliRunner(), "plan", "--api-url", url, env={"VOICEBOT_API_KEY": "k-123456"})
    assert result.exit_code == 1 and result.stderr.strip().splitlines()[-1].startswith("error: ")


def test_a_key_too_short_to_mask_is_refused(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    write_workflow(tmp_path / "workflows", "Reminder")
    result = _run(CliRunner(), "plan", "--api-url", "https://127.0.0.1:9/v1", env={"VOICEBOT_API_KEY": "ab"})
    assert result.exit_code == 1 and "too short" in result.stderr and " ab" not in result.stderr


