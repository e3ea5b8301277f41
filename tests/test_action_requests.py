"""One list request per environment for each use of the Action: an apply (with the reviewed change hashes,
or with the fingerprint alone of a plan too large for them) and a merge-queue check, counted by the
emulators the steps run against (runner-style, as tests/test_github_action.py runs action.yml)."""

from __future__ import annotations

from voicebot_sync.github.comment import CHANGES_RE

from conftest import write_workflow
from test_github_action import (  # noqa: F401 - fixtures
    SHA, api_url, apply_inputs, github, inputs_for, merge_group_event, pr_event, production_api, repo, reviewed,
    run_action, two_environments,
)


def reads(emulator) -> int:
    """Requests other than writes: the lists (no fault is injected, so nothing else is read)."""
    stats = emulator.stats
    return stats["requests"] - stats["writes"]


def test_an_apply_lists_once_with_the_reviewed_hashes(repo, api_url, github):
    url, emulator = api_url
    gh_url, fake = github
    reviewed(fake, repo, url, gh_url)
    before = reads(emulator)
    code, log, outputs, summary = run_action(repo, apply_inputs(url), event_name="push", github_api=gh_url)
    assert code == 0 and outputs["create"] == "2", log
    assert reads(emulator) - before == 1


def test_an_apply_of_a_plan_reviewed_by_its_fingerprint_alone_lists_once(repo, api_url, github):
    """A plan too large for its change hashes: the fingerprint is checked on the plan apply makes itself."""
    url, emulator = api_url
    gh_url, fake = github
    reviewed(fake, repo, url, gh_url)
    comment = fake.comments[7][0]
    comment["body"] = CHANGES_RE.sub("", comment["body"])
    before = reads(emulator)
    code, log, outputs, summary = run_action(repo, apply_inputs(url), event_name="push", github_api=gh_url)
    assert code == 0 and "this is exactly the reviewed plan" in summary and outputs["create"] == "2", log
    assert reads(emulator) - before == 1
    # Refused (the definitions changed after review): still one list, and nothing written.
    write_workflow(repo / "workflows", "Lab results", "Your results are in.")
    before, writes = reads(emulator), emulator.stats["writes"]
    code, log, outputs, summary = run_action(repo, apply_inputs(url), event_name="push", github_api=gh_url)
    assert code == 1 and "is not the plan reviewed on #7" in summary
    assert "The plan it would have applied" in summary  # the plan apply made was saved for the summary
    assert reads(emulator) - before == 1 and emulator.stats["writes"] == writes


def test_an_apply_and_a_merge_queue_check_list_once_per_environment(repo, api_url, production_api, github):
    (url, staging), (production_url, production) = api_url, production_api
    gh_url, fake = github
    two_environments(repo, production_url)
    (repo / "voicebot-sync.yaml").write_text(f"api_url: {url}\n" + (repo / "voicebot-sync.yaml").read_text())
    reviewed_inputs = inputs_for("", environment="staging,production")
    code, log, _, _ = run_action(repo, reviewed_inputs, event=pr_event(), github_api=gh_url)
    assert code == 0, log
    fake.pulls[SHA] = [{"number": 7, "merge_commit_sha": SHA, "merged_at": "2026-11-25T00:00:00Z"}]
    before = reads(staging), reads(production)
    code, log, outputs, _ = run_action(repo, reviewed_inputs, event_name="merge_group", event=merge_group_event(),
                                       github_api=gh_url)
    assert code == 0 and outputs["matches-review"] == "true", log
    assert (reads(staging) - before[0], reads(production) - before[1]) == (1, 1)
    before = reads(staging), reads(production)
    code, log, outputs, _ = run_action(repo, {**reviewed_inputs, "command": "apply"}, event_name="push",
                                       github_api=gh_url)
    assert code == 0 and outputs["create"] == "4", log
    assert (reads(staging) - before[0], reads(production) - before[1]) == (1, 1)
