"""Hostile or broken input: a clear problem each, quickly, without memory blow-up."""

import os
import time
import tracemalloc

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from voicebot_sync.cli import main
from voicebot_sync.read.definitions import MAX_FILE_BYTES, load_definitions
from voicebot_sync.errors import ValidationError
from fakes import bounded_problems as problems


def test_file_over_one_megabyte_is_refused_without_reading_it(tmp_path):
    big = tmp_path / "big.yaml"
    with open(big, "wb") as fh:
        fh.write(b"name: A\nmessage: hi\n")
        fh.seek(MAX_FILE_BYTES + 10)
        fh.write(b"\n")
    (found,) = problems(tmp_path)
    assert found.endswith(f"big.yaml:0: file is {MAX_FILE_BYTES + 11} bytes; the limit is {MAX_FILE_BYTES}")


def test_billion_laughs_is_refused_quickly(tmp_path):
    lines = ['a: &a ["lol","lol","lol","lol","lol","lol","lol","lol","lol"]']
    for i in range(1, 10):
        prev, cur = chr(ord("a") + i - 1), chr(ord("a") + i)
        lines.append(f"{cur}: &{cur} [" + ",".join([f"*{prev}"] * 9) + "]")
    (tmp_path / "bomb.yaml").write_text("\n".join(lines) + "\n")
    (found,) = problems(tmp_path)
    assert "YAML anchors and aliases are not allowed" in found


def test_non_utf8_bytes(tmp_path):
    (tmp_path / "latin1.yaml").write_bytes("name: Café\nmessage: hi\n".encode("latin-1"))
    (found,) = problems(tmp_path)
    assert found.endswith("latin1.yaml:0: file is not valid UTF-8 (byte 0xe9 at offset 9)")


def test_control_character_in_name(tmp_path):
    (tmp_path / "a.yaml").write_text('name: "Bad\\u0007name"\nmessage: hi\n')
    (found,) = problems(tmp_path)
    assert found.endswith("a.yaml:1: name: contains control characters or invisible/bidi characters: U+0007 at offset 3")


def test_control_characters_in_message_except_newline_and_tab(tmp_path):
    (tmp_path / "a.yaml").write_text('name: A\nmessage: "tab\\tand\\nnewline are fine"\n')
    assert problems(tmp_path) == []
    (tmp_path / "a.yaml").write_text('name: A\nmessage: "bell\\u0007"\n')
    assert "contains control characters" in problems(tmp_path)[0]


@pytest.mark.parametrize("text", [
    "? [a, b]\n: c\n",                       # a non-string key
    "[" * 5000 + "]" * 5000 + "\n",          # deep nesting
    "name: A\nmessage: !!python/object:os.system echo\n",  # an unsafe tag
    "\x00\x01",                              # binary
    "name: A\nmessage: " + "x" * 200_000 + "\n",
])
def test_odd_documents_are_problems_not_crashes(tmp_path, text):
    (tmp_path / "a.yaml").write_text(text)
    assert problems(tmp_path)


SEED = "name: Reminder\ndescription: d\nworkflow_type: ROBOCALL\nmessage: |\n  Hi [name]\nparameters:\n  name: {max_length: 5}\n"


@st.composite
def mutated_yaml(draw):
    if draw(st.booleans()):
        return draw(st.text(max_size=300))
    text = list(SEED)
    for _ in range(draw(st.integers(1, 8))):
        pos = draw(st.integers(0, len(text)))
        op = draw(st.sampled_from(["insert", "delete", "replace"]))
        char = draw(st.sampled_from(list(":-[]{}&*!|>'\"#\n\t %@`,?") + ["\x07", "é", "x"]))
        if op == "insert":
            text.insert(pos, char)
        elif text and pos < len(text):
            if op == "delete":
                del text[pos]
            else:
                text[pos] = char
    return "".join(text)


@settings(max_examples=200, deadline=2000, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(text=mutated_yaml())
def test_fuzzed_yaml_never_crashes_validate(tmp_path, text):
    from click.testing import CliRunner

    (tmp_path / "w.yaml").write_text(text, encoding="utf-8", errors="surrogatepass") if "\ud800" not in text else None
    result = CliRunner().invoke(main, ["validate", str(tmp_path)])
    assert result.exit_code in (0, 1), result.output
    assert result.exception is None or isinstance(result.exception, SystemExit), repr(result.exception)
