"""One source of truth for the JSON Schemas: the top-level schemas/ (for editors, CI and people)
and the copies the package ships (voicebot_sync/schemas) are the same files, byte for byte."""

from __future__ import annotations

from importlib.resources import files
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def test_top_level_schemas_and_the_packaged_ones_are_byte_identical():
    top = {p.name: p.read_bytes() for p in (ROOT / "schemas").glob("*.json")}
    packaged = {p.name: p.read_bytes() for p in (ROOT / "voicebot_sync" / "schemas").glob("*.json")}
    assert {"workflow.schema.json", "config.schema.json", "plan.schema.json"} <= set(top)
    assert sorted(top) == sorted(packaged), "a schema is in one of schemas/ and voicebot_sync/schemas/ only"
    changed = [name for name in top if top[name] != packaged[name]]
    assert not changed, f"schemas/ and voicebot_sync/schemas/ differ: {changed}; change both (copy one over the other)"


def test_the_installed_package_reads_the_same_files():
    for path in (ROOT / "schemas").glob("*.json"):
        assert files("voicebot_sync").joinpath("schemas", path.name).read_bytes() == path.read_bytes(), path.name
