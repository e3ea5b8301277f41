"""core/plan.py: a plan is frozen; each stage after the planner makes a new one."""

import dataclasses
import json

import pytest

from voicebot_sync.core.plan import Change, Plan
from voicebot_sync.core.planner import make_plan

from fakes import FakeDefinition as D
import httpx
from voicebot_sync.api.client import VoicebotClient
from voicebot_sync.errors import PlanError
from voicebot_sync.api.ratelimit import RateLimiter
from voicebot_sync.api.retry import RetryPolicy
from fakes import FakeApi, FakeClock, FakeDefinition as D
from fakes import client_for


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


def _saved_plan(tmp_path, api, definitions, prune=False):
    client = client_for(api.transport())
    plan = make_plan(definitions, client.list_workflows(), api_url="u", prune=prune)
    path = tmp_path / "plan.json"
    plan.dump(str(path))
    return path, json.loads(path.read_text())


@pytest.mark.parametrize("edit", [
    lambda d: d.pop("plan_fingerprint"),
    lambda d: d["changes"][0].update(id=None),
    lambda d: d.update(changes={"a": 1}),
    lambda d: d["changes"].__setitem__(0, "delete everything"),
    lambda d: d["changes"][0].update(after="x"),
    lambda d: d["changes"][0].update(id="../workflows"),
])
def test_an_edited_plan_file_is_refused_whole(tmp_path, edit):
    api = FakeApi([{"id": "w1", "name": "Old", "message": "m"}])
    path, data = _saved_plan(tmp_path, api, [], prune=True)
    edit(data)
    path.write_text(json.dumps(data))
    with pytest.raises(PlanError):
        Plan.load(str(path))


def test_a_plan_whose_delete_points_at_another_workflow_is_refused_at_apply(tmp_path):
    api = FakeApi([{"id": "w1", "name": "Old", "message": "m"}, {"id": "w2", "name": "Precious", "message": "m"}])
    plan = make_plan([D("Precious", "m")], api.workflows.values(), api_url="u", prune=True)
    (delete,) = plan.of("delete")
    # A hand-edited plan: the delete still names "Old" but now points at "Precious".
    plan = plan.with_(changes=(dataclasses.replace(delete, id="w2"),))
    with pytest.raises(PlanError, match="Precious"):
        plan.check_targets(api.workflows.values())
