"""core/plan.py: a plan is frozen; each stage after the planner makes a new one."""

import dataclasses
import json

import pytest

from voicebot_sync.core.plan import Change, Plan
from voicebot_sync.core.planner import make_plan

from fakes import FakeDefinition as D


def test_a_plan_and_its_changes_cannot_be_edited_in_place():
    plan = make_plan([D("A")], [], api_url="u")
    with pytest.raises(dataclasses.FrozenInstanceError):
        plan.remote_count = 99
    with pytest.raises(dataclasses.FrozenInstanceError):
        plan.changes[0].id = "other"
    with pytest.raises(AttributeError):
        plan.changes.append(Change("delete", "B", "b"))
    assert isinstance(plan.notes, tuple) and isinstance(plan.unmanaged, tuple)


def test_with_makes_a_copy_and_display_data_is_neither_saved_nor_compared():
    plan = make_plan([D("A")], [], api_url="u")
    later = plan.with_(env="staging").with_display(eta_now=120.0, preview_maker=lambda: ({"A": {}}, {"A": 3}))
    assert plan.env is None and later.env == "staging"
    assert later.previews() == ({"A": {}}, {"A": 3}) and plan.previews() == ({}, {})
    assert later.plan_fingerprint == plan.plan_fingerprint
    assert later.with_(env=None) == plan  # display data is not compared
    saved = later.to_json()
    assert saved["estimated_seconds_now"] == 120
    assert Plan.from_json(json.loads(json.dumps(saved))).display.eta_now is None


def test_lists_given_to_a_plan_become_tuples():
    plan = Plan(api_url="u", remote_fingerprint="sha256:0", changes=[Change("create", "A")], notes=["n"])
    assert plan.changes == (Change("create", "A"),) and plan.notes == ("n",)
