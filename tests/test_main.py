"""The console entry (voicebot_sync.main): one error handler around the command line, not inside the group."""

import pytest

from voicebot_sync import main as entry
from voicebot_sync.cli import main as cli
from voicebot_sync.errors import EXIT


def broken(*args, **kwargs):
    raise RuntimeError("injected bug")


def test_a_bug_fails_the_test_that_invokes_the_group(runner, tmp_path, monkeypatch):
    # The helpers that assert "no exception" can fail: the bug reaches the test, not exit 70.
    import voicebot_sync.read.definitions as definitions

    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr(definitions, "load_definitions_with_notes", broken)
    with pytest.raises(RuntimeError, match="injected bug"):
        runner.invoke(cli, ["validate"])


def test_a_bug_fails_a_test_that_catches_exceptions_too(tmp_path, monkeypatch):
    # Plain CliRunner (catch_exceptions=True): the bug is the result's exception, never a SystemExit(70).
    from click.testing import CliRunner

    import voicebot_sync.read.definitions as definitions

    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr(definitions, "load_definitions_with_notes", broken)
    result = CliRunner().invoke(cli, ["validate"])
    assert isinstance(result.exception, RuntimeError)


def test_inside_the_handler_the_group_translates_nothing(tmp_path, monkeypatch):
    from voicebot_sync.errors import ValidationError

    monkeypatch.chdir(tmp_path)
    with pytest.raises(ValidationError):
        cli.main(["validate", "missing"], standalone_mode=False)


def test_main_turns_a_bug_into_one_line_exit_70_and_a_crash_log(tmp_path, monkeypatch, capsys):
    import voicebot_sync.read.definitions as definitions

    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr(definitions, "load_definitions_with_notes", broken)
    assert entry.main(["validate"]) == EXIT["internal"] == 70
    (line,) = capsys.readouterr().err.strip().splitlines()
    assert line.startswith("error: unexpected error: RuntimeError: injected bug; details in ")
    log = line.split("details in ")[1].split(" (please")[0]
    assert "Traceback" in open(log).read()


def test_main_exit_codes_usage_1_expected_their_own(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    assert entry.main(["--version"]) == 0
    assert entry.main(["no-such-command"]) == EXIT["error"] == 1
    assert "error: No such command 'no-such-command'." in capsys.readouterr().err
    assert entry.main(["validate", "missing"]) == EXIT["error"]  # a validation problem
    assert capsys.readouterr().err.endswith("error: 1 validation problem found\n")


def test_a_ctrl_c_inside_a_command_is_aborted_one_outside_it_is_130(tmp_path, monkeypatch, capsys):
    import voicebot_sync.read.definitions as definitions

    def interrupted(*args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr(definitions, "load_definitions_with_notes", interrupted)
    # click turns a Ctrl-C inside a command into Abort: nothing was written (apply handles its own).
    assert entry.main(["validate"]) == EXIT["error"]
    assert "error: aborted: nothing was changed" in capsys.readouterr().err

    class Interrupted:
        name = "interrupted"

        def main(self, *args, **kwargs):
            raise KeyboardInterrupt

    assert entry.run(Interrupted(), []) == EXIT["interrupted"] == 130
    assert "error: interrupted: stopped at once" in capsys.readouterr().err


def test_main_restores_the_streams_it_wrapped():
    import sys

    before = (sys.stdout, sys.stderr)
    entry.main(["--version"])
    assert (sys.stdout, sys.stderr) == before


def test_the_fast_version_is_word_for_word_the_groups(runner, capsys):
    assert entry.main(["--version"]) == 0
    assert capsys.readouterr().out == runner.invoke(cli, ["--version"], prog_name="voicebot-sync").output


def test_version_imports_neither_click_nor_the_commands():
    # Start-up is a feature: `voicebot-sync --version` costs about a bare interpreter (benchmarks/startup.py).
    import subprocess
    import sys

    probe = ("import sys; from voicebot_sync.main import main; main(['--version']); "
             "print(sorted(m for m in sys.modules if m == 'click' or m.startswith('voicebot_sync.')))")
    out = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True).stdout
    from voicebot_sync import __version__

    assert out.splitlines() == [f"voicebot-sync, version {__version__}", "['voicebot_sync.main']"]
