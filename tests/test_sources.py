"""read/sources.py: one table of every setting's sources; the help, the docs and the Action follow it."""

import os
import re

import yaml
from click.testing import CliRunner

from voicebot_sync.cli import main as cli
from voicebot_sync.read.settings import load_settings
from voicebot_sync.read.sources import ACTION_INPUTS, CONFIG_KEYS, TABLE, markdown_table

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def test_every_option_with_a_variable_shows_it_in_help():
    text = CliRunner().invoke(cli, ["plan", "--help"], catch_exceptions=False).output
    flat = re.sub(r"\s+", " ", text)
    for source in TABLE:
        if source.option and source.option.startswith("--") and f"{source.option} " in flat and source.variable:
            assert f"env var: {source.variable}" in flat, source.name


def test_docs_carry_the_table_as_the_code_has_it():
    with open(os.path.join(ROOT, "docs", "configuration.md"), encoding="utf-8") as f:
        assert markdown_table() in f.read()


def test_the_actions_inputs_set_the_variables_the_table_names():
    with open(os.path.join(ROOT, "action.yml"), encoding="utf-8") as f:
        text = f.read()
    for action_variable in ACTION_INPUTS:
        assert f"{action_variable}:" in text, action_variable
    inputs = yaml.safe_load(text)["inputs"]
    for source in TABLE:
        if source.action_input and source.name != "state_dir":
            name = source.action_input.removeprefix("VS_").lower().replace("_", "-")
            assert name in inputs, name


def test_every_config_key_of_the_table_is_in_the_config_schema_and_is_read(tmp_path):
    from voicebot_sync.read.settings import config_schema

    properties = config_schema()["properties"]
    assert set(CONFIG_KEYS) <= set(properties)
    (tmp_path / "voicebot-sync.yaml").write_text("rate_limit: 3/1m\ntimeout: 12\n")
    settings = load_settings({}, {"VOICEBOT_RATE_LIMIT": "4/1m"}, str(tmp_path))
    assert (settings.rate_limit, settings.source("rate_limit")) == ("4/1m", "VOICEBOT_RATE_LIMIT")
    assert (settings.timeout, settings.source("timeout")) == (12.0, "config file")
