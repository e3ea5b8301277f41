"""read/discovery.py: which files a run reads (extensions, hidden files, symlinks, loops, FIFOs,
unreadable and vanishing files), and what it says about the rest."""

import os
import pytest
from click.testing import CliRunner
from voicebot_sync.read import definitions as defs_module
from voicebot_sync.cli import main
from voicebot_sync.read.definitions import discover, display_path, load_definitions, load_definitions_with_notes
from voicebot_sync.errors import ValidationError
import time
import tracemalloc
from fakes import bounded_problems as problems, problems_of, validate_cli, write


TOKEN = "sk-live-" + "A1b2C3d4E5" * 19 + "zz"  # 200 characters, like a key from a dotfile


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


def test_symlink_leaving_the_workflows_directory_is_not_followed(tmp_path):
    outside = tmp_path / "secret.yaml"
    outside.write_text("name: S\nmessage: hi\n")
    d = tmp_path / "workflows"
    d.mkdir()
    os.symlink(outside, d / "link.yaml")
    (d / "ok.yaml").write_text("name: A\nmessage: hi\n")
    os.symlink(d / "ok.yaml", d / "inside.yml")  # a link that stays inside is fine...
    (found,) = [p for p in problems(d) if "link.yaml" in p]
    assert "symlink leaves" in found and "not followed" in found
