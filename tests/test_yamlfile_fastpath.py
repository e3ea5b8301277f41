"""yamlfile's fast path builds exactly what PyYAML's SafeConstructor builds, and leaves it everything else."""

from __future__ import annotations

import pytest
import yaml
from hypothesis import HealthCheck, given, settings, strategies as st

from voicebot_sync.read import yamlfile

from conftest import PROPERTY_EXAMPLES

RULES = yamlfile.Rules("definitions", "a workflow definition", number_keys=True)


def data_of(text: str) -> list:
    docs = list(yamlfile.documents(text, RULES))
    assert not [d.problems for d in docs if d.problems]
    return [d.data for d in docs]


def same_as_pyyaml(text: str) -> None:
    expected = list(yaml.load_all(text, Loader=yaml.CSafeLoader))
    got = data_of(text)
    # repr: True == 1 and 1 == 1.0 for ==; the types must match too.
    assert repr(got) == repr(expected), text


@pytest.mark.parametrize("text", [
    "a: 1\nb: -5\nc: 0\nd: 012\ne: 0x1F\nf: 1_000\ng: 1:20\nh: +12\ni: -0\nj: 00\nk: 0b101\nl: 0o17\n",
    "a: yes\nb: No\nc: ON\nd: off\ne: True\nf: FALSE\ng: y\nh: n\n",
    "a: ~\nb: null\nc: Null\nd:\ne: !!null ''\n",
    "a: 1.5\nb: 1e3\nc: .inf\nd: 2020-01-01\ne: !!binary aGVsbG8=\nf: !!set {x, y}\ng: !!omap [{x: 1}]\n",
    "a: !!str 12\nb: !!int '7'\nc: !!bool 'yes'\nd: !!float 1\ne: '1'\nf: \"true\"\n",
    "x:\n  1: Yes\n  2: No\nlist: [1, two, {three: 3}, [4]]\nempty: {}\nnone: []\ntext: ''\n",
    "message: |\n  multi\n  line\ndescription: >\n  folded\n  text\n",
    "a: 1\n---\nb: [2]\n",
    "a: 123456789012345678901234567890\n",
])
def test_each_kind_of_scalar_and_collection_matches_pyyaml(text):
    same_as_pyyaml(text)


def test_a_document_with_anything_else_is_built_by_pyyaml_whole():
    (data,) = data_of("a: 1\nb: 2020-01-01\nc: [yes, 0x10]\n")
    assert repr(data) == repr({"a": 1, "b": yaml.safe_load("2020-01-01"), "c": [True, 16]})


TEXT = st.characters(blacklist_categories=("Cs", "Cc", "Co", "Cn"))  # what a YAML file may hold
SCALARS = st.one_of(
    st.text(TEXT, max_size=12), st.integers(), st.booleans(), st.none(), st.floats(allow_nan=False),
    st.sampled_from(["yes", "No", "on", "OFF", "0x1F", "012", "1_000", "1:20", "~", "null", "true", "-0", "+5",
                     "0o7", "1e3", "2020-01-01", ".5", "y", "n", "-", "'", "#x", "a: b"]))
DATA = st.recursive(SCALARS, lambda inner: st.one_of(
    st.lists(inner, max_size=4), st.dictionaries(st.text(TEXT, min_size=1, max_size=6), inner, max_size=4)), max_leaves=16)


@settings(max_examples=PROPERTY_EXAMPLES or 150, deadline=None, suppress_health_check=list(HealthCheck))
@given(DATA, st.booleans())
def test_any_dumped_data_reads_back_as_pyyaml_reads_it(data, flow):
    same_as_pyyaml(yaml.safe_dump({"k": data}, default_flow_style=flow))
    if isinstance(data, str) and data.strip() and not set(data) & set("\n:#'\"[]{},&*!|>%@`-?\\"):
        same_as_pyyaml(f"k: {data}\n")  # unquoted: the resolver decides its tag
