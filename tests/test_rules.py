"""Team rules (``rules:`` in voicebot-sync.yaml) and spoken length: each kind of rule, levels, scopes,
waivers, the plan's JSON fields, the PR comment, the Action's failure, and hostile rule files."""

from __future__ import annotations

import json
import os
import re
import textwrap
import time

import pytest

from voicebot_sync.read import rulefile
from voicebot_sync.core import rules, spoken
from voicebot_sync.text import saferegex
from voicebot_sync.cli import main
from voicebot_sync.read.settings import load_settings
from voicebot_sync.read.definitions import Definition
from voicebot_sync.errors import ValidationError
from voicebot_sync.core.plan import Plan

from conftest import KEY

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def invoke(runner, *args):
    result = runner.invoke(main, [str(a) for a in args])
    assert result.exception is None or isinstance(result.exception, SystemExit), result.exception
    assert "Traceback" not in result.output + result.stderr
    return result


def definition(name="Reminder", message="Hello [name], Riverside Clinic here. Press 9 to stop.", *, source=None,
               parameters=None, line=1, **fields):
    fields = {"name": name, "message": message, **fields}
    if parameters is not None:
        fields["parameters"] = parameters
    key_lines = {key: line + i for i, key in enumerate(fields)}
    return Definition(fields, source or f"workflows/{name.lower().replace(' ', '-')}.yaml", line, key_lines)


def ruleset(*entries, known=(), words_per_minute=None) -> rules.RuleSet:
    parsed, problems = rulefile.parse_rules(list(entries))
    assert problems == []
    speech = spoken.parse_speech(words_per_minute)
    return rules.RuleSet(parsed, frozenset({r.name for r in parsed} | set(known)), speech)


def found(defs, *entries, **kw) -> list[str]:
    return [f"{f.status} {f.level} {f.rule}: {f.message}" for f in rules.check(defs, ruleset(*entries, **kw))]


# -- each kind of rule ------------------------------------------------------------------


def test_message_must_match_searches_the_template_and_says_why():
    rule = {"name": "names-the-clinic", "level": "error", "message": "say who is calling",
            "message_must_match": "(?i)riverside clinic"}
    assert found([definition()], rule) == []
    (text,) = found([definition(message="Hello [name]. Press 9 to stop.")], rule)
    assert text == "broken error names-the-clinic: say who is calling (message does not match '(?i)riverside clinic')"


def test_message_must_not_match_sees_fixed_text_not_placeholders():
    rule = {"name": "no-dates", "level": "error", "message_must_not_match": [r"\b\d{1,2}/\d{1,2}\b", r"\+?\d[\d -]{6,}\d"]}
    assert found([definition(message="See you on [date]; call [phone].")], rule) == []
    (first, second) = found([definition(message="See you on 12/03; call 0803 123 4567.")], rule)
    assert "message contains '12/03', which matches" in first
    assert "message contains '0803 123 4567'" in second


def test_search_filled_looks_at_the_message_as_a_patient_hears_it_with_the_examples():
    rule = {"name": "names-the-clinic", "level": "error", "message_must_match": "(?i)riverside clinic",
            "search": "filled"}
    with_example = definition(message="Hello [name], [clinic] here.",
                              parameters={"clinic": {"example": "Riverside Clinic"}, "name": {"example": "Ada"}})
    assert found([with_example], rule) == []
    (text,) = found([definition(message="Hello [name], [clinic] here.", parameters={"clinic": {"example": "Mercy"}})],
                    rule)
    assert "the filled message does not match" in text
    # The template alone never holds the example: the default search would break the rule.
    assert found([with_example], {**rule, "search": "template"})
    no_phone = {"name": "no-phone", "level": "warning", "message_must_not_match": r"\d{4} \d{3}", "search": "filled"}
    (leak,) = found([definition(message="Call [phone].", parameters={"phone": {"example": "0803 123 4567"}})],
                    no_phone)
    assert "the filled message contains '0803 123'" in leak


def test_search_is_template_or_filled():
    problems = rulefile.parse_rules([{"name": "x", "level": "error", "message_must_match": "a", "search": "both"}])[1]
    assert problems and "search must be template or filled" in problems[0][1]


def test_max_filled_length_at_worst_when_bounded_else_with_examples():
    rule = {"name": "short", "level": "warning", "max_filled_length": 30}
    bounded = definition(message="Hello [name], see you.", parameters={"name": {"max_length": 20, "example": "Ada"}})
    assert found([bounded], rule) == ["broken warning short: message can be 36 characters with every placeholder "
                                      "at its max_length; this rule allows 30"]
    unbounded = definition(message="Hello [name], see you.", parameters={"name": {"example": "Ada"}})
    assert found([unbounded], rule) == []  # 18 characters with its example


def test_max_spoken_seconds_uses_the_worst_case_and_the_language_rate():
    words_12 = "one two three four five six seven eight nine ten eleven [name]"
    rule = {"name": "brief", "level": "error", "max_spoken_seconds": 5}
    d = definition(message=words_12, parameters={"name": {"max_length": 12, "example": "Ada"}})  # 11 + 2 words
    (text,) = found([d], rule)
    assert "message can take 5.2 s to say with every placeholder at its max_length, at 150 words a minute" in text
    yoruba = definition(message="one two three four five six seven eight nine ten", **{"x-language": "yo-NG"})
    assert found([yoruba], rule, words_per_minute={"yo": 100}) == [
        "broken error brief: message takes 6 s to say as written, at 100 words a minute; this rule allows 5 s"]
    assert found([yoruba], rule) == []  # 4 s at the default 150


def test_field_one_of_reads_defaults_and_labels():
    conversation = {"name": "yoruba-conversation", "level": "error", "field": "workflow_type", "one_of": ["CONVERSATION"]}
    (text,) = found([definition()], conversation)  # no workflow_type: the default ROBOCALL
    assert text.endswith("(workflow_type is 'ROBOCALL', not one of CONVERSATION)") or "not one of CONVERSATION" in text
    assert found([definition(workflow_type="CONVERSATION")], conversation) == []
    owner = {"name": "front-desk", "level": "warning", "field": "x-owner", "one_of": ["front-desk"]}
    assert found([definition(**{"x-owner": "Front-Desk"})], owner) == []  # letter case aside
    assert "x-owner is not set" in found([definition()], owner)[0]


# -- scopes -------------------------------------------------------------------------------


def test_applies_to_names_labels_and_paths():
    base = {"level": "error", "message_must_match": "never there"}
    defs = [definition("Appointment reminder", source="workflows/en/a.yaml"),
            definition("Lab results", source="workflows/yoruba/b.yaml", **{"x-language": "yo"}),
            definition("Refill reminder", source="workflows/yoruba/c.yaml", **{"x-language": "en"})]

    def hit(scope):
        return sorted({f.workflow for f in rules.check(defs, ruleset({"name": "r", **base, "applies_to": scope}))})

    assert hit({"names": ["*REMINDER*"]}) == ["Appointment reminder", "Refill reminder"]
    assert hit({"labels": {"x-language": "yo"}}) == ["Lab results"]
    assert hit({"labels": {"x-language": ["yo", "en"]}}) == ["Lab results", "Refill reminder"]
    assert hit({"paths": ["workflows/yoruba/*"]}) == ["Lab results", "Refill reminder"]
    assert hit({"paths": ["a.yaml"]}) == ["Appointment reminder"]  # a pattern without / matches the file name
    assert hit({"names": ["*reminder*"], "paths": ["*/yoruba/*"]}) == ["Refill reminder"]  # every kind must hold


# -- levels and waivers ---------------------------------------------------------------------


def test_only_a_broken_error_rule_raises_and_it_carries_every_finding():
    warning = {"name": "w", "level": "warning", "message_must_match": "absent"}
    error = {"name": "e", "level": "error", "message_must_match": "absent"}
    rules.raise_for_errors(rules.check([definition()], ruleset(warning)))  # a warning never blocks
    with pytest.raises(ValidationError) as caught:
        rules.raise_for_errors(rules.check([definition(line=4)], ruleset(warning, error)))
    (problem,) = caught.value.problems
    assert str(problem) == "workflows/reminder.yaml:5: rule e: message does not match 'absent'"
    assert sorted(f.rule for f in caught.value.findings) == ["e", "w"]


def test_a_waiver_turns_a_broken_rule_into_a_shown_waiver():
    rule = {"name": "no-phone-numbers", "level": "error", "message_must_not_match": r"\d{4} \d{3} \d{4}"}
    waived = definition(message="Call 0803 123 4567.", **{"x-waive": {"no-phone-numbers": "the public pharmacy line"}})
    (f,) = rules.check([waived], ruleset(rule))
    assert (f.status, f.level, f.reason) == ("waived", "error", "the public pharmacy line")
    assert f.line == waived.key_lines["x-waive"] and "it would say: message contains '0803 123 4567'" in f.text()
    rules.raise_for_errors([f])  # waived: no error
    not_broken = definition(**{"x-waive": {"no-phone-numbers": "just in case"}})
    assert rules.check([not_broken], ruleset(rule))[0].text().endswith("just in case (not broken now)")


def test_x_waive_of_an_unknown_rule_warns_and_a_waiver_needs_a_reason():
    rule = {"name": "known", "level": "error", "message_must_match": "Riverside"}
    (f,) = rules.check([definition(**{"x-waive": {"knwon": "typo"}})], ruleset(rule))
    assert (f.level, f.status) == ("warning", "broken") and "x-waive names 'knwon', which is not a rule" in f.message
    # A rule of another environment is known: waiving it is no typo.
    assert rules.check([definition(**{"x-waive": {"prod-only": "x"}})], ruleset(rule, known=["prod-only"])) == []
    (f,) = rules.check([definition(**{"x-waive": {"known": " "}})], ruleset(rule))
    assert f.level == "error" and "needs a reason" in f.message
    (f,) = rules.check([definition(**{"x-waive": ["known"]})], ruleset(rule))
    assert f.level == "error" and "x-waive must map rule names to reasons" in f.message


# -- spoken length ----------------------------------------------------------------------------


def test_words_numbers_and_punctuation_as_they_are_said():
    assert spoken.count_words("Hello, Ada! — see you.") == 4
    assert spoken.count_words("0803 123 4567") == 6 and spoken.count_words("2026") == 2
    assert spoken.count_words("Ẹ n lẹ, Tẹ 9") == 5  # diacritics stay inside their word
    started = time.perf_counter()  # linear: no text makes counting slow
    assert spoken.count_words("1" * 200_000 + " a" * 1000) == 101_000
    assert time.perf_counter() - started < 0.5


def test_estimate_with_examples_and_at_worst():
    est = spoken.estimate("Hello [name], see you [day].", {"name": {"example": "Ada Obi", "max_length": 30},
                                                            "day": {"max_length": 12}})
    # 3 fixed words; examples: 2 + 1 (no example) -> 6 words; worst: 5 + 2 -> 10 words at 150 a minute.
    assert (est.seconds, est.worst, est.missing, est.after_seconds) == (2.4, 4.0, ("day",), 4.0)
    assert spoken.estimate("Hello [name].").worst is None
    rates = spoken.parse_speech({"default": 120, "YO": 100})
    assert (rates.rate(None), rates.rate("yo-NG"), rates.rate("ha")) == (120, 100, 120)
    assert spoken.describe(est) == "about 2.4 s to say (at most 4 s with every placeholder at its max_length), at 150 words a minute"


# -- hostile rule files ------------------------------------------------------------------------


@pytest.mark.parametrize("pattern", [r"(a+)+$", r"(a|aa)+$", r"(\w+\s?)*$", r"(.*a){12}", r"(a)\1", r"(?P<x>a)(?P=x)",
                                     r".*.*=.*", r"\s*\s*x", r"(?:a?){25}a{25}", r"\d+\d+\d+", "[", "x" * 301])
def test_patterns_that_could_hang_or_do_not_compile_are_refused(pattern):
    with pytest.raises(saferegex.UnsafePattern):
        saferegex.compile_safe(pattern)


def test_accepted_patterns_finish_fast_on_the_worst_text():
    # At the work bound: one unbounded repeat and a choice of ten, on a text that makes them all fail.
    worst = [(r"\s*\s{0,9}x", " " * 2000), (r"(?i)riverside.*clinic", "riverside " * 200), (r"\+?\d[\d -]{6,}\d$", "1 " * 1000)]
    for pattern, text in worst:
        compiled = saferegex.compile_safe(pattern)
        started = time.perf_counter()
        saferegex.search(compiled, text)
        assert time.perf_counter() - started < 0.5, pattern


HOSTILE = """\
rules:
  - name: hang
    level: error
    message_must_match: "(a+)+$"
  - name: typo
    levl: error
    message_must_match: x
  - name: types
    level: fatal
    max_filled_length: "300"
    max_spoken_seconds: -1
    field: workflow_type
  - just a string
  - name: scope
    level: warning
    message_must_not_match: ["ok", 3]
    applies_to: {names: "x*", labels: {language: yo}, files: [a]}
  - name: hang
    level: warning
    message_must_match: ok
environments:
  prod:
    rules: {name: x}
    words_per_minute: {yo: 1000}
"""


def test_a_hostile_rule_file_is_one_clear_line_per_problem_naming_the_rule(runner, tmp_path):
    (tmp_path / "rules.yaml").write_text(HOSTILE)
    (tmp_path / "workflows").mkdir()
    started = time.perf_counter()
    result = invoke(runner, "validate", "--config", tmp_path / "rules.yaml", tmp_path / "workflows")
    assert time.perf_counter() - started < 2
    assert result.exit_code == 1 and result.stdout == ""
    lines = result.stderr.splitlines()
    expected = [
        "rules.yaml:4: rule hang: message_must_match pattern '(a+)+$' nests a repeat inside a repeated group",
        "rules.yaml:6: rule typo: unknown key 'levl' (did you mean 'level'?)",
        "rules.yaml:5: rule typo: needs a level: error or warning",
        "rules.yaml:9: rule types: level must be error or warning, not 'fatal'",
        "rules.yaml:10: rule types: max_filled_length must be a whole number",
        "rules.yaml:11: rule types: max_spoken_seconds must be a number of seconds above 0",
        "rules.yaml:12: rule types: field and one_of go together",
        "rules.yaml:13: rules[3]: a rule must be a mapping",
        "rules.yaml:16: rule scope: message_must_not_match pattern must be text",
        "rules.yaml:17: rule scope: applies_to: unknown key 'files'",
        "rules.yaml:17: rule scope: applies_to.labels: 'language' must be an x- key",
        "rules.yaml:18: rule hang: a second rule has this name",
        "rules.yaml:23: environments.prod: rules must be a list of rules",
        "rules.yaml:24: environments.prod: words_per_minute.yo must be a number of words per minute from 40 to 400",
    ]
    for text in expected:
        assert any(line.endswith(text) or text in line for line in lines), (text, lines)
    assert lines[-1] == f"error: {len(expected)} validation problems found"


def test_the_schema_and_the_rules_agree_on_a_good_rule_file():
    from voicebot_sync.read.configfile import load_config_file

    for name in sorted(os.listdir(os.path.join(ROOT, "examples", "rules"))):
        data = load_config_file(os.path.join(ROOT, "examples", "rules", name))
        book = rulefile.from_config(data)
        assert book.top and all(r.level in ("error", "warning") for r in book.top), name


# -- the commands ---------------------------------------------------------------------------------

CLINIC = """\
words_per_minute: {default: 150, yo: 130}
rules:
  - name: names-the-clinic
    level: error
    message: every call must say which clinic is calling
    message_must_match: '(?i)riverside clinic'
  - name: says-how-to-opt-out
    level: warning
    message: tell patients how to stop these calls
    message_must_match: '(?i)press 9|tẹ 9'
  - name: no-phone-numbers
    level: error
    message_must_not_match: '\\+?\\d[\\d -]{6,}\\d'
  - name: yoruba-is-conversation
    level: error
    field: workflow_type
    one_of: [CONVERSATION]
    applies_to: {labels: {x-language: yo}}
"""


@pytest.fixture
def clinic(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "voicebot-sync.yaml").write_text(CLINIC, encoding="utf-8")
    d = tmp_path / "workflows"
    d.mkdir()
    (d / "reminder.yaml").write_text(textwrap.dedent("""\
        name: Appointment reminder
        message: Hello [name], Riverside Clinic here. See you on [date]. Press 9 to stop these calls.
        parameters:
          name: {max_length: 40, example: Ada}
          date: {max_length: 30, example: Monday 3 March}
        """), encoding="utf-8")
    (d / "pharmacy.yaml").write_text(textwrap.dedent("""\
        name: Prescription ready
        message: Your prescription is ready at Riverside Clinic. Questions? Call 0803 123 4567.
        x-waive:
          no-phone-numbers: the pharmacy line is public
        """), encoding="utf-8")
    return tmp_path


def break_a_rule(repo):
    (repo / "workflows" / "yoruba.yaml").write_text(
        "name: Ìránnilétí\nx-language: yo\nmessage: Ẹ n lẹ, Riverside Clinic ni. Tẹ 9.\n", encoding="utf-8")


def test_validate_blocks_on_an_error_rule_and_shows_warnings_and_waivers(runner, clinic):
    result = invoke(runner, "validate")
    assert result.exit_code == 0, result.stderr
    assert "Rule warning: workflows/pharmacy.yaml:2: rule says-how-to-opt-out: tell patients how to stop" in result.stderr
    assert "Rule waived: workflows/pharmacy.yaml:3: rule no-phone-numbers waived for \"Prescription ready\": " \
           "the pharmacy line is public (it would say: message contains '0803 123 4567'" in result.stderr
    document = json.loads(invoke(runner, "validate", "--format", "json").stdout)
    assert [(f["rule"], f["status"]) for f in document["rules"]] == [("says-how-to-opt-out", "broken"),
                                                                     ("no-phone-numbers", "waived")]
    break_a_rule(clinic)
    result = invoke(runner, "validate")
    assert result.exit_code == 1
    assert ("workflows/yoruba.yaml:1: rule yoruba-is-conversation: workflow_type is 'ROBOCALL', not one of "
            "CONVERSATION\n") in result.stderr
    assert "Rule waived: workflows/pharmacy.yaml:3" in result.stderr  # the rest is still shown


def test_an_environment_adds_rules_and_replaces_one_of_the_same_name(clinic):
    with open("voicebot-sync.yaml", "a", encoding="utf-8") as fh:
        fh.write("environments:\n  staging:\n    rules:\n      - name: names-the-clinic\n        level: warning\n"
                 "        message_must_match: Riverside\n      - name: staging-only\n        level: warning\n"
                 "        max_spoken_seconds: 1\n")
    book = load_settings({}, {}, str(clinic)).rules
    top, staging = book.select(None), book.select("staging")
    assert [r.name for r in top.rules] == ["names-the-clinic", "says-how-to-opt-out", "no-phone-numbers",
                                           "yoruba-is-conversation"]
    assert {r.name: r.level for r in staging.rules}["names-the-clinic"] == "warning"
    assert "staging-only" in {r.name for r in staging.rules} and "staging-only" in top.known
    assert top.speech.rate("yo") == 130


def test_plan_and_apply_stop_before_any_request_on_an_error_rule(runner, clinic, api, emulator):
    break_a_rule(clinic)
    for command in (["plan"], ["apply", "--yes"]):
        result = invoke(runner, *command)
        assert result.exit_code == 1 and "rule yoruba-is-conversation:" in result.stderr
    assert emulator.stats["requests"] == 0 and emulator.workflows == []


def test_the_plan_carries_warnings_waivers_and_spoken_seconds(runner, clinic, api, emulator):
    emulator.add_workflow(name="Prescription ready", message="old text")
    text = invoke(runner, "plan").stdout
    assert "Rule waived: workflows/pharmacy.yaml:3: rule no-phone-numbers waived" in text
    assert "Rule warning: workflows/pharmacy.yaml:2: rule says-how-to-opt-out" in text
    assert "      # about 6.8 s to say (at most 10 s with every placeholder at its max_length), at 150 words a minute" in text
    assert "      # about 6 s to say, at 150 words a minute" in text  # no placeholders: one number

    result = invoke(runner, "plan", "--format", "json", "--out", clinic / "plan.json")
    document = json.loads(result.stdout)
    assert document["format_version"] == 1
    spoken_seconds = {c["name"]: (c["action"], c["after_spoken_seconds"]) for c in document["changes"]}
    assert spoken_seconds == {"Appointment reminder": ("create", 10.0), "Prescription ready": ("update", 6.0)}
    assert [(f["rule"], f["level"], f["status"], f["reason"]) for f in document["rules"]] == [
        ("says-how-to-opt-out", "warning", "broken", None),
        ("no-phone-numbers", "error", "waived", "the pharmacy line is public")]
    saved = Plan.load(str(clinic / "plan.json"))  # the saved plan passes its schema and keeps both
    assert saved.to_json()["rules"] == document["rules"]
    assert [c.after_spoken_seconds for c in saved.changes] == [10.0, 6.0]

    markdown = invoke(runner, "plan", "--format", "markdown").stdout
    assert "**Team rules** (1 broken, 1 waived):" in markdown
    assert "message contains &#x27;0803 123 4567&#x27;" in markdown and "&&#35;" not in markdown  # quotes stay quotes
    assert re.search(r"- waived `no-phone-numbers` for \*\*Prescription ready\*\* \(`workflows/pharmacy.yaml:3`\): "
                     r"the pharmacy line is public\. It would say: ", markdown)
    assert re.search(r"Longest length \(every placeholder at its `max_length`\): \d+ of 1000 characters\. "
                     r"About 6&#46;8 s to say \(at most 10 s", markdown)  # beside the character count


def test_render_says_how_long_the_message_takes(runner, clinic):
    result = invoke(runner, "render", "workflows/reminder.yaml", "--set", "date=Friday")
    assert result.exit_code == 0
    assert "-- about 6 s to say, at 150 words a minute (at most 10 s with every placeholder at its max_length)" \
        in result.stderr


def test_the_pr_comment_lists_rules_and_spoken_length(runner, clinic, api):
    from voicebot_sync.commands.plan import plan as make
    from voicebot_sync.github.comment import comment_body

    settings = load_settings({"api_url": api, "api_key": KEY, "rate_limit": "off"}, {}, str(clinic))
    body = comment_body(make(settings), "<!-- voicebot-sync-plan:default:workflows -->")
    assert "**Team rules** (1 broken, 1 waived):" in body
    assert "warning `says-how-to-opt-out` on **Prescription ready**" in body
    assert "waived `no-phone-numbers` for **Prescription ready**" in body
    assert "About 6&#46;8 s to say (at most 10 s with every placeholder at its max&#95;length), at 150 words a minute." in body


def test_the_pre_commit_hook_runs_validate_so_it_checks_rules():
    hooks = open(os.path.join(ROOT, ".pre-commit-hooks.yaml"), encoding="utf-8").read()
    assert "entry: voicebot-sync validate" in hooks and "voicebot-sync\\.ya?ml" in hooks


# -- the Action -------------------------------------------------------------------------------------


def test_the_action_fails_on_an_error_rule_before_any_request_and_lists_every_rule(clinic, github, api_url):
    from test_github_action import inputs_for, pr_event, run_action

    url, emulator = api_url
    gh_url, fake = github
    break_a_rule(clinic)
    code, log, outputs, summary = run_action(clinic, inputs_for(url), event=pr_event(), github_api=gh_url)
    assert code == 1 and outputs["exit-code"] == "1"
    assert emulator.stats["requests"] == 0
    assert "::error file=workflows/yoruba.yaml,line=1::rule yoruba-is-conversation:" in log
    assert "::warning file=workflows/pharmacy.yaml,line=2::rule says-how-to-opt-out:" in log
    body = fake.comments[7][0]["body"]
    for text in (summary, body):
        assert "rule yoruba-is-conversation: workflow_type is" in text  # the broken error
        assert "warning `says-how-to-opt-out` on **Prescription ready**" in text
        assert "waived `no-phone-numbers` for **Prescription ready**" in text


def test_the_action_passes_with_warnings_and_shows_them(clinic, github, api_url):
    from test_github_action import inputs_for, pr_event, run_action

    url, _ = api_url
    gh_url, fake = github
    code, log, outputs, summary = run_action(clinic, inputs_for(url), event=pr_event(), github_api=gh_url)
    assert code == 0, log
    assert "::warning file=workflows/pharmacy.yaml,line=2::rule says-how-to-opt-out:" in log
    body = fake.comments[7][0]["body"]
    for text in (summary, body):
        assert "**Team rules** (1 broken, 1 waived):" in text
    plan = json.load(open(outputs["plan-file"]))
    assert {c["name"]: c["after_spoken_seconds"] for c in plan["changes"]} == {"Appointment reminder": 10.0,
                                                                              "Prescription ready": 6.0}


def test_the_validate_step_lists_warnings_and_waivers(clinic):
    from test_github_action import run_action

    code, log, outputs, summary = run_action(clinic, {"command": "validate"})
    assert code == 0 and outputs["exit-code"] == "0"
    assert "::warning file=workflows/pharmacy.yaml,line=2::rule says-how-to-opt-out:" in log
    assert "2 definitions in 2 files: valid." in summary and "**Team rules** (1 broken, 1 waived):" in summary
    break_a_rule(clinic)
    code, log, outputs, summary = run_action(clinic, {"command": "validate"})
    assert code == 1 and "::error file=workflows/yoruba.yaml,line=1::rule yoruba-is-conversation:" in log
    assert "waived `no-phone-numbers` for **Prescription ready**" in summary


@pytest.fixture
def github():
    from fake_github import FakeGitHub, serving

    from test_github_action import TOKEN

    fake = FakeGitHub(TOKEN)
    with serving(fake) as url:
        yield url, fake


@pytest.fixture
def api_url():
    from voicebot_sync.emulator import Emulator, running

    emulator = Emulator(api_keys=[KEY])
    with running(emulator) as url:
        yield url, emulator


# -- the docs never lie ---------------------------------------------------------------------------------


def test_the_docs_clinic_example_is_what_the_tool_says(runner, tmp_path, monkeypatch):
    import yaml

    text = open(os.path.join(ROOT, "docs", "rules.md"), encoding="utf-8").read()
    blocks = re.findall(r"```yaml\n(.*?)```", text, re.S)
    config = blocks[0]
    example = yaml.safe_load(open(os.path.join(ROOT, "examples", "rules", "clinic.yaml"), encoding="utf-8"))
    assert yaml.safe_load(config) == example  # the docs show the example rule set as shipped
    monkeypatch.chdir(tmp_path)
    (tmp_path / "voicebot-sync.yaml").write_text(config, encoding="utf-8")
    (tmp_path / "workflows").mkdir()
    for block in blocks[1:]:
        first, _, body = block.partition("\n")
        if first.startswith("# workflows/"):
            (tmp_path / first[2:]).write_text(body, encoding="utf-8")
    console = re.findall(r"```console\n\$ voicebot-sync validate\n(.*?)\n(?:\$|```)", text, re.S)[0]
    result = invoke(runner, "validate")
    assert result.exit_code == 1
    assert result.stderr.splitlines() == console.splitlines()
