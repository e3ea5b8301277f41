"""Every setting and where it can come from, in one table.

A row names the setting (the ``Settings`` attribute), its command-line option, its
environment variable, its key in ``voicebot-sync.yaml``, the Action's input that sets the
variable, the default as a person reads it, and one line of help. Everything else is
derived from here: the options' ``--help`` (``cli.options.click_option``, click's ``show_envvar``), the variables and
file keys ``load_settings`` reads and their order of precedence, the Action's input table,
and the table in docs/configuration.md (a test keeps it equal to ``markdown_table()``).
"""

from __future__ import annotations

from dataclasses import dataclass

from ..core.schedule import DEFAULT_RATE_LIMIT
from .connection import DEFAULT_KEY_ENV

DEFAULT_API_URL = "https://voicebot.intron.health/voicebot/v1"
DEFAULT_CONFIG = "voicebot-sync.yaml"


@dataclass(frozen=True)
class Source:
    name: str
    option: str | None = None  # on the command line of the commands that use it
    variable: str | None = None  # read from the environment (below the command line, above the file)
    config_key: str | None = None  # at the top of voicebot-sync.yaml and under each environment
    action_input: str | None = None  # the Action's input, passed to its scripts as this VS_* variable
    default: str | None = None  # as --help and the docs show it (None: no default)
    help: str = ""


TABLE: tuple[Source, ...] = (
    Source("api_url", "--api-url", "VOICEBOT_API_URL", "api_url", "VS_API_URL", DEFAULT_API_URL,
           "API base URL, or 'local' for the built-in emulator."),
    Source("api_key", "--api-key", DEFAULT_KEY_ENV, None, "VS_API_KEY", None,
           "API key (prefer the environment variable; api_key_env names another one)."),
    Source("api_key_env", None, None, "api_key_env", None, DEFAULT_KEY_ENV,
           "The variable that holds this environment's key."),
    Source("rate_limit", "--rate-limit", "VOICEBOT_RATE_LIMIT", "rate_limit", "VS_RATE_LIMIT", DEFAULT_RATE_LIMIT,
           "COUNT/DURATION[,...] or off."),
    Source("config", "--config", "VOICEBOT_SYNC_CONFIG", None, "VS_CONFIG", f"{DEFAULT_CONFIG} if present",
           "Config file."),
    Source("env", "--env", "VOICEBOT_ENV", None, "VS_ENVIRONMENT", None,
           "An environment of the config file."),
    Source("workflows", "PATH...", None, "workflows_dir", None, "workflows",
           "Where the definition files are (relative to the config file)."),
    Source("prune", "--prune", None, "prune", None, "false",
           "Delete remote workflows that no definition matches."),
    Source("guards", None, None, "guards", None, "30% / 50% / 10",
           "Shares of the remote a plan may delete / update, from this many workflows on (--force passes)."),
    Source("owns", None, None, "owns", None, "the whole account",
           "The remote workflows this repo owns: a name prefix or a list of names."),
    Source("max_retries", None, None, "max_retries", None, "5", "Retries of a transient fault per request."),
    Source("timeout", None, None, "timeout", None, "30", "Seconds per request."),
    Source("settle_time", "--settle-time", None, "settle_time", None, "10",
           "Seconds a just-made write may take to appear in the list."),
    Source("unkept_fields", None, None, "unkept_fields", None, "none",
           "Optional fields this server does not keep: never compared."),
    Source("max_wait", "--max-wait", "VOICEBOT_MAX_WAIT", None, None, "60s",
           "The longest total wait for the server's 429 answers before giving up (e.g. 5m)."),
    Source("insecure", "--insecure", None, None, None, "false",
           "Allow http:// to a host other than loopback (the key travels in clear)."),
    Source("state_dir", None, "VOICEBOT_SYNC_STATE_DIR", None, "VS_STATE_DIR", ".voicebot-sync",
           "Where the lock, the journal, the ledger and logs live."),
)

BY_NAME = {s.name: s for s in TABLE}

# The file keys of the settings layered top, then environment (rules and words_per_minute are a book of
# their own, read whole by rulefile.py).
CONFIG_KEYS = tuple(s.config_key for s in TABLE if s.config_key)
# What the environment and then the command line lay over the file, in that order: (setting, variable, option).
OVERRIDES = tuple((s.name, s.variable, s.option) for s in TABLE if s.option and s.variable and s.config_key)
# The Action's inputs and the variables they set (the key has its own route: github/inputs.py).
ACTION_INPUTS = {s.action_input: s.variable for s in TABLE if s.action_input and s.name != "api_key"}


def variable(name: str) -> str:
    found = BY_NAME[name].variable
    assert found is not None, name
    return found


def markdown_table() -> str:
    """The table of docs/configuration.md."""

    def cell(text: str | None) -> str:
        return f"`{text}`" if text else ""

    rows = ["| setting | option | variable | config key | Action input | default |",
            "|---|---|---|---|---|---|"]
    for s in TABLE:
        action = s.action_input.removeprefix("VS_").lower().replace("_", "-") if s.action_input else None
        if s.name == "state_dir":
            action = None  # the Action sets it itself, to the folder its cache restores
        rows.append(f"| {s.name} | {cell(s.option)} | {cell(s.variable)} | {cell(s.config_key)} | {cell(action)} "
                    f"| {s.default or ''} |")
    return "\n".join(rows) + "\n"
