"""Definition files: every problem, located as FILE:LINE; templates; examples."""

import pytest

from voicebot_sync.read.definitions import load_definitions, load_file
from voicebot_sync.errors import ValidationError
from voicebot_sync.core.model import Scope
from voicebot_sync.core.template import check, fixed_length, max_filled_length, placeholders, render


def problems_of(*paths, **kw):
    with pytest.raises(ValidationError) as info:
        load_definitions([str(p) for p in paths], **kw)
    return [str(p) for p in info.value.problems]


def rel(path):
    from voicebot_sync.read.definitions import display_path

    return display_path(path)


# -- templates -------------------------------------------------------------------


def test_placeholders_in_order_of_first_use():
    assert placeholders("Hi [name], [date] at [time]; bye [name]") == ["name", "date", "time"]
    assert placeholders("no [1bad] [ok_1] [with space]") == ["ok_1"]


def test_fixed_length_exactly_at_and_past_the_limit():
    assert check("x" * 1000, None) == []
    # The raw template counts too (the emulator, like a careful server, checks it at create).
    assert check("x" * 994 + "[name]", None) == []
    assert any("1006" in p for p in check("x" * 1000 + "[name]", None))
    assert check("x" * 1001, None) == ["message is 1001 characters without its placeholders; the limit is 1000"]


def test_worst_case_counts_each_occurrence():
    params = {"name": {"max_length": 10}}
    assert fixed_length("[name][name]" + "x" * 980) == 980
    assert max_filled_length("[name][name]" + "x" * 980, params) == 1000
    assert check("[name][name]" + "x" * 980, params) == []
    assert "can be 1001 characters" in check("[name][name]" + "x" * 981, params)[0]


def test_worst_case_needs_every_max_length():
    assert max_filled_length("[a] [b]", {"a": {"max_length": 5}, "b": {}}) is None
    assert check("[a]" + "x" * 997, {"a": {"description": "no bound"}}) == []


def test_placeholders_and_parameters_must_agree():
    assert check("Hi [name] [date]", {"name": {}, "unused": {}}) == [
        "placeholder [date] not declared in parameters",
        "parameter 'unused' declared but not used in message",
    ]
    assert check("Hi [anything]", None) == []  # without parameters nothing is declared, nothing checked


def test_render_fills_and_names_what_is_missing():
    assert render("Hi [name], [date]", {"name": "Ada", "date": "Monday"}) == "Hi Ada, Monday"
    with pytest.raises(ValueError, match=r"no value for \[date\]"):
        render("Hi [name], [date]", {"name": "Ada"})


# -- files -----------------------------------------------------------------------


def test_examples_are_valid():
    definitions = load_definitions(["examples/workflows"])
    assert len(definitions) >= 6
    assert {d.desired()["workflow_type"] for d in definitions} == {"ROBOCALL", "CONVERSATION"}
    assert any("\n" in d.desired()["message"] for d in definitions)


def test_every_problem_of_every_file_is_reported_with_its_line(tmp_path):
    (tmp_path / "a.yaml").write_text("name: A\nmessage: hi\nworkflow_type: robocall\nmesage: typo\n")
    (tmp_path / "b.yml").write_text("# comment\nname: B\n")
    (tmp_path / "c.yaml").write_text("name: C\nmessage: [unclosed\n")
    (tmp_path / "d.yaml").write_text("- just\n- a list\n")
    found = problems_of(tmp_path)
    assert found == [
        f"{rel(tmp_path / 'a.yaml')}:3: workflow_type: \"robocall\" is not one of ROBOCALL, CONVERSATION",
        f"{rel(tmp_path / 'a.yaml')}:4: unknown key 'mesage' (did you mean 'message'?)",
        f"{rel(tmp_path / 'b.yml')}:2: missing required key 'message'",
        # Where the bracket opens, not where the parser gave up (issue 18).
        f"{rel(tmp_path / 'c.yaml')}:2: YAML syntax error: the [ list that opens on this line is not closed "
        "(did not find expected ',' or ']' on line 3)",
        f"{rel(tmp_path / 'd.yaml')}:1: a definition must be a mapping of keys, not a list",
    ]


def test_nested_errors_point_at_the_nested_line(tmp_path):
    (tmp_path / "a.yaml").write_text(
        "name: A\nmessage: Hi [name]\nparameters:\n  name:\n    max_length: ten\nresponse_options:\n  one: Yes\n"
    )
    found = problems_of(tmp_path)
    assert any(":5: parameters.name.max_length:" in p for p in found)
    assert any(":7: response_options: key 'one' is not allowed here" in p for p in found)
    assert any(":7: response_options.one: is the boolean true, not text" in p for p in found)


def test_template_problems_point_at_the_message_line(tmp_path):
    (tmp_path / "a.yaml").write_text("name: A\ndescription: d\nmessage: Hi [name] [date]\nparameters:\n  name: {}\n")
    assert problems_of(tmp_path) == [f"{rel(tmp_path / 'a.yaml')}:3: placeholder [date] not declared in parameters"]


def test_multi_document_files_and_duplicate_names_and_ids_across_files(tmp_path):
    (tmp_path / "a.yaml").write_text("name: A\nmessage: one\n---\nname: B\nmessage: two\nid: x1\n")
    (tmp_path / "b.yaml").write_text("name: A\nmessage: three\n---\nname: C\nmessage: four\nid: x1\n")
    found = problems_of(tmp_path)
    assert f"{rel(tmp_path / 'b.yaml')}:1: duplicate name 'A': also defined at {rel(tmp_path / 'a.yaml')}:1" in found
    assert any("duplicate id x1" in p and "b.yaml:6" in p for p in found)


def test_empty_documents_and_x_keys_are_fine(tmp_path):
    (tmp_path / "a.yaml").write_text("---\n---\nname: A\nmessage: hi\nx-owner: me\nx-tags: [a, b]\n---\n")
    (d,) = load_definitions([str(tmp_path)])
    assert d.desired() == {"name": "A", "description": "", "workflow_type": "ROBOCALL", "message": "hi"}
    assert d.line == 3


def test_environment_overrides_apply_only_when_selected(tmp_path):
    (tmp_path / "a.yaml").write_text(
        "name: A\nmessage: Production wording\nenvironments:\n  staging:\n    message: Staging wording\n"
        "    call_back_url: https://staging.example/cb\n"
    )
    assert load_definitions([str(tmp_path)])[0].desired()["message"] == "Production wording"
    staged = load_definitions([str(tmp_path)], env="staging")[0].desired()
    assert staged["message"] == "Staging wording" and staged["call_back_url"] == "https://staging.example/cb"
    assert "call_back_url" not in load_definitions([str(tmp_path)], env="production")[0].desired()


def test_environment_blocks_are_validated_and_cannot_rename(tmp_path):
    (tmp_path / "a.yaml").write_text("name: A\nmessage: hi\nenvironments:\n  staging:\n    name: B\n")
    assert any(":5: environments.staging: unknown key 'name'" in p for p in problems_of(tmp_path))


def test_definition_outside_the_ownership_scope_is_an_error(tmp_path):
    (tmp_path / "a.yaml").write_text("name: team-a/x\nmessage: hi\n---\nname: other\nmessage: hi\n")
    found = problems_of(tmp_path, scope=Scope(prefix="team-a/"))
    assert found == [f"{rel(tmp_path / 'a.yaml')}:4: 'other' is outside this repo's ownership scope (names starting with 'team-a/')"]


def test_missing_path_is_a_problem(tmp_path):
    assert problems_of(tmp_path / "nope") == [f"{tmp_path / 'nope'}:0: no such file or directory"]


def test_duplicate_keys_in_one_document_are_an_error(tmp_path):
    (tmp_path / "a.yaml").write_text("name: A\nmessage: one\nmessage: two\n")
    assert problems_of(tmp_path) == [f"{rel(tmp_path / 'a.yaml')}:3: duplicate key 'message'"]


def test_key_lines_are_recorded(tmp_path):
    (tmp_path / "a.yaml").write_text("# head\nname: A\ndescription: d\nmessage: hi\n")
    (d,), problems = load_file(tmp_path / "a.yaml")
    assert problems == [] and d.key_lines == {"name": 2, "description": 3, "message": 4} and d.line == 2
