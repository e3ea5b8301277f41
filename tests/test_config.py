"""config.load_settings: precedence, environments, the key, the URL rule, and the config file's own checks.

Every test passes ``environ`` and ``cwd`` explicitly: nothing here reads the real
environment or the directory pytest runs in.
"""

import json
from importlib.resources import files

import jsonschema
import pytest

from voicebot_sync.read.settings import DEFAULT_API_URL, Settings, check_api_url, load_settings
from voicebot_sync.errors import ConfigError, ValidationError
from voicebot_sync.core.plan import Guards

SECRET = "vbk-live-3f9a1c77e2d04b51"


def load(tmp_path, config=None, cli=None, environ=None, **kw) -> Settings:
    if config is not None:
        (tmp_path / "voicebot-sync.yaml").write_text(config)
    return load_settings(cli or {}, environ or {}, str(tmp_path), **kw)


def problems(tmp_path, config, **kw) -> list[str]:
    with pytest.raises(ValidationError) as info:
        load(tmp_path, config, **kw)
    return [str(p) for p in info.value.problems]


TWO_ENVIRONMENTS = """\
workflows_dir: workflows
api_url: https://top.example/v1
rate_limit: 5/1m
prune: false
guards: {max_delete_share: 20%, min_existing: 4}
owns: {prefix: "clinic-a/"}
max_retries: 3
timeout: 10
environments:
  staging:
    api_url: https://staging.example/v1
    api_key_env: VOICEBOT_STAGING_KEY
    rate_limit: 2/1s
    workflows_dir: [workflows, staging-only]
    owns: {names: [Reminder, Follow-up]}
    timeout: 2.5
  production:
    api_key_env: VOICEBOT_PROD_KEY
    prune: true
    guards: {max_update_share: 0.25}
    max_retries: 8
"""


# -- precedence: one step at a time ------------------------------------------------


def test_defaults_when_nothing_is_given(tmp_path):
    s = load(tmp_path)
    assert (s.api_url, s.rate_limit, s.workflows, s.prune, s.insecure) == (DEFAULT_API_URL, "6/1m,60/1h", ["workflows"], False, False)
    assert (s.max_retries, s.timeout, s.env, s.config_file, s.api_key) == (5, 30.0, None, None, None)
    assert s.guards == Guards(0.30, 0.50, 10) and s.scope.everything
    assert s.windows == [(6, 60.0), (60, 3600.0)]
    assert all(source == "default" for _, _, source in s.describe())


def test_top_of_the_config_file_overrides_the_defaults(tmp_path):
    s = load(tmp_path, TWO_ENVIRONMENTS)
    assert (s.api_url, s.rate_limit, s.max_retries, s.timeout) == ("https://top.example/v1", "5/1m", 3, 10.0)
    assert s.sources["api_url"] == s.sources["rate_limit"] == "config file"
    assert s.sources["config"] == "found in the current directory" and s.config_file == "voicebot-sync.yaml"


def test_environment_section_overrides_the_top_of_the_file(tmp_path):
    s = load(tmp_path, TWO_ENVIRONMENTS, cli={"env": "staging"})
    assert (s.api_url, s.rate_limit, s.timeout) == ("https://staging.example/v1", "2/1s", 2.5)
    assert s.sources["api_url"] == "environment 'staging'"
    # What the section does not mention still comes from the top.
    assert (s.max_retries, s.sources["max_retries"]) == (3, "config file")


def test_environment_variables_override_the_environment_section(tmp_path):
    environ = {"VOICEBOT_API_URL": "https://envvar.example/v1", "VOICEBOT_RATE_LIMIT": "1/1s"}
    s = load(tmp_path, TWO_ENVIRONMENTS, cli={"env": "staging"}, environ=environ)
    assert (s.api_url, s.sources["api_url"]) == ("https://envvar.example/v1", "VOICEBOT_API_URL")
    assert (s.rate_limit, s.sources["rate_limit"]) == ("1/1s", "VOICEBOT_RATE_LIMIT")


def test_command_line_overrides_environment_variables(tmp_path):
    environ = {"VOICEBOT_API_URL": "https://envvar.example/v1", "VOICEBOT_RATE_LIMIT": "1/1s"}
    cli = {"env": "staging", "api_url": "https://cli.example/v1", "rate_limit": "off"}
    s = load(tmp_path, TWO_ENVIRONMENTS, cli=cli, environ=environ)
    assert (s.api_url, s.sources["api_url"]) == ("https://cli.example/v1", "--api-url")
    assert (s.rate_limit, s.sources["rate_limit"], s.windows) == ("off", "--rate-limit", [])


def test_empty_environment_variables_count_as_unset(tmp_path):
    s = load(tmp_path, TWO_ENVIRONMENTS, environ={"VOICEBOT_API_URL": "", "VOICEBOT_ENV": ""})
    assert (s.api_url, s.env) == ("https://top.example/v1", None)


def test_command_line_env_beats_voicebot_env(tmp_path):
    s = load(tmp_path, TWO_ENVIRONMENTS, cli={"env": "staging"}, environ={"VOICEBOT_ENV": "production"})
    assert (s.env, s.sources["env"]) == ("staging", "--env")
    s = load(tmp_path, TWO_ENVIRONMENTS, environ={"VOICEBOT_ENV": "production"})
    assert (s.env, s.sources["env"], s.prune) == ("production", "VOICEBOT_ENV", True)


def test_paths_command_line_over_workflows_dir_over_default(tmp_path):
    assert load(tmp_path).workflows == ["workflows"]
    assert load(tmp_path, "workflows_dir: defs\n").workflows == ["defs"]
    s = load(tmp_path, "workflows_dir: defs\n", cli={"paths": ["a", "b.yaml"]})
    assert (s.workflows, s.sources["workflows"]) == (["a", "b.yaml"], "command line")


def test_prune_from_the_command_line_overrides_the_file_both_ways(tmp_path):
    assert load(tmp_path, "prune: false\n", cli={"prune": True}).prune is True
    # An explicit False (a future --no-prune) is a given value too, not "not given".
    assert load(tmp_path, "prune: true\n", cli={"prune": False}).prune is False
    assert load(tmp_path, "prune: true\n", cli={"prune": None}).prune is True


# -- the config file: where it comes from ------------------------------------------


def test_workflows_dir_is_relative_to_the_config_file(tmp_path):
    (tmp_path / "deploy").mkdir()
    (tmp_path / "deploy" / "vs.yaml").write_text("workflows_dir: [defs, sub/more]\n")
    s = load(tmp_path, cli={"config": "deploy/vs.yaml"})
    assert s.workflows == ["deploy/defs", "deploy/sub/more"]
    assert (s.config_file, s.sources["config"]) == ("deploy/vs.yaml", "--config")


@pytest.mark.parametrize("outside", ["../shared", "/etc", "'~/x'", "defs/../../x"])
def test_workflows_dir_in_a_config_file_stays_inside_its_directory(tmp_path, outside):
    (tmp_path / "deploy").mkdir()
    (tmp_path / "deploy" / "vs.yaml").write_text(f"workflows_dir: {outside}\n")
    with pytest.raises(ConfigError, match="leaves the config file's directory"):
        load(tmp_path, cli={"config": "deploy/vs.yaml"})


def test_config_file_named_by_the_environment_variable(tmp_path):
    (tmp_path / "other.yaml").write_text("prune: true\n")
    s = load(tmp_path, "prune: false\n", environ={"VOICEBOT_SYNC_CONFIG": "other.yaml"})
    assert (s.prune, s.config_file, s.sources["config"]) == (True, "other.yaml", "VOICEBOT_SYNC_CONFIG")


def test_a_given_config_file_must_exist_but_the_default_may_be_absent(tmp_path):
    with pytest.raises(ConfigError, match=r"config file nope.yaml \(from --config\) does not exist"):
        load(tmp_path, cli={"config": "nope.yaml"})
    with pytest.raises(ConfigError, match="from VOICEBOT_SYNC_CONFIG"):
        load(tmp_path, environ={"VOICEBOT_SYNC_CONFIG": "nope.yaml"})
    assert load(tmp_path).config_file is None


def test_empty_config_file_is_all_defaults(tmp_path):
    s = load(tmp_path, "# nothing yet\n")
    assert s.config_file == "voicebot-sync.yaml" and s.api_url == DEFAULT_API_URL


# -- environments ------------------------------------------------------------------


def test_environment_overrides_reach_every_setting(tmp_path):
    staging = load(tmp_path, TWO_ENVIRONMENTS, cli={"env": "staging"})
    assert staging.workflows == ["workflows", "staging-only"]
    assert staging.scope.contains("Reminder") and not staging.scope.contains("clinic-a/x")  # owns replaced
    production = load(tmp_path, TWO_ENVIRONMENTS, cli={"env": "production"})
    assert (production.prune, production.max_retries, production.sources["prune"]) == (True, 8, "environment 'production'")
    assert production.scope.contains("clinic-a/x")  # owns from the top


def test_environment_guards_override_field_by_field(tmp_path):
    s = load(tmp_path, TWO_ENVIRONMENTS, cli={"env": "production"})
    # max_update_share from production; max_delete_share and min_existing from the top; nothing lost.
    assert s.guards == Guards(max_delete_share=0.20, max_update_share=0.25, min_existing=4)
    assert s.sources["guards"] == "environment 'production'"


def test_unknown_environment_names_those_that_exist(tmp_path):
    with pytest.raises(ConfigError, match=r"no environment 'prod' in voicebot-sync.yaml "
                                          r"\(environments: production, staging\); did you mean 'production'\?"):
        load(tmp_path, TWO_ENVIRONMENTS, cli={"env": "prod"})


def test_unknown_environment_in_a_file_without_environments(tmp_path):
    with pytest.raises(ConfigError, match=r"\(environments: none\)"):
        load(tmp_path, "prune: false\n", environ={"VOICEBOT_ENV": "staging"})


def test_env_without_any_config_file_is_an_error(tmp_path):
    with pytest.raises(ConfigError, match="--env staging needs a config file"):
        load(tmp_path, cli={"env": "staging"})


# -- the key -----------------------------------------------------------------------


def test_key_from_the_default_variable(tmp_path):
    s = load(tmp_path, environ={"VOICEBOT_API_KEY": SECRET}, need_key=True)
    assert (s.api_key, s.sources["api_key"]) == (SECRET, "VOICEBOT_API_KEY")


def test_key_comes_from_the_variable_the_environment_names(tmp_path):
    environ = {"VOICEBOT_API_KEY": "general", "VOICEBOT_STAGING_KEY": SECRET, "VOICEBOT_PROD_KEY": "prod"}
    assert load(tmp_path, TWO_ENVIRONMENTS, cli={"env": "staging"}, environ=environ).api_key == SECRET
    assert load(tmp_path, TWO_ENVIRONMENTS, cli={"env": "production"}, environ=environ).api_key == "prod"
    assert load(tmp_path, TWO_ENVIRONMENTS, environ=environ).api_key == "general"  # no env: the top's default


def test_top_level_api_key_env_applies_without_an_environment(tmp_path):
    s = load(tmp_path, "api_key_env: TEAM_A_KEY\n", environ={"TEAM_A_KEY": SECRET, "VOICEBOT_API_KEY": "general"})
    assert (s.api_key, s.sources["api_key"], s.sources["api_key_env"]) == (SECRET, "TEAM_A_KEY", "config file")


def test_command_line_key_beats_every_variable(tmp_path):
    environ = {"VOICEBOT_API_KEY": "general", "VOICEBOT_STAGING_KEY": "staging"}
    s = load(tmp_path, TWO_ENVIRONMENTS, cli={"env": "staging", "api_key": SECRET}, environ=environ)
    assert (s.api_key, s.sources["api_key"]) == (SECRET, "--api-key")


def test_general_key_never_stands_in_for_an_environments_own_variable(tmp_path):
    # VOICEBOT_PROD_KEY is missing: the general key must not be sent to production instead.
    environ = {"VOICEBOT_API_KEY": SECRET}
    s = load(tmp_path, TWO_ENVIRONMENTS, cli={"env": "production"}, environ=environ)
    assert s.api_key is None
    with pytest.raises(ConfigError) as info:
        load(tmp_path, TWO_ENVIRONMENTS, cli={"env": "production"}, environ=environ, need_key=True)
    message = str(info.value)
    assert message.startswith("no API key: set VOICEBOT_PROD_KEY or pass --api-key")
    assert "VOICEBOT_API_KEY is set but not used" in message and SECRET not in message


def test_missing_key_is_an_error_only_when_needed(tmp_path):
    assert load(tmp_path).api_key is None
    with pytest.raises(ConfigError, match=r"no API key: set VOICEBOT_API_KEY \(or the variable named by api_key_env"):
        load(tmp_path, need_key=True)


def test_local_needs_no_key(tmp_path):
    s = load(tmp_path, cli={"api_url": "local"}, need_key=True)
    assert s.local and s.api_key is None


def test_the_key_is_never_shown(tmp_path):
    for cli, environ in [({"api_key": SECRET}, {}), ({}, {"VOICEBOT_API_KEY": SECRET}),
                         ({"env": "production"}, {"VOICEBOT_PROD_KEY": SECRET})]:
        s = load(tmp_path, TWO_ENVIRONMENTS, cli=cli, environ=environ)
        assert s.api_key == SECRET
        assert SECRET not in repr(s) and SECRET not in str(s) and SECRET not in str(s.describe())
        assert SECRET not in str(s.sources)
    assert "api_key=<set>" in repr(s)
    # The key's own source (the variable it was read from), not that of api_key_env's setting.
    assert ("api_key", "set (from VOICEBOT_PROD_KEY)", "VOICEBOT_PROD_KEY") in s.describe()


def test_describe_says_where_an_unset_key_was_looked_for(tmp_path):
    rows = dict((name, value) for name, value, _ in load(tmp_path, TWO_ENVIRONMENTS, cli={"env": "staging"}).describe())
    assert rows["api_key"] == "unset (looked in VOICEBOT_STAGING_KEY)"
    assert rows["guards"] == "max_delete_share=20% max_update_share=50% min_existing=4"


def test_literal_key_in_the_file_is_refused_without_echoing_it(tmp_path):
    found = problems(tmp_path, f"prune: true\napi_key: {SECRET}\nenvironments:\n  staging:\n    api_key: {SECRET}\n")
    assert found == [
        "voicebot-sync.yaml:2: keys do not belong in files under git: set api_key_env to the name of a variable that holds it",
        "voicebot-sync.yaml:5: keys do not belong in files under git: set api_key_env to the name of a variable that holds it",
    ]


def test_a_key_pasted_into_api_key_env_is_refused_without_echoing_it(tmp_path):
    found = problems(tmp_path, f"api_key_env: {SECRET}\n")
    assert found == ["voicebot-sync.yaml:1: api_key_env: must be the name of an environment variable in capitals, "
                     "such as VOICEBOT_PROD_KEY, not the key itself"]


# -- the config file's own checks --------------------------------------------------


def test_config_file_problems_are_all_reported_with_their_lines(tmp_path):
    text = (
        "api_url: https://x.example\n"       # 1
        "rate_limit: 6 per minute\n"         # 2
        "prun: true\n"                       # 3
        "guards:\n"                          # 4
        "  max_delete_share: 2\n"            # 5
        "  min_existing: -1\n"               # 6
        "timeout: soon\n"                    # 7
        "environments:\n"                    # 8
        "  staging:\n"                       # 9
        "    workflow_dir: defs\n"           # 10
        "    prune: yes please\n"            # 11
    )
    found = problems(tmp_path, text)
    assert found == [
        "voicebot-sync.yaml:2: rate_limit: invalid rate limit '6 per minute' in '6 per minute': use COUNT/DURATION, such as 6/1m,60/1h, or off",
        "voicebot-sync.yaml:3: unknown key 'prun' (did you mean 'prune'?)",
        "voicebot-sync.yaml:5: guards.max_delete_share: must be a fraction from 0 to 1 (0.3) or a percentage up to 100% (\"30%\")",
        "voicebot-sync.yaml:6: guards.min_existing: -1 is less than the minimum of 0",
        "voicebot-sync.yaml:7: timeout: must be a number, not text",
        "voicebot-sync.yaml:10: environments.staging: unknown key 'workflow_dir' (did you mean 'workflows_dir'?)",
        "voicebot-sync.yaml:11: environments.staging.prune: must be true or false, not text",
    ]


def test_each_unknown_key_is_reported_at_its_own_line(tmp_path):
    found = problems(tmp_path, "workflow_dir: a\nprune: true\nratelimit: 1/1s\n")
    assert found == ["voicebot-sync.yaml:1: unknown key 'workflow_dir' (did you mean 'workflows_dir'?)",
                     "voicebot-sync.yaml:3: unknown key 'ratelimit' (did you mean 'rate_limit'?)"]


def test_problem_file_is_shown_as_given_relative_to_the_working_directory(tmp_path):
    (tmp_path / "deploy").mkdir()
    (tmp_path / "deploy" / "vs.yaml").write_text("prune: maybe\n")
    with pytest.raises(ValidationError) as info:
        load(tmp_path, cli={"config": "deploy/vs.yaml"})
    assert [str(p) for p in info.value.problems] == ["deploy/vs.yaml:1: prune: must be true or false, not text"]


def test_yaml_syntax_error_has_its_line(tmp_path):
    found = problems(tmp_path, "prune: true\nguards: {max_delete_share: 0.3\nowns: {}\n")
    assert len(found) == 1 and found[0].startswith("voicebot-sync.yaml:2: YAML syntax error: the { mapping")


def test_duplicate_keys_non_text_keys_and_empty_sections(tmp_path):
    found = problems(tmp_path, "prune: true\nprune: false\n1: x\nenvironments:\n  staging:\n  production: {}\n")
    assert found == [
        "voicebot-sync.yaml:2: duplicate key 'prune'",
        "voicebot-sync.yaml:3: keys must be plain text, not '1' (quote it)",
        "voicebot-sync.yaml:5: environments.staging: must be a mapping of settings, not empty",
    ]


def test_anchors_and_aliases_are_refused_quickly(tmp_path):
    bomb = "a: &a [x, x, x, x, x, x, x, x, x]\n" + "".join(
        f"{chr(98 + i)}: &{chr(98 + i)} [{', '.join(['*' + chr(97 + i)] * 9)}]\n" for i in range(8))
    found = problems(tmp_path, bomb)
    assert found == ["voicebot-sync.yaml:2: YAML anchors and aliases are not allowed in the config file"]


def test_environments_do_not_nest_and_insecure_is_not_a_file_setting(tmp_path):
    found = problems(tmp_path, "insecure: true\nenvironments:\n  staging:\n    environments: {}\n")
    assert found[0].startswith("voicebot-sync.yaml:1: insecure cannot be set in a file: pass --insecure")
    assert found[1] == "voicebot-sync.yaml:4: environments.staging: environments cannot be nested in an environment"


def test_config_file_must_be_a_mapping(tmp_path):
    assert problems(tmp_path, "- prune\n") == ["voicebot-sync.yaml:1: the config file must be a mapping of settings, such as 'prune: false'"]


def test_bad_url_in_the_file_is_a_problem_with_its_line(tmp_path):
    found = problems(tmp_path, "environments:\n  staging:\n    api_url: voicebot.example/v1\n")
    assert found == ["voicebot-sync.yaml:3: environments.staging.api_url: must be an https:// URL such as "
                     "https://voicebot.intron.health/voicebot/v1, or 'local' for the built-in emulator"]


def test_the_shipped_schema_is_valid_draft_2020_12():
    schema = json.loads(files("voicebot_sync").joinpath("schemas", "config.schema.json").read_text(encoding="utf-8"))
    jsonschema.Draft202012Validator.check_schema(schema)
    assert schema["additionalProperties"] is False


# -- guards and ownership ----------------------------------------------------------


@pytest.mark.parametrize("given, share", [("30%", 0.30), ("12.5%", 0.125), ("100%", 1.0), ("0%", 0.0), (0.3, 0.30), (1, 1.0), (0, 0.0)])
def test_guard_shares_as_fractions_or_percentages(tmp_path, given, share):
    value = json.dumps(given)
    s = load(tmp_path, f"guards: {{max_delete_share: {value}, max_update_share: {value}}}\n")
    assert s.guards.max_delete_share == pytest.approx(share) and s.guards.max_update_share == pytest.approx(share)


@pytest.mark.parametrize("given", ['"150%"', "1.5", "-0.1", '"30"', '"thirty%"'])
def test_guard_shares_out_of_range_are_refused(tmp_path, given):
    found = problems(tmp_path, f"guards:\n  max_update_share: {given}\n")
    assert found == ['voicebot-sync.yaml:2: guards.max_update_share: must be a fraction from 0 to 1 (0.3) '
                     'or a percentage up to 100% ("30%")']


def test_scope_from_owns(tmp_path):
    s = load(tmp_path, "owns: {prefix: 'team-a/', names: [Shared reminder]}\n")
    assert s.scope.contains("team-a/x") and s.scope.contains("Shared reminder") and not s.scope.contains("team-b/x")
    assert s.sources["owns"] == "config file"
    assert load(tmp_path, "owns: {names: [One, Two]}\n").scope.describe() == "2 listed names"


def test_empty_owns_is_refused_rather_than_owning_everything(tmp_path):
    assert problems(tmp_path, "prune: true\nowns: {}\n") == [
        "voicebot-sync.yaml:2: owns: give a prefix, a list of names, or both (or leave owns out to manage every workflow)"]


# -- the URL rule ------------------------------------------------------------------


@pytest.mark.parametrize("url", ["https://voicebot.example/v1", "http://127.0.0.1:8080/v1", "http://127.8.9.10/v1",
                                 "http://localhost:5000/voicebot/v1", "http://[::1]:9/v1", "local"])
def test_https_local_and_loopback_http_are_allowed(tmp_path, url):
    s = load(tmp_path, cli={"api_url": url + "/"})
    assert s.api_url == url  # trailing slash stripped


@pytest.mark.parametrize("url", ["http://voicebot.example/v1", "http://10.0.0.5/v1", "http://localhost.evil.example/v1"])
def test_plain_http_to_another_host_is_refused_naming_its_source(tmp_path, url):
    with pytest.raises(ConfigError, match=r"refusing plain http:// .*pass --insecure \(api_url from VOICEBOT_API_URL\)"):
        load(tmp_path, environ={"VOICEBOT_API_URL": url})


def test_insecure_on_the_command_line_allows_plain_http(tmp_path):
    s = load(tmp_path, "api_url: http://voicebot.example/v1\n", cli={"insecure": True})
    assert (s.api_url, s.insecure, s.sources["insecure"]) == ("http://voicebot.example/v1", True, "--insecure")


def test_only_the_url_in_force_is_checked(tmp_path):
    # The file's http:// URL is overridden, so it does not matter.
    s = load(tmp_path, "api_url: http://voicebot.example/v1\n", cli={"api_url": "https://voicebot.example/v1"})
    assert s.api_url == "https://voicebot.example/v1"


def test_not_a_url_at_all(tmp_path):
    with pytest.raises(ConfigError, match=r"invalid API URL 'voicebot.example/v1'.*\(api_url from --api-url\)"):
        load(tmp_path, cli={"api_url": "voicebot.example/v1"})
    with pytest.raises(ConfigError, match="invalid API URL"):
        check_api_url("ftp://voicebot.example/v1")


# -- rate limits -------------------------------------------------------------------


def test_bad_rate_limit_names_its_source(tmp_path):
    with pytest.raises(ConfigError, match=r"invalid rate limit 'lots'.*\(from VOICEBOT_RATE_LIMIT\)"):
        load(tmp_path, environ={"VOICEBOT_RATE_LIMIT": "lots"})
    with pytest.raises(ConfigError, match=r"invalid duration '1y'.*\(from --rate-limit\)"):
        load(tmp_path, cli={"rate_limit": "6/1y"})


def test_bad_rate_limit_in_an_environment_section_has_its_line(tmp_path):
    found = problems(tmp_path, "environments:\n  staging:\n    rate_limit: 0/1m\n")
    assert len(found) == 1 and found[0].startswith("voicebot-sync.yaml:3: environments.staging.rate_limit: invalid rate limit '0/1m'")


def test_local_defaults_to_no_rate_limit(tmp_path):
    s = load(tmp_path, cli={"api_url": "local"})
    assert (s.rate_limit, s.sources["rate_limit"], s.windows) == ("off", "default for local", [])


def test_local_keeps_a_rate_limit_set_anywhere(tmp_path):
    assert load(tmp_path, cli={"api_url": "local", "rate_limit": "1/1s"}).rate_limit == "1/1s"
    assert load(tmp_path, "api_url: local\nrate_limit: 2/1s\n").rate_limit == "2/1s"
    # A file's rate_limit is the remote's quota: local chosen for this run is not paced by it (issue 18).
    assert load(tmp_path, "rate_limit: 2/1s\n", environ={"VOICEBOT_API_URL": "local"}).rate_limit == "off"
    assert load(tmp_path, "rate_limit: 2/1s\n", environ={"VOICEBOT_API_URL": "local",
                                                         "VOICEBOT_RATE_LIMIT": "3/1s"}).rate_limit == "3/1s"


# -- merged from test_settings.py: precedence and the key, from the user's side -------------

SECRET = "vbk-secret-value-9d8e7f"




SETTINGS_CONFIG = """\
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
    s = load(tmp_path)
    assert (s.api_url, s.rate_limit, s.workflows, s.prune, s.config_file) == (DEFAULT_API_URL, "6/1m,60/1h", ["workflows"], False, None)
    assert s.windows == [(6, 60.0), (60, 3600.0)]


def test_config_top_overrides_defaults(tmp_path):
    s = load(tmp_path, SETTINGS_CONFIG)
    assert s.api_url == "https://top.example/v1" and s.rate_limit == "5/1m"
    assert s.sources["api_url"] == "config file"
    assert s.guards.max_delete_share == 0.2 and s.guards.min_existing == 4 and s.guards.max_update_share == 0.5
    assert s.scope.contains("clinic-a/x") and not s.scope.contains("clinic-b/x")


def test_workflows_dir_is_relative_to_the_config_file_as_settings(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "sub").mkdir()
    (tmp_path / "sub" / "vs.yaml").write_text("workflows_dir: defs\n")
    s = load_settings({"config": "sub/vs.yaml"}, {}, str(tmp_path))
    assert s.workflows == ["sub/defs"]


def test_environment_section_overrides_the_top(tmp_path):
    s = load(tmp_path, SETTINGS_CONFIG, cli={"env": "staging"})
    assert s.api_url == "https://staging.example/v1" and s.rate_limit == "2/1s"
    assert s.sources["api_url"] == "environment 'staging'"
    assert s.workflows == ["defs"]  # not overridden: the top still applies


def test_environment_variables_override_the_environment_section_as_settings(tmp_path):
    s = load(tmp_path, SETTINGS_CONFIG, cli={"env": "staging"}, environ={"VOICEBOT_API_URL": "https://envvar.example/v1"})
    assert s.api_url == "https://envvar.example/v1" and s.sources["api_url"] == "VOICEBOT_API_URL"


def test_command_line_overrides_environment_variables_as_settings(tmp_path):
    s = load(tmp_path, SETTINGS_CONFIG, cli={"env": "staging", "api_url": "https://cli.example/v1", "rate_limit": "off"},
                 environ={"VOICEBOT_API_URL": "https://envvar.example/v1", "VOICEBOT_RATE_LIMIT": "1/1s"})
    assert (s.api_url, s.sources["api_url"]) == ("https://cli.example/v1", "--api-url")
    assert (s.rate_limit, s.windows) == ("off", [])


def test_env_selected_through_the_environment_variable(tmp_path):
    s = load(tmp_path, SETTINGS_CONFIG, environ={"VOICEBOT_ENV": "production", "VOICEBOT_PROD_KEY": SECRET})
    assert s.env == "production" and s.prune is True and s.api_key == SECRET


def test_key_comes_from_the_variable_the_environment_names_as_settings(tmp_path):
    env = {"VOICEBOT_API_KEY": "general", "VOICEBOT_STAGING_KEY": SECRET}
    assert load(tmp_path, SETTINGS_CONFIG, cli={"env": "staging"}, environ=env).api_key == SECRET
    assert load(tmp_path, SETTINGS_CONFIG, environ=env).api_key == "general"
    assert load(tmp_path, SETTINGS_CONFIG, cli={"env": "staging", "api_key": "cli"}, environ=env).api_key == "cli"


def test_missing_key_says_which_variable(tmp_path):
    with pytest.raises(ConfigError, match="set VOICEBOT_STAGING_KEY"):
        load(tmp_path, SETTINGS_CONFIG, cli={"env": "staging"}, need_key=True)


def test_unknown_environment_names_those_that_exist_as_settings(tmp_path):
    with pytest.raises(ConfigError, match=r"no environment 'prod' in voicebot-sync.yaml \(environments: production, staging\)"):
        load(tmp_path, SETTINGS_CONFIG, cli={"env": "prod"})


def test_the_key_is_never_described(tmp_path):
    s = load(tmp_path, SETTINGS_CONFIG, environ={"VOICEBOT_API_KEY": SECRET})
    assert SECRET not in repr(s) and SECRET not in str(s.describe())
    assert ("api_key", "set (from VOICEBOT_API_KEY)", "VOICEBOT_API_KEY") in s.describe()


def test_config_file_problems_are_all_reported_with_lines(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    text = "api_url: https://x.example\nrate_limit: 6 per minute\nprun: true\nguards:\n  max_delete_share: 2\nenvironments:\n  staging:\n    api_key: oops\n"
    with pytest.raises(ValidationError) as info:
        load(tmp_path, text)
    found = [str(p) for p in info.value.problems]
    assert "voicebot-sync.yaml:3: unknown key 'prun' (did you mean 'prune'?)" in found
    assert any(p.startswith("voicebot-sync.yaml:5: guards.max_delete_share") for p in found)
    assert any(p.startswith("voicebot-sync.yaml:8:") and "keys do not belong in files under git" in p for p in found)
    assert any(p.startswith("voicebot-sync.yaml:2:") and "invalid rate limit" in p for p in found)


def test_given_config_file_must_exist(tmp_path):
    with pytest.raises(ConfigError, match="does not exist"):
        load(tmp_path, cli={"config": "nope.yaml"})


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
    s = load(tmp_path, cli={"api_url": "local"})
    assert (s.rate_limit, s.sources["rate_limit"]) == ("off", "default for local")
    assert load(tmp_path, cli={"api_url": "local", "rate_limit": "1/1s"}).rate_limit == "1/1s"


def test_bad_rate_limit_names_its_source_as_settings(tmp_path):
    with pytest.raises(ConfigError, match="from VOICEBOT_RATE_LIMIT"):
        load(tmp_path, environ={"VOICEBOT_RATE_LIMIT": "lots"})
