"""The one YAML reader (voicebot_sync.read.yamlfile): bounds, the line map, refusals, and the schema fast path.

The fast path (``Schema.passes``) may only ever say "certainly valid": for hundreds of
random documents, valid and invalid, it never accepts one that jsonschema rejects.
"""

from __future__ import annotations

import datetime
import json
import os
import signal
from importlib.resources import files

import jsonschema
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from voicebot_sync.read import schema as schemacheck, yamlfile
from voicebot_sync.read.settings import load_config_file
from voicebot_sync.read.definitions import load_definitions
from voicebot_sync.errors import ValidationError
from conftest import PROPERTY_EXAMPLES

RULES = yamlfile.Rules(aliases_in="tests", document="a test file", number_keys=True)


def only(text: str, rules: yamlfile.Rules = RULES) -> yamlfile.Document:
    (doc,) = yamlfile.documents(text, rules)
    return doc


# -- reading ----------------------------------------------------------------------


def test_read_text_bounds_and_strict_utf8(tmp_path):
    path = tmp_path / "f.yaml"
    path.write_bytes(b"a: 1\n" * 10)
    assert yamlfile.read_text(path, max_bytes=50) == "a: 1\n" * 10
    with pytest.raises(ValueError, match=r"^file is 50 bytes; at most 49 here$"):
        yamlfile.read_text(path, max_bytes=49, rule="at most {limit} here")
    path.write_bytes(b"a: caf\xe9\n")
    with pytest.raises(ValueError, match=r"not valid UTF-8 \(byte 0xe9 at offset 6\)"):
        yamlfile.read_text(path)


@pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="no FIFOs here")
def test_a_fifo_is_never_opened_by_either_reader(tmp_path):
    """A FIFO that is opened blocks forever: the alarm turns that into a failure instead of a hang."""
    fifo = tmp_path / "voicebot-sync.yaml"
    os.mkfifo(fifo)

    def expired(signum, frame):
        raise AssertionError("timed out: a FIFO was opened")

    previous = signal.signal(signal.SIGALRM, expired)
    signal.alarm(10)
    try:
        with pytest.raises(ValueError, match=r"not a regular file \(a FIFO\): not read"):
            yamlfile.read_text(fifo)
        with pytest.raises(ValidationError) as info:
            load_config_file(str(fifo), shown="voicebot-sync.yaml")
        assert [str(p) for p in info.value.problems] == [
            "voicebot-sync.yaml:0: not a regular file (a FIFO): not read"]
    finally:
        signal.alarm(0)
        signal.signal(signal.SIGALRM, previous)


def test_config_file_size_keeps_its_own_sentence(tmp_path):
    from voicebot_sync.read.configfile import MAX_CONFIG_BYTES

    big = tmp_path / "voicebot-sync.yaml"
    with open(big, "wb") as fh:
        fh.write(b"prune: true\n")
        fh.seek(MAX_CONFIG_BYTES + 10)
        fh.write(b"\n")
    with pytest.raises(ValidationError) as info:
        load_config_file(str(big), shown="voicebot-sync.yaml")
    assert [str(p) for p in info.value.problems] == [
        f"voicebot-sync.yaml:0: file is {MAX_CONFIG_BYTES + 11} bytes; a config file may have at most {MAX_CONFIG_BYTES}"]


# -- parsing: the line map and the refusals ----------------------------------------


def test_line_map_records_every_key_path():
    doc = only("a: 1\nb:\n  c:\n    - x\n    - d: 2\n")
    assert doc.data == {"a": 1, "b": {"c": ["x", {"d": 2}]}} and not doc.problems
    assert doc.lines[("a",)] == 1 and doc.lines[("b", "c")] == 3 and doc.lines[("b", "c", 1, "d")] == 5
    assert yamlfile.line_of(doc.lines, ["b", "c", 1, "d", "deeper"], 0) == 5
    assert yamlfile.line_of(doc.lines, ["nowhere"], 7) == 7
    assert yamlfile.line_of({("r", "1"): 4}, ["r", 1], 0) == 4 or yamlfile.line_of({("r", 1): 4}, ["r", 1], 0) == 4


def test_aliases_are_refused_before_anything_is_built():
    bomb = "a: &a [x, x, x, x, x, x, x, x, x]\n" + "".join(
        f"{chr(98 + i)}: &{chr(98 + i)} [{', '.join(['*' + chr(97 + i)] * 9)}]\n" for i in range(8))
    doc = only(bomb)
    assert doc.fatal and doc.data is None
    assert doc.problems == [(2, "YAML anchors and aliases are not allowed in tests")]


def test_duplicate_and_non_text_keys_are_problems_and_dropped():
    doc = only("a: 1\na: 2\n1: top\nnull: x\n[k]: v\nr:\n  1: 'Yes'\n")
    assert doc.problems == [
        (2, "duplicate key 'a'"),
        (3, "keys must be plain text, not '1'"),
        (4, "keys must be plain text, not 'null'"),
        (5, "keys must be plain text, not a collection"),
    ]
    assert not doc.fatal and doc.data == {"a": 2, "r": {1: "Yes"}}  # digit keys below the top: number_keys
    strict = only("r:\n  1: 'Yes'\n", yamlfile.Rules("x", "y", key_hint=" (quote it)"))
    assert strict.problems == [(2, "keys must be plain text, not '1' (quote it)")]


def test_a_long_key_is_quoted_short():
    doc = only("k" * 500 + ": 1\n" + "k" * 500 + ": 2\n")
    ((line, message),) = doc.problems
    assert line == 2 and len(message) < 80 and message.startswith("duplicate key 'kkk")


def test_syntax_errors_bad_values_and_runaway_documents_are_located_problems():
    syntax = list(yamlfile.documents("a: 1\n---\nb: [1, 2\nc: 3\n", RULES))
    assert syntax[0].data == {"a": 1} and syntax[-1].fatal
    ((line, message),) = syntax[-1].problems
    assert line == 3 and message.startswith("YAML syntax error: the [ list")  # where it opens
    bad = only("when: 2020-13-45\n")
    assert bad.fatal and bad.problems[0][1].startswith("a value cannot be read: ")
    runaway = only("[" + ", ".join(["0"] * (yamlfile.MAX_NODES + 5)) + "]\n")
    assert runaway.fatal and runaway.problems == [
        (1, f"document has over {yamlfile.MAX_NODES} YAML nodes: not a test file")]


def test_single_document_streams():
    assert [d.data for d in yamlfile.documents("", RULES, single=True)] == [None]
    (doc,) = yamlfile.documents("a: 1\n---\nb: 2\n", RULES, single=True)
    assert doc.fatal and doc.problems == [(2, "YAML syntax error: but found another document")]


def test_deep_nesting_is_a_problem_not_an_exception():
    docs = list(yamlfile.documents("[" * 5000 + "]" * 5000 + "\n", RULES))
    assert docs and all(d.problems for d in docs[-1:])


# -- messages -----------------------------------------------------------------------


def test_unknown_keys_get_a_did_you_mean_or_the_known_keys():
    assert yamlfile.unknown_key("mesage", ["name", "message"]) == "unknown key 'mesage' (did you mean 'message'?)"
    assert yamlfile.unknown_key("zzz", ["name", "message"]) == "unknown key 'zzz' (known keys: name, message)"
    long = yamlfile.unknown_key("\u202e" + "x" * 300, ["name"])
    assert "\u202e" not in long and len(long) < 100


def test_the_config_file_never_echoes_a_long_value(tmp_path):
    config = tmp_path / "voicebot-sync.yaml"
    key = "sk-" + "Q" * 300
    config.write_text(f"{key}: 1\nowns:\n  names: [{key}, {key}]\nenvironments:\n  '{key}!': {{}}\n")
    with pytest.raises(ValidationError) as info:
        load_config_file(str(config), shown="voicebot-sync.yaml")
    found = [str(p) for p in info.value.problems]
    assert len(found) == 3, found
    assert all(len(p) < 250 and "Q" * 60 not in p for p in found), found
    assert found[0].startswith("voicebot-sync.yaml:1: unknown key 'sk-QQQ")


# -- the schema fast path ------------------------------------------------------------


