"""The pull-request plan comment and its review protocol.

One comment per pull request and scope (environments, path, config), found by a hidden
marker *and* its author (the trusted login: the token's own). Its head carries, per
environment section, the plan fingerprint, one short hash per change and the remote's
fingerprint; apply on merge and the merge-queue check read exactly those::

    <!-- voicebot-sync-plan:staging,production:workflows -->
    <!-- voicebot-sync-plan-env: staging -->              (only with several environments)
    <!-- voicebot-sync-plan-fingerprint: sha256:… -->
    <!-- voicebot-sync-plan-changes: d695133ef546 … -->
    <!-- voicebot-sync-plan-remote: sha256:… -->
    <!-- voicebot-sync-plan-env: production -->
    …
    ### voicebot-sync plan (staging)

Only the head holds markers: the rendered plan below it could quote anything.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any, Sequence

from ..text.escaping import md_text
from .rest import GitHubApi
from .runner import DEFAULT_TRUSTED_COMMENTER, Runner, cut_bytes

COMMENT_LIMIT = 65_536  # characters: GitHub refuses a longer issue comment
MARKER = "<!-- voicebot-sync-plan:{scope} -->"
ENV = "<!-- voicebot-sync-plan-env: {env} -->"
ENV_RE = re.compile(r"^<!-- voicebot-sync-plan-env: ([\w./:@ +=,-]+) -->$")
FINGERPRINT = "<!-- voicebot-sync-plan-fingerprint: {fingerprint} -->"
FINGERPRINT_RE = re.compile(r"<!-- voicebot-sync-plan-fingerprint: (sha256:[0-9a-f]{64}) -->")
CHANGES = "<!-- voicebot-sync-plan-changes: {hashes} -->"
CHANGES_RE = re.compile(r"<!-- voicebot-sync-plan-changes: ([0-9a-f ]*) -->")
REMOTE = "<!-- voicebot-sync-plan-remote: {fingerprint} -->"
REMOTE_RE = re.compile(r"<!-- voicebot-sync-plan-remote: (sha256:[0-9a-f]{64}) -->")


def safe(text: str) -> str:
    """Nothing that could end the HTML comment or break the line."""
    text = re.sub(r"[^\w./:@ +=,-]", "_", text)
    while "--" in text:
        text = text.replace("--", "-")
    return text


def scope_for(runner: Runner, environments: Sequence[str] | None = None) -> str:
    """One comment per environment list and path (and config file, when given), so two
    configurations in a repo don't fight over one comment. Plan and apply must agree on it."""
    env = runner.env
    names = ",".join(environments) if environments else (env.get("VOICEBOT_ENV") or "")
    scope = f"{names or 'default'}:{' '.join(env.get('VS_PATH', '').split()) or 'workflows'}"
    if env.get("VOICEBOT_SYNC_CONFIG"):
        scope += f":{env['VOICEBOT_SYNC_CONFIG']}"
    return safe(scope)


def marker_for(runner: Runner, environments: Sequence[str] | None = None) -> str:
    """The hidden marker of this scope's plan comment."""
    return MARKER.format(scope=scope_for(runner, environments))


# -- writing ---------------------------------------------------------------------------


def _head(env: str | None, plan, with_changes: bool) -> str:
    lines = [ENV.format(env=safe(env))] if env is not None else []
    lines.append(FINGERPRINT.format(fingerprint=plan.plan_fingerprint))
    if with_changes:
        lines.append(CHANGES.format(hashes=" ".join(c.fingerprint for c in plan.changes)))
    lines.append(REMOTE.format(fingerprint=plan.remote_fingerprint))
    return "\n".join(lines) + "\n"


def refusal_note(plan) -> str:
    """A sentence for a plan the share guards would refuse: the numbers, and how to apply it anyway."""
    return (f"**Apply would refuse this plan:** {md_text(plan.refusal)}. Review it, then set `force: true` "
            "on the apply step to apply it anyway.")


def sections_body(sections: Sequence[tuple[str | None, Any]], marker: str, rate_limit: str | None = None,
                  run_url: str | None = None, commit: str | None = None) -> str:
    """The Markdown plans (one section per environment; ``None``: the one plan) with their hidden markers,
    cut on block boundaries to GitHub's comment limit.

    The per-change hashes let apply on merge accept exactly the reviewed changes, or a subset
    of them (what remains after a stopped apply). Plans too big for them to fit carry their
    fingerprints alone, and apply then requires exactly those plans."""
    from ..output.markdown import render_markdown

    head = marker + "\n" + "".join(_head(env, plan, True) for env, plan in sections)
    if len(head) > COMMENT_LIMIT // 2:
        head = marker + "\n" + "".join(_head(env, plan, False) for env, plan in sections)
    where = f"[job summary]({run_url})" if run_url else "job summary"
    prints = ", ".join(f"{env + ' ' if env else ''}`{plan.plan_fingerprint[:19]}…`" for env, plan in sections)
    of = f"Plan of commit `{commit[:7]}`, fingerprint" if commit else "Reviewed plan"
    tail = f"\n_{of} {prints}: apply on merge refuses a different plan. Full plan: the {where}._\n"
    room = (COMMENT_LIMIT - len(head) - len(tail)) // max(len(sections), 1)
    bodies = []
    for env, plan in sections:
        extra = "\n" + refusal_note(plan) + "\n" if plan.refusal else ""
        title = f"voicebot-sync plan ({env})" if env else "voicebot-sync plan"
        text = render_markdown(plan, rate_limit=rate_limit, title=title, **_previews(plan), max_chars=max(room - len(extra) - 2, 200))
        bodies.append(cut_bytes(text + extra, room - 1))
    text = head + "\n".join(bodies) + tail
    return text if len(text) <= COMMENT_LIMIT else head + cut_bytes("\n".join(bodies), COMMENT_LIMIT - len(head) - len(tail)) + tail


def comment_body(plan, marker: str, rate_limit: str | None = None, run_url: str | None = None,
                 commit: str | None = None) -> str:
    """The comment for one plan (see ``sections_body``)."""
    return sections_body([(None, plan)], marker, rate_limit, run_url, commit)


def failure_body(marker: str, problems: str, run_url: str | None = None, commit: str | None = None) -> str:
    """The plan comment when the latest plan failed: no fingerprint, so nothing of an older plan
    stays on display as if it were current, and apply on merge refuses until a plan succeeds."""
    where = f"[job summary]({run_url})" if run_url else "job summary"
    of = f" for commit `{commit[:7]}`" if commit else ""
    return cut_bytes(f"{marker}\n### voicebot-sync plan failed\n\nThe latest plan{of} failed; see the annotations "
                     f"and the {where}.\n\n{problems}\n", COMMENT_LIMIT)


# -- finding it --------------------------------------------------------------------------


def _login(comment: dict[str, Any]) -> str:
    return str((comment.get("user") or {}).get("login") or "")


def plan_comments(comments: list[dict[str, Any]], marker: str, trusted: str = DEFAULT_TRUSTED_COMMENTER
                  ) -> tuple[dict[str, Any] | None, list[dict[str, Any]]]:
    """(the plan comment, the look-alikes ignored): the first comment that begins with the marker
    (a reply quoting it does not) *and* was written by the trusted login (the token's own, by default
    github-actions[bot]). Anyone can post a comment that begins with the marker and carries fingerprints;
    such a comment is never read as a review and never updated."""
    found = [c for c in comments if (c.get("body") or "").startswith(marker)]
    mine = [c for c in found if _login(c).lower() == trusted.lower()]
    return (mine[0] if mine else None), [c for c in found if c not in mine]


def plan_comment(comments: list[dict[str, Any]], marker: str, trusted: str = DEFAULT_TRUSTED_COMMENTER
                 ) -> dict[str, Any] | None:
    """The plan comment (see ``plan_comments``). The plan step updates this one and apply reads this one."""
    return plan_comments(comments, marker, trusted)[0]


def ignored_note(ignored: list[dict[str, Any]], trusted: str) -> str | None:
    """A sentence for the summary about comments that look like the plan comment but are not the trusted login's."""
    if not ignored:
        return None
    logins = sorted({_login(c) or "unknown" for c in ignored})
    who = ", ".join(md_text(login) for login in logins)
    return (f"Ignored {len(ignored)} comment(s) that begin with the plan marker but were written by {who}, "
            f"not by {md_text(trusted)} (the only author whose plan comment counts as the review; "
            "set the `trusted-commenter` input when the token is a GitHub App's or a user's).")


def upsert_comment(api: GitHubApi, number: int, body: str, marker: str, trusted: str = DEFAULT_TRUSTED_COMMENTER,
                   notes: list[str] | None = None) -> str:
    """Update the plan comment found by its marker and author, or create it: 'created' or 'updated'.
    Someone else's comment is never updated; ``notes`` gets a sentence about any that was ignored."""
    comment, ignored = plan_comments(api.comments(number), marker, trusted)
    note = ignored_note(ignored, trusted)
    if note and notes is not None:
        notes.append(note)
    if comment is not None:
        api.update_comment(comment["id"], body)
        return "updated"
    api.create_comment(number, body)
    return "created"


# -- reading the review ---------------------------------------------------------------------


@dataclass
class Section:
    """What one environment's section of the plan comment says was reviewed."""

    fingerprint: str | None = None
    changes: list[str] | None = None
    remote: str | None = None

    @property
    def has_plan(self) -> bool:
        return self.fingerprint is not None or self.changes is not None


@dataclass
class Reviewed:
    """The pull request a commit came from, and what its plan comment says was reviewed, per environment
    (``""``: a comment of one plan, without environment sections)."""

    number: int | None
    sections: dict[str, Section] = field(default_factory=dict)
    ignored: list[dict[str, Any]] = field(default_factory=list)

    def section(self, env: str | None = None) -> Section:
        return self.sections.get(safe(env) if env else "") or Section()

    @property
    def fingerprint(self) -> str | None:
        return self.section().fingerprint

    @property
    def changes(self) -> list[str] | None:
        return self.section().changes

    @property
    def has_plan(self) -> bool:
        return any(s.has_plan for s in self.sections.values())


def parse_sections(body: str) -> dict[str, Section]:
    """The sections of a plan comment's head (everything before its first heading)."""
    head = body.split("\n### ", 1)[0]
    sections: dict[str, Section] = {}
    current = ""
    for line in head.splitlines():
        if m := ENV_RE.match(line):
            current = m.group(1)
            continue
        section = sections.setdefault(current, Section())
        if m := FINGERPRINT_RE.fullmatch(line):
            section.fingerprint = m.group(1)
        elif m := CHANGES_RE.fullmatch(line):
            section.changes = m.group(1).split()
        elif m := REMOTE_RE.fullmatch(line):
            section.remote = m.group(1)
    return {name: s for name, s in sections.items() if s.has_plan}


def merged_pull(pulls: list[dict[str, Any]], sha: str) -> dict[str, Any] | None:
    """The pull request that brought ``sha``: merged as exactly it, else merged, else any."""
    for test in (lambda p: p.get("merge_commit_sha") == sha and p.get("merged_at"),
                 lambda p: p.get("merged_at"), lambda p: True):
        for pull in pulls:
            if test(pull):
                return pull
    return None


def reviewed_on(api: GitHubApi, number: int, marker: str, trusted: str = DEFAULT_TRUSTED_COMMENTER) -> Reviewed:
    """What the trusted login's plan comment on pull request ``number`` says was reviewed."""
    comment, ignored = plan_comments(api.comments(number), marker, trusted)
    if comment is None:
        return Reviewed(number, ignored=ignored)
    return Reviewed(number, parse_sections(comment["body"]), ignored)


def reviewed_plan(api: GitHubApi, sha: str, marker: str, trusted: str = DEFAULT_TRUSTED_COMMENTER) -> Reviewed:
    """What the trusted login's plan comment on the pull request that brought ``sha`` says was reviewed."""
    pull = merged_pull(api.pulls_for_commit(sha), sha) if sha else None
    if pull is None:
        return Reviewed(None)
    return reviewed_on(api, pull["number"], marker, trusted)


def _previews(plan) -> dict:
    """Each created or changed message as a patient hears it (when the plan knows its definitions)."""
    examples, limits = plan.previews()
    return {"examples": examples, "limits": limits}
