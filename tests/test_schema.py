"""read/schema.py: the compiled schema check (the fast path) agrees with jsonschema, and is unsure
rather than wrong."""

import datetime
import json
import os
from importlib.resources import files
import jsonschema
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from voicebot_sync.read import schema as schemacheck, yamlfile
from voicebot_sync.read.definitions import load_definitions
from voicebot_sync.errors import ValidationError
from conftest import PROPERTY_EXAMPLES


RULES = yamlfile.Rules(aliases_in="tests", document="a test file", number_keys=True)


def schema(name: str) -> dict:
    return json.loads(files("voicebot_sync").joinpath("schemas", f"{name}.schema.json").read_text(encoding="utf-8"))


WORKFLOW = schemacheck.Schema(schema("workflow"))


CONFIG = schemacheck.Schema(schema("config"))


PLAN = schemacheck.Schema(schema("plan"))


VALIDATORS = {id(s): jsonschema.Draft202012Validator(s.schema) for s in (WORKFLOW, CONFIG, PLAN)}


def certainly(schema_: schemacheck.Schema, document) -> None:
    """The property: the fast path never accepts what jsonschema rejects."""
    if schema_.passes(document):
        errors = list(VALIDATORS[id(schema_)].iter_errors(document))
        assert not errors, (document, [e.message for e in errors])


def test_the_fast_path_accepts_ordinary_valid_documents():
    examples = 0
    for name in sorted(os.listdir("examples/workflows")):
        with open(os.path.join("examples/workflows", name), encoding="utf-8") as fh:
            for doc in yamlfile.documents(fh.read(), RULES):
                assert WORKFLOW.passes(doc.data), name
                assert WORKFLOW.errors(doc.data) == []
                examples += 1
    assert examples >= 2
    plain = {"name": "A", "description": "d", "workflow_type": "ROBOCALL", "message": "Hello [name]\n",
             "parameters": {"name": {"description": "who", "max_length": 20, "example": "Ada"}},
             "include_reply": True, "response_options": {"1": "Yes"}, "call_back_url": "https://x.example/cb",
             "x-owner": ["team"], "environments": {"staging": {"message": "Hi", "description": None}}}
    assert WORKFLOW.passes(plain)
    assert CONFIG.passes({"api_url": "local", "rate_limit": "6/1m", "prune": False, "max_retries": 3,
                          "timeout": 30, "owns": {"prefix": "p", "names": ["a", "b"]},
                          "environments": {"prod": {"api_key_env": "VOICEBOT_PROD_KEY"}}})


def test_the_fast_path_is_unsure_rather_than_wrong():
    # jsonschema's integer accepts 1.0; the fast path leaves such cases to it.
    assert not WORKFLOW.passes({"name": "A", "message": "m", "parameters": {"p": {"max_length": 3.0}}})
    assert WORKFLOW.errors({"name": "A", "message": "m", "parameters": {"p": {"max_length": 3.0}}}) == []
    # oneOf is not compiled: a config using it is explained by jsonschema (and passes).
    assert not CONFIG.passes({"workflows_dir": "defs"}) and CONFIG.errors({"workflows_dir": "defs"}) == []
    # Values YAML builds that JSON has no name for.
    assert not WORKFLOW.passes({"name": datetime.date(2024, 1, 1), "message": "m"})
    assert WORKFLOW.passes({"name": "A", "message": "m", "x-when": datetime.date(2024, 1, 1)})
    assert WORKFLOW.errors({"name": "A", "message": "m", "x-when": datetime.date(2024, 1, 1)}) == []


def test_messages_are_the_same_with_the_fast_path(tmp_path):
    """A failing document is explained by jsonschema exactly as before: the fast path only skips valid ones."""
    (tmp_path / "a.yaml").write_text("name: A\nmesage: hi\n")
    (tmp_path / "b.yaml").write_text("name: B\nmessage: hi\nworkflow_type: robocall\n")
    with pytest.raises(ValidationError) as info:
        load_definitions([str(tmp_path)])
    found = [p.message for p in info.value.problems]
    assert "unknown key 'mesage' (did you mean 'message'?)" in found
    assert 'workflow_type: "robocall" is not one of ROBOCALL, CONVERSATION' in found


_text = st.one_of(
    st.text(max_size=12),
    st.sampled_from(["", " ", "A", "ROBOCALL", "CONVERSATION", "robocall", "Hello [name]", "line\nbreak", "tab\there",
                     "bell\x07", "rtl\u202eevil", "zw\u200bsp", "https://x.example/cb", "http://a b", "ftp://x",
                     "1", "12", "a1", "_p", "1p", "x-", "x-meta", "VOICEBOT_KEY", "lower_key", "6/1m", "off", "30%",
                     "100%", "101%", "local", "https://h.example/v1", "staging", "-bad", "a" * 300]),
)


_scalar = st.one_of(st.none(), st.booleans(), st.integers(-3, 3000), st.floats(allow_nan=True, allow_infinity=True),
                    _text, st.just(datetime.date(2024, 1, 2)), st.just(b"bin"))


_KEYS = ["name", "id", "description", "workflow_type", "message", "parameters", "include_reply", "response_options",
         "call_back_url", "environments", "x-note", "mesage", "staging", "p", "max_length", "example", "1", "2",
         "workflows_dir", "api_url", "api_key_env", "rate_limit", "prune", "guards", "owns", "max_retries", "timeout",
         "settle_time", "max_delete_share", "max_update_share", "min_existing", "prefix", "names", "production",
         "version", "changes", "summary"]


_key = st.one_of(st.sampled_from(_KEYS), _text, st.integers(0, 9))


_value = st.recursive(_scalar, lambda inner: st.one_of(
    st.lists(inner, max_size=4), st.dictionaries(_key, inner, max_size=5)), max_leaves=12)


def _near(keys: list[str]) -> st.SearchStrategy:
    """Mappings mostly of the schema's own keys, with plausible and implausible values."""
    return st.dictionaries(st.one_of(st.sampled_from(keys), _key), _value, max_size=8)


_good_text = st.text(st.characters(blacklist_categories=("Cc", "Cf", "Cs", "Zl", "Zp")), min_size=1, max_size=20)


_GOOD = {
    "name": _good_text, "message": _good_text, "description": st.one_of(st.none(), _good_text),
    "workflow_type": st.sampled_from(["ROBOCALL", "CONVERSATION"]), "id": _good_text, "include_reply": st.booleans(),
    "call_back_url": st.sampled_from(["https://x.example/cb", "http://127.0.0.1:9/x?y=1"]),
    "response_options": st.dictionaries(st.sampled_from(["1", "2", "9"]), _good_text, max_size=3),
    "parameters": st.dictionaries(st.from_regex(r"\A[A-Za-z_][A-Za-z0-9_]{0,8}\Z"), st.fixed_dictionaries({}, optional={
        "description": _good_text, "max_length": st.integers(0, 50), "example": st.one_of(_good_text, st.integers())}),
        max_size=3),
    "x-meta": _value,
}


@st.composite
def valid_workflows(draw):
    """Workflow definitions that pass the schema (jsonschema is asked, below, to be sure)."""
    doc = {"name": draw(_GOOD["name"]), "message": draw(_GOOD["message"])}
    for key in sorted(_GOOD):
        if key not in doc and draw(st.booleans()):
            doc[key] = draw(_GOOD[key])
    if draw(st.booleans()):
        doc["environments"] = {"staging": {k: draw(_GOOD[k]) for k in ("message", "description", "workflow_type")
                                           if draw(st.booleans())}}
    return doc


@st.composite
def workflow_documents(draw):
    """Workflow definitions, valid or broken in one or more places."""
    doc = draw(valid_workflows()) if draw(st.booleans()) else {"name": draw(_text), "message": draw(_text)}
    for key, values in (("description", st.one_of(st.none(), _text)),
                        ("workflow_type", st.sampled_from(["ROBOCALL", "CONVERSATION", "robocall", 1])),
                        ("id", _text), ("include_reply", st.one_of(st.booleans(), st.integers(0, 1))),
                        ("call_back_url", _text),
                        ("response_options", st.dictionaries(st.one_of(_text, st.integers(0, 9)), _scalar, max_size=3)),
                        ("parameters", st.dictionaries(_text, st.one_of(
                            st.fixed_dictionaries({}, optional={"description": _scalar,
                                                                "max_length": st.one_of(st.integers(-2, 50), st.floats(0, 5)),
                                                                "example": _scalar}), _value), max_size=3)),
                        ("environments", st.dictionaries(_text, st.one_of(_near(_KEYS[:10]), _value), max_size=2)),
                        ("x-meta", _value)):
        if draw(st.integers(0, 4)) == 0:
            doc[key] = draw(values)
    if draw(st.integers(0, 3)) == 0:
        doc[draw(_key)] = draw(_value)
    if draw(st.integers(0, 6)) == 0:
        doc.pop(draw(st.sampled_from(["name", "message"])), None)
    return doc


# 150 a run (each CI run draws new ones); deeper on demand: VOICEBOT_PROPERTY_EXAMPLES=2000 pytest -k fast_path
FUZZ = settings(max_examples=PROPERTY_EXAMPLES or 150, deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])


@FUZZ
@given(workflow_documents())
def test_fast_path_never_accepts_what_jsonschema_rejects_workflows(document):
    certainly(WORKFLOW, document)


@FUZZ
@given(st.one_of(_value, _near(_KEYS)))
def test_fast_path_never_accepts_what_jsonschema_rejects_anything(document):
    certainly(WORKFLOW, document)
    certainly(CONFIG, document)
    certainly(PLAN, document)


@st.composite
def config_documents(draw):
    section = {}
    for key, values in (("api_url", _text), ("api_key_env", _text), ("rate_limit", _text),
                        ("prune", st.one_of(st.booleans(), _text)), ("max_retries", st.one_of(st.integers(-1, 30), _scalar)),
                        ("timeout", st.one_of(st.floats(-1, 4000), st.integers(-1, 4000), _scalar)),
                        ("settle_time", st.one_of(st.floats(-1, 700), _scalar)),
                        ("owns", st.one_of(st.fixed_dictionaries({}, optional={
                            "prefix": _text, "names": st.lists(st.one_of(_text, _scalar), max_size=3)}), _value)),
                        ("guards", st.fixed_dictionaries({}, optional={
                            "min_existing": st.one_of(st.integers(-1, 20), _scalar),
                            "max_delete_share": st.one_of(st.floats(-1, 2), _text)}))):
        if draw(st.booleans()):
            section[key] = draw(values)
    if draw(st.booleans()):
        section["environments"] = draw(st.dictionaries(_text, st.one_of(_near(_KEYS[18:]), _value), max_size=2))
    return section


@FUZZ
@given(config_documents())
def test_fast_path_never_accepts_what_jsonschema_rejects_config(document):
    certainly(CONFIG, document)


@FUZZ
@given(valid_workflows())
def test_valid_workflows_take_the_fast_path(document):
    """The property tests above are not vacuous: a valid definition (with text keys) takes the fast path."""
    assert not list(VALIDATORS[id(WORKFLOW)].iter_errors(document)), document
    assert WORKFLOW.passes(document), document


def test_the_fuzzing_reaches_both_sides():
    verdicts = []

    @settings(max_examples=300, deadline=None, suppress_health_check=list(HealthCheck), derandomize=True)
    @given(workflow_documents())
    def count(document):
        verdicts.append(WORKFLOW.passes(document))

    count()
    assert sum(verdicts) >= 20 and verdicts.count(False) >= 20, sum(verdicts)


def test_valid_definitions_skip_the_text_check_only_because_the_schema_covers_it():
    """definitions skips the character-by-character check after a fast pass when the schema's text
    patterns refuse every character that check reports: its list of them is the complete one."""
    from voicebot_sync.read import definitions
    from voicebot_sync.text.escaping import unsafe_characters

    everything = "".join(map(chr, range(0xD800))) + "".join(map(chr, range(0xE000, 0x110000)))
    reported = {everything[offset] for offset, _ in unsafe_characters(everything)}
    assert reported == set(definitions._TEXT_UNSAFE)
    assert definitions._schema_covers_text() == {"description", "message", "environments.description",
                                                 "environments.message"}  # not name: "A\\n" passes its pattern
