"""Settings: precedence, environments, the key, the URL rule, the config file's own validation."""

import pytest

from voicebot_sync.config import DEFAULT_API_URL, check_api_url, load_settings
from voicebot_sync.errors import ConfigError, ValidationError

SECRET = "vbk-secret-value-9d8e7f"


def settings(tmp_path, config=None, cli=None, environ=None, **kw):
    if config is not None:
        (tmp_path / "voicebot-sync.yaml").write_text(config)
    return load_settings(cli or {}, environ or {}, str(tmp_path), **kw)


CONFIG = """\
workflows_dir: defs
api_url: https://top.example/v1
rate_limit: 5/1m
prune: false
guards: {max_delete_share: 20%, min_existing: 4}
owns: {prefix: "clinic-a/"}
environments:
  staging:
    api_url: https://staging.example/v1
    api_key_env: VOICEBOT_STAGING_KEY
    rate_limit: 2/1s
  production:
    api_key_env: VOICEBOT_PROD_KEY
    prune: true
"""


def test_defaults(tmp_path):
    s = settings(tmp_path)
    assert (s.api_url, s.rate_limit, s.workflows, s.prune, s.config_file) == (DEFAULT_API_URL, "6/1m,60/1h", ["workflows"], False, None)
    assert s.windows == [(6, 60.0), (60, 3600.0)]


def test_config_top_overrides_defaults(tmp_path):
    s = settings(tmp_path, CONFIG)
    assert s.api_url == "https://top.example/v1" and s.rate_limit == "5/1m"
    assert s.sources["api_url"] == "config file"
    assert s.guards.max_delete_share == 0.2 and s.guards.min_existing == 4 and s.guards.max_update_share == 0.5
    assert s.scope.contains("clinic-a/x") and not s.scope.contains("clinic-b/x")


def test_workflows_dir_is_relative_to_the_config_file(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "sub").mkdir()
    (tmp_path / "sub" / "vs.yaml").write_text("workflows_dir: defs\n")
    s = load_settings({"config": "sub/vs.yaml"}, {}, str(tmp_path))
    assert s.workflows == ["sub/defs"]


def test_environment_section_overrides_the_top(tmp_path):
    s = settings(tmp_path, CONFIG, cli={"env": "staging"})
    assert s.api_url == "https://staging.example/v1" and s.rate_limit == "2/1s"
    assert s.sources["api_url"] == "environment 'staging'"
    assert s.workflows == ["defs"]  # not overridden: the top still applies


def test_environment_variables_override_the_environment_section(tmp_path):
    s = settings(tmp_path, CONFIG, cli={"env": "staging"}, environ={"VOICEBOT_API_URL": "https://envvar.example/v1"})
    assert s.api_url == "https://envvar.example/v1" and s.sources["api_url"] == "VOICEBOT_API_URL"


def test_command_line_overrides_environment_variables(tmp_path):
    s = settings(tmp_path, CONFIG, cli={"env": "staging", "api_url": "https://cli.example/v1", "rate_limit": "off"},
                 environ={"VOICEBOT_API_URL": "https://envvar.example/v1", "VOICEBOT_RATE_LIMIT": "1/1s"})
    assert (s.api_url, s.sources["api_url"]) == ("https://cli.example/v1", "--api-url")
    assert (s.rate_limit, s.windows) == ("off", [])


def test_env_selected_through_the_environment_variable(tmp_path):
    s = settings(tmp_path, CONFIG, environ={"VOICEBOT_ENV": "production", "VOICEBOT_PROD_KEY": SECRET})
    assert s.env == "production" and s.prune is True and s.api_key == SECRET


def test_key_comes_from_the_variable_the_environment_names(tmp_path):
    env = {"VOICEBOT_API_KEY": "general", "VOICEBOT_STAGING_KEY": SECRET}
    assert settings(tmp_path, CONFIG, cli={"env": "staging"}, environ=env).api_key == SECRET
    assert settings(tmp_path, CONFIG, environ=env).api_key == "general"
    assert settings(tmp_path, CONFIG, cli={"env": "staging", "api_key": "cli"}, environ=env).api_key == "cli"


def test_missing_key_says_which_variable(tmp_path):
    with pytest.raises(ConfigError, match="set VOICEBOT_STAGING_KEY"):
        settings(tmp_path, CONFIG, cli={"env": "staging"}, need_key=True)


def test_unknown_environment_names_those_that_exist(tmp_path):
    with pytest.raises(ConfigError, match=r"no environment 'prod' in voicebot-sync.yaml \(environments: production, staging\)"):
        settings(tmp_path, CONFIG, cli={"env": "prod"})


def test_the_key_is_never_described(tmp_path):
    s = settings(tmp_path, CONFIG, environ={"VOICEBOT_API_KEY": SECRET})
    assert SECRET not in repr(s) and SECRET not in str(s.describe())
    assert ("api_key", "set (from VOICEBOT_API_KEY)", "VOICEBOT_API_KEY") in s.describe()


def test_config_file_problems_are_all_reported_with_lines(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    text = "api_url: https://x.example\nrate_limit: 6 per minute\nprun: true\nguards:\n  max_delete_share: 2\nenvironments:\n  staging:\n    api_key: oops\n"
    with pytest.raises(ValidationError) as info:
        settings(tmp_path, text)
    found = [str(p) for p in info.value.problems]
    assert "voicebot-sync.yaml:3: unknown key 'prun' (did you mean 'prune'?)" in found
    assert any(p.startswith("voicebot-sync.yaml:5: guards.max_delete_share") for p in found)
    assert any(p.startswith("voicebot-sync.yaml:8:") and "keys do not belong in files under git" in p for p in found)
    assert any(p.startswith("voicebot-sync.yaml:2:") and "invalid rate limit" in p for p in found)


def test_given_config_file_must_exist(tmp_path):
    with pytest.raises(ConfigError, match="does not exist"):
        settings(tmp_path, cli={"config": "nope.yaml"})


@pytest.mark.parametrize("url", ["https://voicebot.example/v1", "http://127.0.0.1:8080/v1", "http://localhost/v1", "http://[::1]:9/v1", "local"])
def test_allowed_urls(url):
    assert check_api_url(url + "/") == url


def test_plain_http_to_another_host_needs_insecure():
    with pytest.raises(ConfigError, match="--insecure"):
        check_api_url("http://voicebot.example/v1")
    assert check_api_url("http://voicebot.example/v1", insecure=True) == "http://voicebot.example/v1"
    with pytest.raises(ConfigError, match="invalid API URL"):
        check_api_url("voicebot.example")


def test_local_defaults_to_no_rate_limit_unless_one_is_set(tmp_path):
    s = settings(tmp_path, cli={"api_url": "local"})
    assert (s.rate_limit, s.sources["rate_limit"]) == ("off", "default for local")
    assert settings(tmp_path, cli={"api_url": "local", "rate_limit": "1/1s"}).rate_limit == "1/1s"


def test_bad_rate_limit_names_its_source(tmp_path):
    with pytest.raises(ConfigError, match="from VOICEBOT_RATE_LIMIT"):
        settings(tmp_path, environ={"VOICEBOT_RATE_LIMIT": "lots"})
