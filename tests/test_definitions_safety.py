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


def problems_of(*paths, **kw):
    with pytest.raises(ValidationError) as info:
        load_definitions([str(p) for p in paths], **kw)
    return [str(p) for p in info.value.problems]


def write(path, text):
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")
    return path


def validate_cli(*paths):
    result = CliRunner().invoke(main, ["validate", *map(str, paths)])
    assert result.exception is None or isinstance(result.exception, SystemExit), repr(result.exception)
    assert "Traceback" not in result.output
    return result


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


def test_yaml_extensions_in_any_letter_case_are_read(tmp_path):
    write(tmp_path / "a.YAML", "name: A\nmessage: hi\n")
    write(tmp_path / "sub" / "b.Yml", "name: B\nmessage: hi\n")
    write(tmp_path / "c.yml", "name: C\nmessage: hi\n")
    write(tmp_path / "notes.txt", "not: a definition\n")
    assert sorted(d.name for d in load_definitions([str(tmp_path)])) == ["A", "B", "C"]


def test_hidden_files_and_editor_leftovers_are_skipped_and_reported(tmp_path):
    write(tmp_path / "ok.yaml", "name: A\nmessage: hi\n")
    broken = "name: [unclosed\n"
    write(tmp_path / ".hidden.yaml", broken)
    write(tmp_path / ".secret" / "x.yaml", broken)
    write(tmp_path / "x.yaml~", broken)
    write(tmp_path / ".x.yaml.swp", broken)
    write(tmp_path / "#x.yaml#", broken)
    os.symlink("root@host.1234:1700000000", tmp_path / ".#x.yaml")  # an Emacs lock: a dangling symlink
    write(tmp_path / ".gitkeep", "")
    definitions, notes = load_definitions_with_notes([str(tmp_path)])
    assert [d.name for d in definitions] == ["A"]
    text = "\n".join(notes)
    for name in (".hidden.yaml", ".secret", "x.yaml~", ".x.yaml.swp", "#x.yaml#", ".#x.yaml"):
        assert display_path(tmp_path / name) in text, (name, notes)
    assert ".gitkeep" not in text
    assert all("skipped" in n for n in notes)
    # The plain API still returns a list of definitions.
    assert [d.name for d in load_definitions([str(tmp_path)])] == ["A"]
    result = validate_cli(tmp_path)
    assert result.exit_code == 0, result.output


def test_notes_survive_a_validation_error(tmp_path):
    write(tmp_path / "bad.yaml", "name: A\n")
    write(tmp_path / ".x.yaml", "name: B\nmessage: hi\n")
    with pytest.raises(ValidationError) as info:
        load_definitions_with_notes([str(tmp_path)])
    assert any(".x.yaml" in n for n in info.value.notes)


def test_directory_symlink_inside_the_repository_is_followed(tmp_path, monkeypatch):
    repo = tmp_path / "repo"
    write(repo / "shared" / "common.yaml", "name: Common\nmessage: hi\n")
    write(repo / "workflows" / "own.yaml", "name: Own\nmessage: hi\n")
    os.symlink("../shared", repo / "workflows" / "shared")
    monkeypatch.chdir(repo)
    definitions = load_definitions(["workflows"])
    assert sorted((d.name, d.source) for d in definitions) == [
        ("Common", os.path.join("workflows", "shared", "common.yaml")),
        ("Own", os.path.join("workflows", "own.yaml")),
    ]


def test_symlinks_leaving_the_repository_are_problems(tmp_path, monkeypatch):
    outside = tmp_path / "outside"
    write(outside / "secret.yaml", f"name: S\nmessage: {TOKEN}\n")
    repo = tmp_path / "repo"
    write(repo / "workflows" / "ok.yaml", "name: A\nmessage: hi\n")
    os.symlink(outside, repo / "workflows" / "elsewhere")
    os.symlink(outside / "secret.yaml", repo / "workflows" / "link.yaml")
    monkeypatch.chdir(repo)
    found = problems_of("workflows")
    assert len(found) == 2, found
    assert any(p.startswith(os.path.join("workflows", "elsewhere") + ":0: ") and "leaves" in p for p in found)
    assert any(p.startswith(os.path.join("workflows", "link.yaml") + ":0: ") and "leaves" in p for p in found)
    assert all(TOKEN not in p for p in found)


def test_file_symlink_loop_is_a_problem(tmp_path):
    write(tmp_path / "ok.yaml", "name: A\nmessage: hi\n")
    os.symlink("b.yaml", tmp_path / "a.yaml")
    os.symlink("a.yaml", tmp_path / "b.yaml")
    found = problems_of(tmp_path)
    assert len(found) == 2 and all("symlink loop" in p for p in found), found
    validate_cli(tmp_path)


@pytest.mark.parametrize("target", ["..", ".", "../.."])
def test_directory_symlink_back_up_the_tree_is_a_loop_not_a_recursion(tmp_path, monkeypatch, target):
    monkeypatch.chdir(tmp_path)
    root = tmp_path / "w"
    write(root / "sub" / "a.yaml", "name: A\nmessage: hi\n")
    os.symlink(target, root / "sub" / "up")
    found = problems_of("w")
    (loop,) = found
    assert loop.startswith(os.path.join("w", "sub", "up") + ":0: ") and "loop" in loop
    validate_cli("w")


def test_same_file_reached_twice_is_read_once(tmp_path):
    write(tmp_path / "ok.yaml", "name: A\nmessage: hi\n")
    os.symlink("ok.yaml", tmp_path / "alias.yaml")
    definitions, notes = load_definitions_with_notes([str(tmp_path), str(tmp_path / "ok.yaml")])
    assert [d.source for d in definitions] == [display_path(tmp_path / "ok.yaml")]
    assert any("alias.yaml" in n for n in notes)


def test_directory_reached_by_its_path_and_by_a_symlink_is_read_once_under_its_path(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    write(tmp_path / "w" / "zz" / "deep" / "x.yaml", "name: X\nmessage: hi\n")
    os.symlink(os.path.join("zz", "deep"), tmp_path / "w" / "aa")  # sorts (and would be walked) first
    definitions, notes = load_definitions_with_notes(["w"])
    assert [d.source for d in definitions] == [os.path.join("w", "zz", "deep", "x.yaml")]
    assert notes == [f"{os.path.join('w', 'aa')}: skipped (same directory as {os.path.join('w', 'zz', 'deep')})"]


def test_current_directory_as_root_and_a_looping_root(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    write(tmp_path / "a.yaml", "name: A\nmessage: hi\n")
    assert [d.source for d in load_definitions(["."])] == ["a.yaml"]
    os.symlink("loop", tmp_path / "loop")
    assert problems_of("loop") == ["loop:0: symlink loop: not followed"]


def test_file_names_with_undecodable_bytes_or_controls_are_shown_printable(tmp_path):
    os.makedirs(os.fsencode(tmp_path / "w"))
    with open(os.fsencode(tmp_path / "w") + b"/\xff.yaml", "wb") as fh:
        fh.write(b"name: A\n")
    with open(os.fsencode(tmp_path / "w") + b"/ok\x1b[31m.yaml", "wb") as fh:
        fh.write(b"name: B\n")
    found = problems_of(tmp_path / "w")
    assert sorted(p.rsplit(os.sep, 1)[-1] for p in found) == [
        "\\xff.yaml:1: missing required key 'message'",
        "ok\\u001b[31m.yaml:1: missing required key 'message'",
    ]
    result = validate_cli(tmp_path / "w")
    assert result.exit_code == 1 and "\x1b" not in result.output


def test_fifo_in_the_directory_is_a_problem_and_never_opened(tmp_path):
    write(tmp_path / "ok.yaml", "name: A\nmessage: hi\n")
    os.mkfifo(tmp_path / "pipe.yaml")
    (found,) = problems_of(tmp_path)
    assert found.startswith(f"{display_path(tmp_path / 'pipe.yaml')}:0: ") and "not a regular file" in found
    result = validate_cli(tmp_path)
    assert result.exit_code == 1 and "not a regular file" in result.output


def test_fifo_or_device_given_explicitly_is_a_problem_and_never_opened(tmp_path):
    os.mkfifo(tmp_path / "pipe.yaml")
    (found,) = problems_of(tmp_path / "pipe.yaml")
    assert ":0: " in found and "not a regular file" in found
    (found,) = problems_of("/dev/null")
    assert found.startswith("/dev/null:0: ") and "not a regular file" in found
    result = validate_cli(tmp_path / "pipe.yaml")
    assert result.exit_code == 1


def test_load_file_refuses_a_fifo_without_opening_it(tmp_path):
    os.mkfifo(tmp_path / "pipe.yaml")
    definitions, found = load_file(tmp_path / "pipe.yaml")
    assert definitions == [] and "not a regular file" in found[0].message


def test_file_vanishing_between_listing_and_reading_is_a_problem(tmp_path, monkeypatch):
    write(tmp_path / "ok.yaml", "name: A\nmessage: hi\n")
    victim = write(tmp_path / "gone.yaml", "name: B\nmessage: hi\n")
    real = defs_module._discover

    def racing(paths):
        found = real(paths)
        os.remove(victim)
        return found

    monkeypatch.setattr(defs_module, "_discover", racing)
    (found,) = problems_of(tmp_path)
    assert found.startswith(f"{display_path(victim)}:0: ")


def test_unreadable_files_and_directories_are_problems(tmp_path, monkeypatch):
    write(tmp_path / "ok.yaml", "name: A\nmessage: hi\n")
    locked_file = write(tmp_path / "locked.yaml", "name: B\nmessage: hi\n")
    locked_dir = tmp_path / "private"
    write(locked_dir / "c.yaml", "name: C\nmessage: hi\n")
    real_open, real_scandir = os.open, os.scandir

    def denying_open(path, *args, **kw):
        if os.fspath(path) == str(locked_file):
            raise PermissionError(13, "Permission denied", os.fspath(path))
        return real_open(path, *args, **kw)

    def denying_scandir(path="."):
        if os.fspath(path) == str(locked_dir):
            raise PermissionError(13, "Permission denied", os.fspath(path))
        return real_scandir(path)

    monkeypatch.setattr(os, "open", denying_open)
    monkeypatch.setattr(os, "scandir", denying_scandir)
    found = problems_of(tmp_path)
    assert found == [
        f"{display_path(locked_file)}:0: Permission denied",
        f"{display_path(locked_dir)}:0: cannot list directory: Permission denied",
    ]


def test_a_directory_named_like_a_definition_is_walked_not_opened(tmp_path):
    write(tmp_path / "dir.yaml" / "inner.yaml", "name: A\nmessage: hi\n")
    assert [d.name for d in load_definitions([str(tmp_path)])] == ["A"]


def test_discover_keeps_its_signature(tmp_path):
    write(tmp_path / "a.yaml", "name: A\nmessage: hi\n")
    write(tmp_path / ".b.yaml", "name: B\nmessage: hi\n")
    files, problems = discover([str(tmp_path)])
    assert [p.name for p in files] == ["a.yaml"] and problems == []


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
