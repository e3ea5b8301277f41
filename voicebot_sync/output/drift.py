"""Drift: what was changed on the remote outside git, read off a plan.

A plan says what apply would do; drift says the same thing from the other
side, for a scheduled job that opens an issue: which fields of which workflow
differ from the repo, which definitions are missing remotely, and which remote
workflows no definition knows.
"""

from __future__ import annotations

import json
from typing import Any

from ..text.escaping import md_code, md_text, visible
from ..state.applied import missing_words
from ..core.plan import Plan


def _json(value: Any) -> str:
    return visible(json.dumps(value, ensure_ascii=False))


def drift_report(plan: Plan) -> dict[str, Any]:
    differs = [
        {
            "name": c.name, "id": c.id, "source": c.source, "line": c.line,
            "fields": {f: {"repo": (c.after or {}).get(f), "remote": (c.before or {}).get(f)} for f in (c.after or {})},
        }
        for c in plan.of("update")
    ]
    missing = [{"name": c.name, "source": c.source, "line": c.line} for c in plan.of("create")]
    unmanaged = list(plan.unmanaged) + [{"name": c.name, "id": c.id} for c in plan.of("delete")]
    return {
        "drift": bool(differs or missing or unmanaged),
        "api_url": plan.api_url,
        "remote_fingerprint": plan.remote_fingerprint,
        "summary": {"differs": len(differs), "missing": len(missing), "unmanaged": len(unmanaged), "in_sync": plan.unchanged},
        "differs": differs,
        "missing": missing,
        "unmanaged": unmanaged,
    }


def render_drift_text(report: dict[str, Any]) -> str:
    s = report["summary"]
    out = []
    for d in report["differs"]:
        out.append(f"~ \"{visible(d['name'])}\" (id {visible(d['id'])}) differs from {visible(d['source'])}:{d['line']}")
        for field, v in d["fields"].items():
            out.append(f"    {field}: repo {_json(v['repo'])}, remote {_json(v['remote'])}")
    for m in report["missing"]:
        why = missing_words(m)
        out.append(f"+ \"{visible(m['name'])}\" is missing remotely ({visible(m['source'])}:{m['line']})"
                   + (f": {visible(why)}" if why else ""))
    if report["missing"] and report.get("applied_record") == "absent":
        out.append("  (no record of earlier applies on this machine: a fresh CI runner cannot tell deleted from never applied)")
    for u in report["unmanaged"]:
        out.append(f"? \"{visible(u['name'])}\" (id {visible(u['id'])}) exists remotely but in no definition")
    if report["drift"]:
        out.append(f"Drift: {s['differs']} differ, {s['missing']} missing remotely, {s['unmanaged']} not in git; {s['in_sync']} in sync.")
    else:
        out.append(f"No drift: all {s['in_sync']} workflows match the repo.")
    return "\n".join(out) + "\n"


def render_drift_markdown(report: dict[str, Any]) -> str:
    s = report["summary"]
    if not report["drift"]:
        return f"### voicebot-sync drift\n\nNo drift: all {s['in_sync']} workflows match the repo.\n"
    out = [
        "### voicebot-sync drift",
        "",
        f"**{s['differs']} differ, {s['missing']} missing remotely, {s['unmanaged']} not in git; {s['in_sync']} in sync.**",
        "",
        f"Remote: {md_code(report['api_url'])}. Run `voicebot-sync apply` to put the repo's version back, "
        "or change the definitions to keep the remote's.",
        "",
    ]
    if report["differs"]:
        out += ["| workflow | id | field | repo | remote |", "|---|---|---|---|---|"]
        for d in report["differs"]:
            for field, v in d["fields"].items():
                cell = lambda x: md_text(json.dumps(x, ensure_ascii=False)[:200])
                out.append(f"| {md_text(d['name'])} ({md_text(d['source'])}:{d['line']}) | {md_text(d['id'])} | {field} "
                           f"| {cell(v['repo'])} | {cell(v['remote'])} |")
        out.append("")
    if report["missing"]:
        out += _missing_markdown(report["missing"])
    if report["unmanaged"]:
        out.append("**Not in git:** " + ", ".join(f"{md_text(u['name'])} ({md_text(u['id'])})" for u in report["unmanaged"]))
        out.append("")
    return "\n".join(out)


def _missing_markdown(missing: list[dict[str, Any]]) -> list[str]:
    """Missing workflows, told apart where apply left a record: deleted remotely, or not applied yet."""
    gone = [m for m in missing if m.get("applied_here")]
    rest = [m for m in missing if not m.get("applied_here")]
    out = []
    if gone:
        out += ["**Deleted remotely** (applied from here before): "
                + ", ".join(f"{md_text(m['name'])} (was {md_text(m.get('last_id') or 'id unknown')})" for m in gone), ""]
    if rest:
        label = "**Not applied from here** (not applied yet, or from another machine)" if any(
            "applied_here" in m for m in rest) else "**Missing remotely**"
        out += [f"{label}: " + ", ".join(md_text(m['name']) for m in rest), ""]
    return out
