import json

from voicebot_sync.core.plan import Plan
from voicebot_sync.core.planner import make_plan
from voicebot_sync.output.render import render_json, render_markdown, render_text

from fakes import FakeDefinition as D

WINDOWS = [(6, 60.0), (60, 3600.0)]


def sample_plan() -> Plan:
    remote = [
        {"id": "6f1c", "name": "Follow-up", "message": "Hello [name]\nline two\nbye", "description": "old", "workflow_type": "ROBOCALL"},
        {"id": "91ab", "name": "Old", "message": "m", "description": "", "workflow_type": "ROBOCALL"},
        {"id": "77e0", "name": "Made by hand", "message": "m", "description": "", "workflow_type": "ROBOCALL"},
    ]
    defs = [D("Reminder", "Hi [name]", line=2), D("Follow-up", "Hello [name]\nline 2\nbye", description="new")]
    plan = make_plan(defs, remote, api_url="https://api.test/voicebot/v1", windows=WINDOWS)
    # Prune only "Old": keep "Made by hand" unmanaged by planning it separately.
    pruned = make_plan(defs + [D("Made by hand", "m")], remote, api_url=plan.api_url, windows=WINDOWS, prune=True)
    return pruned.with_(unmanaged=({"name": "Made by hand", "id": "77e0"},))


def test_text_plan_reads_like_terraform():
    text = render_text(sample_plan(), rate_limit="6/1m,60/1h")
    assert '  + create "Reminder"  (workflows/reminder.yaml:2)' in text
    assert '  ~ update "Follow-up" (id 6f1c)' in text
    assert '      description: "old" -> "new"' in text
    assert "        -line two" in text and "        +line 2" in text
    assert '  - delete "Old" (id 91ab)' in text
    assert '  ? "Made by hand" (id 77e0)' in text
    assert "Plan: 1 to add, 1 to change, 1 to destroy." in text
    assert "Apply needs 4 requests; the rate limit 6/1m,60/1h allows them in 0s at the least." in text


def test_no_changes_says_so():
    plan = make_plan([], [], api_url="u")
    assert "No changes. The remote matches the definitions." in render_text(plan)


def test_markdown_has_table_and_collapsible_diffs():
    md = render_markdown(sample_plan())
    assert "**Plan: 1 to add, 1 to change, 1 to destroy.**" in md
    assert "| + | create | Reminder |" in md
    assert "<details><summary>~ update <b>Follow-up</b></summary>" in md
    assert "```diff" in md and "+line 2" in md
    assert "Made by hand" in md


def test_markdown_is_cut_to_a_limit_with_a_pointer():
    plan = make_plan([D(f"W{i}", "x" * 200) for i in range(200)], [], api_url="u")
    md = render_markdown(plan, max_chars=5000)
    assert len(md) <= 5000 and "full plan is in the job summary" in md
    assert md.count("```") % 2 == 0  # never half a code fence


def test_json_is_the_contract_object():
    data = json.loads(render_json(sample_plan()))
    assert data["format_version"] == 1 and data["requests"] == 4
    assert [c["action"] for c in data["changes"]] == ["create", "update", "delete"]
    assert data["changes"][1]["before"] == {"description": "old", "message": "Hello [name]\nline two\nbye"}
    assert "after" not in data["changes"][2] and "before" not in data["changes"][0]
