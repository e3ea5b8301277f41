import pytest

from voicebot_sync.errors import MatchError, PlanError, StalePlan, TooMuchChange, UnsafePlan
from voicebot_sync.core.model import Scope
from voicebot_sync.core.plan import Guards, Plan, remote_fingerprint
from voicebot_sync.core.planner import make_plan

from fakes import FakeDefinition as D


def remote(name, message="Hello [name]", id=None, **extra):
    return {"id": id or f"id-{name}", "name": name, "message": message, "description": "", "workflow_type": "ROBOCALL", **extra}


def test_new_definition_is_a_create_with_normalised_fields():
    plan = make_plan([D("A", "Hi [name]\n")], [], api_url="u")
    (change,) = plan.changes
    assert change.action == "create"
    assert change.after == {"name": "A", "description": "", "workflow_type": "ROBOCALL", "message": "Hi [name]"}


def test_equal_workflow_is_unchanged_despite_server_noise():
    server = remote("A", "Hello [name]", description=None, created_at="2026-01-01", status="ACTIVE", owner_id="o1")
    plan = make_plan([D("A", "Hello [name]\n", description="  ")], [server], api_url="u")
    assert plan.changes == () and plan.unchanged == 1


def test_update_carries_only_the_changed_fields():
    plan = make_plan([D("A", "new", description="d")], [remote("A", "old", description="d")], api_url="u")
    (change,) = plan.changes
    assert (change.action, change.id, change.before, change.after) == ("update", "id-A", {"message": "old"}, {"message": "new"})


def test_optional_fields_are_compared_only_when_the_file_sets_them():
    server = remote("A", include_reply=True, response_options={"1": "Yes", "2": "No"})
    assert make_plan([D("A")], [server], api_url="u").changes == ()
    plan = make_plan([D("A", response_options={1: "Yes", 2: "Nope"})], [server], api_url="u")
    assert plan.changes[0].after == {"response_options": {"1": "Yes", "2": "Nope"}}


def test_option_one_two_spelling_compares_equal_to_response_options():
    server = remote("A", option_one="Yes", option_two="No")
    assert make_plan([D("A", response_options={"1": "Yes", "2": "No"})], [server], api_url="u").changes == ()


def test_unmanaged_workflow_untouched_without_prune():
    plan = make_plan([D("A")], [remote("A"), remote("Hand made")], api_url="u")
    assert plan.changes == () and plan.unmanaged == ({"name": "Hand made", "id": "id-Hand made"},)
    pruned = make_plan([D("A")], [remote("A"), remote("Hand made")], api_url="u", prune=True)
    assert [(c.action, c.name) for c in pruned.changes] == [("delete", "Hand made")] and pruned.unmanaged == ()


def test_pinned_id_makes_a_name_change_a_rename():
    plan = make_plan([D("New name", id="id-Old")], [remote("Old")], api_url="u", prune=True)
    assert [(c.action, c.after) for c in plan.changes] == [("update", {"name": "New name"})]


def test_pinned_id_claims_its_workflow_before_name_matching():
    # "Old" is renamed by id; another definition now called "Old" must be a create, not hijack it.
    plan = make_plan([D("Renamed", id="id-Old"), D("Old")], [remote("Old")], api_url="u")
    assert sorted(c.action for c in plan.changes) == ["create", "update"]


def test_missing_pinned_id_is_an_error_not_a_create():
    with pytest.raises(MatchError) as info:
        make_plan([D("A", id="nope", source="w/a.yaml", line=3)], [], api_url="u")
    assert str(info.value.problems[0]) == "w/a.yaml:3: 'A' pins id nope, which does not exist remotely"


def test_two_differing_remote_workflows_with_the_name_is_an_error_naming_both_ids_and_what_differs():
    with pytest.raises(MatchError) as info:
        make_plan([D("A")], [remote("A", "one", id="x1"), remote("A", "two", id="x2")], api_url="u")
    problem = str(info.value.problems[0])
    assert "x1, x2" in problem and "differ in message" in problem and "id:" in problem


def test_identical_remote_duplicates_adopt_the_oldest_and_prune_deletes_the_others():
    dups = [remote("A", id="x2", created_at="2026-01-02"), remote("A", id="x1", created_at="2026-01-01"),
            remote("A", id="x3", created_at="2026-01-03")]
    plan = make_plan([D("A")], dups, api_url="u")
    assert plan.changes == () and plan.unchanged == 1
    assert [(w["id"], w["duplicate_of"]) for w in plan.unmanaged] == [("x2", "x1"), ("x3", "x1")]
    assert any("adopted id x1" in n for n in plan.notes)
    pruned = make_plan([D("A")], dups, api_url="u", prune=True)
    assert [(c.action, c.id) for c in pruned.changes] == [("delete", "x2"), ("delete", "x3")]
    # The same choice every time, whatever order the server lists them in.
    assert make_plan([D("A")], list(reversed(dups)), api_url="u", prune=True).changes == pruned.changes


def test_scope_limits_comparison_and_pruning():
    scope = Scope(prefix="team-a/")
    plan = make_plan([D("team-a/x")], [remote("team-a/x", "old"), remote("team-b/y"), remote("team-a/gone")],
                     api_url="u", prune=True, scope=scope)
    assert [(c.action, c.name) for c in plan.changes] == [("update", "team-a/x"), ("delete", "team-a/gone")]
    assert plan.remote_count == 2 and "1 remote workflow outside" in plan.notes[0]


def test_plan_json_round_trip_and_contract_fields():
    plan = make_plan([D("A"), D("B", "new")], [remote("B", "old"), remote("C")], api_url="u",
                     windows=[(6, 60.0), (60, 3600.0)], prune=True)
    data = plan.to_json()
    assert data["summary"] == {"create": 1, "update": 1, "delete": 1, "unchanged": 0, "unmanaged": 0}
    assert data["requests"] == 4 and data["estimated_seconds"] == 0
    assert set(data) >= {"format_version", "api_url", "remote_fingerprint", "summary", "changes", "unmanaged", "requests", "estimated_seconds"}
    again = Plan.from_json(data)
    assert again.to_json() == data


def test_edited_plan_file_is_refused():
    data = make_plan([D("A")], [], api_url="u").to_json()
    data["changes"][0]["after"]["message"] = "sneaky"
    with pytest.raises(PlanError, match="edited"):
        Plan.from_json(data)


def test_fingerprint_ignores_fields_no_request_sets_and_order():
    a = [remote("A", created_at="1", status="ACTIVE"), remote("B")]
    b = [remote("B"), remote("A", created_at="2", status="INACTIVE")]
    assert remote_fingerprint(a) == remote_fingerprint(b)
    assert remote_fingerprint(a) != remote_fingerprint([remote("A", "changed"), remote("B")])


def test_stale_plan_is_refused():
    plan = make_plan([D("A")], [], api_url="u")
    plan.check_fresh(remote_fingerprint([]))
    with pytest.raises(StalePlan, match="run plan again"):
        plan.check_fresh(remote_fingerprint([remote("X")]))


class TestPlanSafety:
    """Each threshold walked one step at a time (octoDNS style)."""

    def plan(self, existing, deletes=0, updates=0, creates=0):
        rem = [remote(f"W{i}", "old" if i < updates else "same") for i in range(existing)]
        defs = [D(f"W{i}", "new" if i < updates else "same") for i in range(deletes, existing)]
        defs += [D(f"N{i}") for i in range(creates)]
        # Deletes take the first `deletes` workflows, updates the next ones.
        rem = [remote(f"W{i}", "old" if deletes <= i < deletes + updates else "same") for i in range(existing)]
        defs = [D(f"W{i}", "new" if i < deletes + updates else "same") for i in range(deletes, existing)] + [D(f"N{i}") for i in range(creates)]
        return make_plan(defs, rem, api_url="u", prune=True)

    def test_deletes_exactly_at_threshold_pass(self):
        self.plan(10, deletes=3).raise_if_unsafe()

    def test_one_delete_past_threshold_is_refused_with_the_numbers(self):
        with pytest.raises(TooMuchChange, match=r"delete 4 of 10 remote workflows: 40.00% is over the 30.00% threshold.*--force"):
            self.plan(10, deletes=4).raise_if_unsafe()

    def test_updates_at_and_past_threshold(self):
        self.plan(10, updates=5).raise_if_unsafe()
        with pytest.raises(TooMuchChange, match="update 6 of 10"):
            self.plan(10, updates=6).raise_if_unsafe()

    def test_creates_dont_count_against_us(self):
        self.plan(10, creates=50).raise_if_unsafe()

    def test_below_min_existing_shares_do_not_apply(self):
        self.plan(9, deletes=9).raise_if_unsafe()

    def test_thresholds_are_configurable(self):
        with pytest.raises(TooMuchChange):
            self.plan(4, deletes=1).raise_if_unsafe(Guards(max_delete_share=0.2, min_existing=2))

    def test_prune_with_no_definitions_is_always_refused(self):
        plan = make_plan([], [remote("A"), remote("B")], api_url="u", prune=True)
        with pytest.raises(UnsafePlan, match="no definitions found in workflows/: refusing to delete 2 remote workflows"):
            plan.raise_if_empty_prune("workflows/")


def test_plan_fingerprint_is_what_the_plan_does_not_where_it_was_defined():
    one = make_plan([D("A", source="a.yaml", line=1)], [], api_url="u")
    moved = make_plan([D("A", source="moved/a.yaml", line=7)], [], api_url="u")
    other = make_plan([D("A", "different")], [], api_url="u")
    assert one.plan_fingerprint == moved.plan_fingerprint != other.plan_fingerprint
