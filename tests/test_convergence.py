"""Property: for any definitions and any remote, apply the plan and plan again: no changes.

Runs against the emulator in-process with its server quirks on (trailing
whitespace trimmed, null descriptions, fields of its own), so normalisation is
tested against a server that does not echo exactly what it was sent."""

import httpx
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from voicebot_sync.api.client import VoicebotClient
from voicebot_sync.emulator import Emulator, make_wsgi_app
from voicebot_sync.apply.executor import Executor
from voicebot_sync.core.planner import make_plan

from conftest import PROPERTY_EXAMPLES
from fakes import FakeDefinition

names = st.sampled_from([f"Workflow {c}" for c in "ABCDEFGH"])
text = st.text(alphabet=st.sampled_from(list("ab [name] \n\t.")), min_size=1, max_size=40).filter(lambda t: t.strip())
types = st.sampled_from(["ROBOCALL", "CONVERSATION"])
descriptions = st.one_of(st.none(), st.just(""), text)
options = st.one_of(st.none(), st.dictionaries(st.sampled_from(["1", "2", "3"]), st.sampled_from(["Yes", "No", "Later "]), min_size=1))


@st.composite
def workflow(draw, name=names):
    fields = {"name": draw(name), "message": draw(text), "workflow_type": draw(types)}
    description = draw(descriptions)
    if description is not None:
        fields["description"] = description
    if draw(st.booleans()):
        fields["include_reply"] = draw(st.booleans())
    opts = draw(options)
    if opts:
        fields["response_options"] = opts
    return fields


definition_sets = st.lists(workflow(), max_size=6, unique_by=lambda w: w["name"])
remote_sets = st.lists(workflow(), max_size=6, unique_by=lambda w: w["name"])


@settings(max_examples=PROPERTY_EXAMPLES or 60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(definitions=definition_sets, remote=remote_sets, prune=st.booleans())
def test_apply_then_plan_again_shows_no_changes(definitions, remote, prune):
    emulator = Emulator(quirks=True)
    for fields in remote:
        emulator.add_workflow(**fields)
    client = VoicebotClient("http://emulator/voicebot/v1", None, transport=httpx.WSGITransport(app=make_wsgi_app(emulator)))
    defs = [FakeDefinition(**{"message": d["message"], **d}) for d in definitions]

    plan = make_plan(defs, client.list_workflows(), api_url="x", prune=prune)
    report = Executor(client).run(plan)
    assert report.complete, report.to_json()
    assert report.requests == len(plan.changes) + 1

    again = make_plan(defs, client.list_workflows(), api_url="x", prune=prune)
    assert again.changes == (), [c.to_json() for c in again.changes]
    if prune:
        assert sorted(w["name"] for w in emulator.workflows) == sorted(d["name"] for d in definitions)
