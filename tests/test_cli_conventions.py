"""Terraform-like conventions on the command line (issue 12): colour, pipes, warnings, JSON."""

import json
import subprocess
import sys

import pytest

from voicebot_sync.api.client import parse_retry_after
from voicebot_sync.cli import main
from voicebot_sync.text.escaping import visible

from conftest import write_workflow


@pytest.mark.parametrize("env,args", [({"NO_COLOR": "1"}, []), ({"TERM": "dumb"}, []), ({}, ["--no-color"])])
def test_no_colour_on_request(monkeypatch, env, args):
    from voicebot_sync.cli.options import _color

    class Terminal:
        def isatty(self):
            return True

    import click

    monkeypatch.delenv("NO_COLOR", raising=False)
    monkeypatch.setenv("TERM", "xterm")
    for k, v in env.items():
        monkeypatch.setenv(k, v)

    @click.command()
    @click.option("--no-color", is_flag=True)
    def probe(no_color):
        click.get_current_context().find_root().meta["no_color"] = no_color
        click.echo("colour" if _color(Terminal()) else "plain")

    from click.testing import CliRunner

    assert CliRunner().invoke(probe, args).output.strip() == "plain"


def test_colour_on_a_terminal_by_default(monkeypatch):
    from voicebot_sync.cli.options import _color

    monkeypatch.delenv("NO_COLOR", raising=False)
    monkeypatch.setenv("TERM", "xterm")

    class Terminal:
        def isatty(self):
            return True

    assert _color(Terminal()) is True


def test_a_closed_pipe_is_quiet(tmp_path):
    write_workflow(tmp_path / "workflows", "Reminder")
    proc = subprocess.run(f"{sys.executable} -m voicebot_sync validate workflows | head -c 0", shell=True, cwd=tmp_path,
                          capture_output=True, text=True, timeout=60)
    assert "Broken pipe" not in proc.stderr and "Traceback" not in proc.stderr


def test_plan_says_when_apply_will_refuse_in_text_markdown_and_json(api, runner, emulator, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    for i in range(10):
        emulator.add_workflow(name=f"Old {i}", message="m")
    write_workflow(tmp_path / "workflows", "Old 0", "m")
    outputs = {fmt: runner.invoke(main, ["plan", "--prune", "--format", fmt]) for fmt in ("text", "markdown", "json")}
    for fmt, result in outputs.items():
        assert result.exit_code == 0, result.stderr
    assert "Warning: apply would refuse this plan: refusing to delete 9 of 10" in outputs["text"].output
    assert "--force" in outputs["text"].output
    assert "Apply would refuse this plan:" in outputs["markdown"].output
    assert json.loads(outputs["json"].stdout)["apply_would_refuse"].startswith("refusing to delete 9 of 10")


def test_every_json_document_carries_format_version(api, runner, workflows, monkeypatch, tmp_path):
    monkeypatch.chdir(workflows.parent)
    for args in (["plan", "--format", "json"], ["validate", "--format", "json"], ["config", "--format", "json"],
                 ["drift", "--format", "json"], ["apply", "--yes", "--format", "json"]):
        result = runner.invoke(main, args)
        assert result.exception is None or isinstance(result.exception, SystemExit), result.exception
        assert json.loads(result.stdout)["format_version"] == 1, (args, result.stdout)


def test_a_ticking_status_line_redraws_each_second():
    import io

    from voicebot_sync.output.progress import TerminalEvents

    out = io.StringIO()
    events = TerminalEvents(out)
    events.wait(3.0, "rate limit 6/1m")
    for left in (2.9, 2.5, 1.9, 1.2, 0.8):
        events.tick(left)
    shown = [visible(part) for part in out.getvalue().split("\r\x1b[2K") if part]
    assert [s.split("waiting ")[1].split(":")[0] for s in shown] == ["3s", "2s", "1s"]
