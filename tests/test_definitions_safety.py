"""Definition files that are hostile, odd or careless: names, text, lengths, discovery.

Every case ends as a located Problem (or a note about a skipped file), never as
an exception out of ``load_definitions`` and never as a hang.
"""

from __future__ import annotations

import os
import signal
import unicodedata

import pytest
from click.testing import CliRunner

from voicebot_sync.read import definitions as defs_module
from voicebot_sync.cli import main
from voicebot_sync.read.definitions import (
    discover,
    display_path,
    load_definitions,
    load_definitions_with_notes,
    load_file,
)
from voicebot_sync.errors import ValidationError
from voicebot_sync.core.template import check
from fakes import problems_of, validate_cli, write

TOKEN = "sk-live-" + "A1b2C3d4E5" * 19 + "zz"  # 200 characters, like a key from a dotfile
assert len(TOKEN) == 200


@pytest.fixture(autouse=True)
def no_hang():
    """A FIFO that is opened blocks forever: fail the test instead of hanging the run."""
    def expired(signum, frame):
        raise AssertionError("timed out: something blocked (was a FIFO opened?)")

    previous = signal.signal(signal.SIGALRM, expired)
    signal.alarm(20)
    yield
    signal.alarm(0)
    signal.signal(signal.SIGALRM, previous)


# -- 1. names ---------------------------------------------------------------------


@pytest.mark.parametrize("name, char", [
    (" Leading space", "U+0020"),
    ("Trailing space ", "U+0020"),
    ("\u00a0No-break space", "U+00A0"),
    ("Ideographic space\u3000", "U+3000"),
    ("\u2003Em space", "U+2003"),
])
def test_name_with_leading_or_trailing_whitespace_is_refused(tmp_path, name, char):
    a = write(tmp_path / "a.yaml", f'# first line\nname: "{name}"\nmessage: hi\n')
    (found,) = problems_of(tmp_path)
    assert found.startswith(f"{display_path(a)}:2: name: ")
    assert "whitespace" in found and char in found and "id" in found


def test_name_with_outer_whitespace_is_allowed_when_an_id_pins_it(tmp_path):
    write(tmp_path / "a.yaml", 'name: " Legacy name\u00a0"\nid: wf-1\nmessage: hi\n')
    (d,) = load_definitions([str(tmp_path)])
    assert d.name == " Legacy name\u00a0" and d.id == "wf-1"


@pytest.mark.parametrize("name", ["", "   ", "\u3000", "\u00a0 "])
def test_empty_or_blank_name_is_refused_even_with_an_id(tmp_path, name):
    write(tmp_path / "a.yaml", f'message: hi\nid: wf-1\nname: "{name}"\n')
    (found,) = problems_of(tmp_path)
    assert ":3: name: " in found and ("empty" in found or "only whitespace" in found)


@pytest.mark.parametrize("escaped, code, offset", [
    ("Bad\\u0007name", "U+0007", 3),
    ("CSI\\u009b[31m", "U+009B", 3),
    ("Next\\u0085line", "U+0085", 4),
    ("Del\\u007f", "U+007F", 3),
    ("abc\\u202eevil.yaml", "U+202E", 3),
    ("zero\\u200bwidth", "U+200B", 4),
    ("two\\nlines", "U+000A", 3),
    ("a\\ttab", "U+0009", 1),
])
def test_control_and_bidi_characters_in_a_name_are_named_with_their_offset(tmp_path, escaped, code, offset):
    a = write(tmp_path / "a.yaml", f'# comment\n\nname: "{escaped}"\nid: wf-1\nmessage: hi\n')
    (found,) = problems_of(tmp_path)
    assert found.startswith(f"{display_path(a)}:3: name: ")
    assert f"{code} at offset {offset}" in found
    assert all(ch not in found for ch in "\x07\x9b\x85\x7f\u202e\u200b\n\t")


def test_a_trailing_newline_in_a_pinned_name_is_still_a_control_character(tmp_path):
    # Python's `$` matches before a final newline: the schema pattern alone would let this through.
    write(tmp_path / "a.yaml", 'name: "A\\n"\nid: wf-1\nmessage: hi\n')
    (found,) = problems_of(tmp_path)
    assert ":1: name: " in found and "U+000A at offset 1" in found


def test_description_and_message_allow_newline_and_tab_only(tmp_path):
    write(tmp_path / "a.yaml", 'name: A\ndescription: "one\\n\\ttwo"\nmessage: "tab\\tand\\nnewline"\n')
    assert len(load_definitions([str(tmp_path)])) == 1
    for text, code, offset in [("x\\u202ey", "U+202E", 1), ("cr\\r", "U+000D", 2), ("nel\\u0085", "U+0085", 3),
                               ("\\u2066iso", "U+2066", 0), ("ls\\u2028", "U+2028", 2)]:
        write(tmp_path / "a.yaml", f'name: A\n\ndescription: "{text}"\nmessage: "{text}"\n')
        found = problems_of(tmp_path)
        assert len(found) == 2, found
        assert ":3: description: " in found[0] and f"{code} at offset {offset}" in found[0]
        assert ":4: message: " in found[1] and f"{code} at offset {offset}" in found[1]
        assert "newline and tab" in found[0]


def test_environment_overrides_are_checked_for_control_characters_too(tmp_path):
    write(tmp_path / "a.yaml", 'name: A\nmessage: hi\nenvironments:\n  staging:\n    description: "x\\u009by"\n'
          '    message: "y\\u202e"\n')
    found = problems_of(tmp_path)
    assert any(":5: environments.staging.description: " in p and "U+009B at offset 1" in p for p in found)
    assert any(":6: environments.staging.message: " in p and "U+202E at offset 1" in p for p in found)


# -- 2. names equal after NFC ---------------------------------------------------------


def test_names_equal_after_nfc_normalisation_are_duplicates(tmp_path):
    composed, decomposed = "Caf\u00e9 reminder", "Cafe\u0301 reminder"
    assert composed != decomposed and unicodedata.normalize("NFC", decomposed) == composed
    a = write(tmp_path / "a.yaml", f"name: {composed}\nmessage: one\n")
    b = write(tmp_path / "b.yaml", f"name: {decomposed}\nmessage: two\n")
    (found,) = problems_of(tmp_path)
    assert found.startswith(f"{display_path(b)}:1: ") and display_path(a) + ":1" in found
    assert "NFC" in found


def test_exact_duplicate_names_are_still_reported_once(tmp_path):
    a = write(tmp_path / "a.yaml", "name: Same\nmessage: one\n")
    b = write(tmp_path / "b.yaml", "name: Same\nmessage: two\n")
    assert problems_of(tmp_path) == [f"{display_path(b)}:1: duplicate name 'Same': also defined at {display_path(a)}:1"]


# -- 3. the raw 1000-character rule -----------------------------------------------------


def test_raw_template_over_the_limit_is_refused_like_the_emulator_does(tmp_path):
    message = "x" * 990 + " [patient_first_name]"
    assert len(message) == 1011
    write(tmp_path / "a.yaml", f"name: A\nmessage: \"{message}\"\n")
    (found,) = problems_of(tmp_path)
    assert ":2: message is 1011 characters as written" in found and "the limit is 1000" in found
    result = validate_cli(tmp_path)
    assert result.exit_code == 1 and "1011 characters" in result.output


def test_raw_template_exactly_at_the_limit_and_trailing_whitespace(tmp_path):
    assert check("x" * 994 + "[name]", None) == []
    assert check("x" * 995 + "[name]", None) == [
        "message is 1001 characters as written (placeholders included); the limit is 1000"
    ]
    # Trailing whitespace is trimmed before sending (model.normalise_text), so it does not count.
    write(tmp_path / "a.yaml", "name: A\nmessage: |\n  " + "x" * 994 + "[name]   \n\n")
    assert len(load_definitions([str(tmp_path)])) == 1


def test_fixed_text_over_the_limit_is_reported_once(tmp_path):
    assert check("x" * 1001 + "[a]", None) == ["message is 1001 characters without its placeholders; the limit is 1000"]


# -- 4. discovery -----------------------------------------------------------------------


def test_load_file_refuses_a_fifo_without_opening_it(tmp_path):
    os.mkfifo(tmp_path / "pipe.yaml")
    definitions, found = load_file(tmp_path / "pipe.yaml")
    assert definitions == [] and "not a regular file" in found[0].message


# -- 5. messages quote at most a short prefix of a value -----------------------------------


def assert_short(message):
    assert TOKEN not in message
    assert TOKEN[:41] not in message, message  # at most a 40-character prefix


@pytest.mark.parametrize("yaml_text, where", [
    (f"name: A\nmessage: hi [p]\nparameters:\n  p:\n    max_length: {TOKEN}\n", ":5: parameters.p.max_length: "),
    (f"name: A\nmessage: hi\nworkflow_type: {TOKEN}\n", ":3: workflow_type: "),
    (f"name: A\nmessage: hi\ncall_back_url: 'https://x.example/?k={TOKEN} '\n", ":3: call_back_url: "),
    (f"name: A\nmessage: hi\ninclude_reply: {TOKEN}\n", ":3: include_reply: "),
    (f"name: {TOKEN * 2}\nmessage: hi\n", ":1: name: "),
    (f"name: A\nmessage: hi\n{TOKEN}: 1\n", ":3: "),
    (f"name: A\nmessage: hi\nresponse_options:\n  {TOKEN}: Yes\n", ":4: response_options: "),
    (f"name: A\nmessage: hi [p]\nparameters:\n  p: {{}}\n  {TOKEN}: {{}}\n", ":5: parameters: "),
    (f"name: A\nmessage: hi\nid: [{TOKEN}]\n", ":3: id: "),
    (f"name: A\nmessage: hi\ndescription: {{k: {TOKEN}}}\n", ":3: description: "),
    (f"name: A\nmessage: hi\nenvironments:\n  staging:\n    workflow_type: {TOKEN}\n",
     ":5: environments.staging.workflow_type: "),
])
def test_messages_never_repeat_a_long_value(tmp_path, yaml_text, where):
    write(tmp_path / "a.yaml", yaml_text)
    found = problems_of(tmp_path)
    assert found and any(where in p for p in found), found
    for p in found:
        assert_short(p)
    result = validate_cli(tmp_path)
    assert TOKEN not in result.output


def test_enum_message_quotes_a_short_visible_prefix(tmp_path):
    write(tmp_path / "a.yaml", "name: A\nmessage: hi\nworkflow_type: robocall\n")
    (found,) = problems_of(tmp_path)
    assert found.endswith(':3: workflow_type: "robocall" is not one of ROBOCALL, CONVERSATION')


def test_duplicate_ids_and_scope_messages_are_short(tmp_path):
    write(tmp_path / "a.yaml", f"name: A\nmessage: hi\nid: {TOKEN}\n---\nname: B\nmessage: hi\nid: {TOKEN}\n")
    found = problems_of(tmp_path)
    assert any("duplicate id" in p for p in found)
    for p in found:
        assert_short(p)


def test_non_text_keys_are_quoted_short(tmp_path):
    write(tmp_path / "a.yaml", f"name: A\nmessage: hi\n{'9' * 200}: x\n")
    for p in problems_of(tmp_path):
        assert "9" * 41 not in p


# -- 6. many hostile things at once, through the CLI ------------------------------------------


def test_a_hostile_tree_is_problems_not_a_traceback(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    root = tmp_path / "w"
    write(root / "ok.yaml", "name: A\nmessage: hi\n")
    os.mkfifo(root / "pipe.yml")
    os.symlink("x.yaml", root / "y.yaml")
    os.symlink("y.yaml", root / "x.yaml")
    os.symlink("..", root / "parent")
    os.symlink("/", root / "slash")
    os.symlink("missing.yaml", root / "dangling.yaml")
    write(root / ".#lock.yaml", "")
    result = validate_cli("w")
    assert result.exit_code == 1
    out = result.output
    assert "not a regular file" in out and "symlink loop" in out and "leaves" in out
    assert os.path.join("w", "dangling.yaml") in out
