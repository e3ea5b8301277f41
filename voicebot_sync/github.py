"""GitHub Actions glue: annotations, outputs, job summary, the PR plan comment,
and the check that apply does only what reviewers saw.

``python -m voicebot_sync.github plan|apply|validate`` is what ``action.yml``
runs. Inputs arrive as environment variables (``VS_*`` and the tool's own
``VOICEBOT_*``); the key only ever through the environment.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import uuid
from dataclasses import dataclass
from typing import Any, Mapping

COMMENT_LIMIT = 65_536
MARKER = "<!-- voicebot-sync-plan:{scope} -->"
FINGERPRINT = "<!-- voicebot-sync-plan-fingerprint: {fingerprint} -->"
FINGERPRINT_RE = re.compile(r"<!-- voicebot-sync-plan-fingerprint: (sha256:[0-9a-f]{64}) -->")
CHANGES = "<!-- voicebot-sync-plan-changes: {hashes} -->"
CHANGES_RE = re.compile(r"<!-- voicebot-sync-plan-changes: ([0-9a-f ]*) -->")


def _escape_data(text: str) -> str:
    return text.replace("%", "%25").replace("\r", "%0D").replace("\n", "%0A")


def _escape_property(text: str) -> str:
    return _escape_data(text).replace(":", "%3A").replace(",", "%2C")


def annotation(level: str, file: str, line: int, message: str) -> str:
    """``::error file=F,line=L::message``, escaped the way the runner expects."""
    props = f"file={_escape_property(file)}"
    if line:
        props += f",line={line}"
    return f"::{level} {props}::{_escape_data(message)}"


# -- the runner's files ------------------------------------------------------------


class Runner:
    """The files and conventions of a GitHub Actions runner, read from ``environ``."""

    def __init__(self, environ: Mapping[str, str] | None = None, out=None):
        self.env = dict(os.environ if environ is None else environ)
        self.out = out or sys.stdout

    def mask(self, value: str | None) -> None:
        if value:
            self.out.write(f"::add-mask::{value}\n")

    def set_output(self, name: str, value: Any) -> None:
        """Multiline-safe: ``name<<DELIMITER`` ... ``DELIMITER``."""
        text = str(value).lower() if isinstance(value, bool) else str(value)
        path = self.env.get("GITHUB_OUTPUT")
        if not path:
            self.out.write(f"{name}={text}\n")
            return
        delimiter = f"ghadelimiter_{uuid.uuid4().hex}"
        with open(path, "a", encoding="utf-8") as fh:
            fh.write(f"{name}<<{delimiter}\n{text}\n{delimiter}\n")

    def summary(self, markdown: str) -> None:
        path = self.env.get("GITHUB_STEP_SUMMARY")
        if path:
            with open(path, "a", encoding="utf-8") as fh:
                fh.write(markdown.rstrip("\n") + "\n\n")

    @property
    def event(self) -> dict[str, Any]:
        path = self.env.get("GITHUB_EVENT_PATH")
        if not path or not os.path.exists(path):
            return {}
        with open(path, encoding="utf-8") as fh:
            return json.load(fh)

    @property
    def pull_request_number(self) -> int | None:
        if self.env.get("GITHUB_EVENT_NAME") not in ("pull_request", "pull_request_target"):
            return None
        pr = self.event.get("pull_request") or {}
        return pr.get("number") or self.event.get("number")


# -- the GitHub REST API -------------------------------------------------------------


class GitHubError(Exception):
    """The GitHub API refused or failed; ``status`` says how."""

    def __init__(self, message: str, status: int | None = None):
        self.status = status
        super().__init__(message)


class GitHubApi:
    """The few REST endpoints the action uses, over httpx (transport injectable for tests)."""

    def __init__(self, token: str, repository: str, base_url: str = "https://api.github.com", *, transport=None):
        import httpx

        self.repository = repository
        self._http = httpx.Client(
            base_url=base_url.rstrip("/"), transport=transport, timeout=30,
            headers={"Authorization": f"Bearer {token}", "Accept": "application/vnd.github+json",
                     "X-GitHub-Api-Version": "2022-11-28", "User-Agent": "voicebot-sync-action"},
        )

    def _call(self, method: str, path: str, **kw) -> Any:
        import httpx

        try:
            response = self._http.request(method, path, **kw)
        except httpx.HTTPError as exc:
            raise GitHubError(f"GitHub API unreachable: {exc}") from exc
        if response.status_code >= 400:
            try:
                message = response.json().get("message", "")
            except ValueError:
                message = response.text[:200]
            raise GitHubError(f"GitHub API {method} {path}: HTTP {response.status_code} {message}", response.status_code)
        return response.json() if response.content else None

    def comments(self, number: int) -> list[dict[str, Any]]:
        found, page = [], 1
        while True:
            batch = self._call("GET", f"/repos/{self.repository}/issues/{number}/comments", params={"per_page": 100, "page": page})
            found.extend(batch)
            if len(batch) < 100:
                return found
            page += 1

    def create_comment(self, number: int, body: str) -> dict[str, Any]:
        return self._call("POST", f"/repos/{self.repository}/issues/{number}/comments", json={"body": body})

    def update_comment(self, comment_id: int, body: str) -> dict[str, Any]:
        return self._call("PATCH", f"/repos/{self.repository}/issues/comments/{comment_id}", json={"body": body})

    def pulls_for_commit(self, sha: str) -> list[dict[str, Any]]:
        return self._call("GET", f"/repos/{self.repository}/commits/{sha}/pulls")


def api_from(runner: Runner, transport=None) -> GitHubApi | None:
    token = runner.env.get("VS_GITHUB_TOKEN") or runner.env.get("GITHUB_TOKEN")
    repository = runner.env.get("GITHUB_REPOSITORY")
    if not token or not repository:
        return None
    return GitHubApi(token, repository, runner.env.get("GITHUB_API_URL", "https://api.github.com"), transport=transport)


# -- the plan comment ---------------------------------------------------------------


def marker_for(runner: Runner) -> str:
    """One comment per environment and path, so two configurations in a repo don't fight."""
    scope = f"{runner.env.get('VOICEBOT_ENV') or 'default'}:{runner.env.get('VS_PATH') or 'workflows'}"
    return MARKER.format(scope=scope.replace("--", "-"))


def comment_body(plan, marker: str, rate_limit: str | None = None) -> str:
    """The Markdown plan with hidden markers, cut on block boundaries to GitHub's comment limit."""
    from .render import render_markdown

    # The per-change hashes let apply on merge accept exactly the reviewed changes, or a subset of them.
    hashes = " ".join(c.fingerprint for c in plan.changes)
    head = f"{marker}\n{FINGERPRINT.format(fingerprint=plan.plan_fingerprint)}\n{CHANGES.format(hashes=hashes)}\n"
    tail = f"\n_Reviewed plan `{plan.plan_fingerprint[:19]}…`: apply on merge refuses a different plan._\n"
    return head + render_markdown(plan, rate_limit=rate_limit, max_chars=COMMENT_LIMIT - len(head) - len(tail)) + tail


def upsert_comment(api: GitHubApi, number: int, body: str, marker: str) -> str:
    """Update the plan comment found by its marker, or create it: 'created' or 'updated'."""
    for comment in api.comments(number):
        if marker in (comment.get("body") or ""):
            api.update_comment(comment["id"], body)
            return "updated"
    api.create_comment(number, body)
    return "created"


@dataclass
class Reviewed:
    """The pull request a commit came from, and what its plan comment says was reviewed."""

    number: int | None
    fingerprint: str | None = None
    changes: list[str] | None = None


def reviewed_plan(api: GitHubApi, sha: str, marker: str) -> Reviewed:
    pulls = api.pulls_for_commit(sha)
    merged = [p for p in pulls if p.get("merge_commit_sha") == sha or p.get("merged_at")] or pulls
    if not merged:
        return Reviewed(None)
    number = merged[0]["number"]
    for comment in reversed(api.comments(number)):
        body = comment.get("body") or ""
        if marker in body:
            fingerprint, changes = FINGERPRINT_RE.search(body), CHANGES_RE.search(body)
            return Reviewed(number, fingerprint.group(1) if fingerprint else None,
                            changes.group(1).split() if changes else None)
    return Reviewed(number)


# -- the steps -----------------------------------------------------------------------


def _truthy(value: str | None) -> bool:
    return str(value or "").strip().lower() in ("1", "true", "yes", "on")


def _cli(runner: Runner, *args: str, capture: bool = False) -> subprocess.CompletedProcess:
    """Run voicebot-sync as a user would; its stderr (progress, errors) goes to the log."""
    env = {k: v for k, v in runner.env.items() if not (k.startswith("VOICEBOT_") and v == "")}
    env["GITHUB_ACTIONS"] = "true"
    return subprocess.run([sys.executable, "-m", "voicebot_sync.cli", *args], env=env, text=True,
                          stdout=subprocess.PIPE if capture else None)


def _paths(runner: Runner) -> list[str]:
    return runner.env.get("VS_PATH", "").split()


def _prune(runner: Runner) -> list[str]:
    return ["--prune"] if _truthy(runner.env.get("VS_PRUNE")) else []


def make_plan_file(runner: Runner) -> tuple[int, str]:
    """plan --format json --out FILE; returns (exit code, path). Validation annotations reach the log."""
    path = os.path.join(runner.env.get("RUNNER_TEMP") or ".", "voicebot-sync-plan.json")
    proc = _cli(runner, "plan", *_paths(runner), *_prune(runner), "--format", "json", "--out", path,
                "--detailed-exitcode", capture=True)
    if proc.returncode == 1:
        runner.out.write(proc.stdout)  # problems and their ::error annotations
    return proc.returncode, path


def step_validate(runner: Runner) -> int:
    code = _cli(runner, "validate", *_paths(runner)).returncode
    runner.set_output("exit-code", code)
    return code


def step_plan(runner: Runner, transport=None) -> int:
    from .plan import Plan
    from .render import render_markdown, render_text

    code, path = make_plan_file(runner)
    runner.set_output("exit-code", 1 if code == 1 else 0)
    if code == 1:
        runner.summary("### voicebot-sync plan\n\nThe plan failed: see the annotations and the log.")
        return 1
    plan = Plan.load(path)
    rate_limit = runner.env.get("VOICEBOT_RATE_LIMIT") or None
    runner.out.write(render_text(plan, rate_limit=rate_limit))
    markdown = render_markdown(plan, rate_limit=rate_limit)
    s = plan.summary
    for name, value in (("changes", plan.has_changes), ("create", s["create"]), ("update", s["update"]),
                        ("delete", s["delete"]), ("plan-file", path), ("plan-fingerprint", plan.plan_fingerprint)):
        runner.set_output(name, value)
    runner.summary(markdown)
    number = runner.pull_request_number
    if number and _truthy(runner.env.get("VS_COMMENT", "true")):
        api = api_from(runner, transport)
        note = _comment(api, number, comment_body(plan, marker_for(runner), rate_limit), marker_for(runner))
        runner.summary(note)
        runner.out.write(note + "\n")
    return 0


def _comment(api: GitHubApi | None, number: int, body: str, marker: str) -> str:
    if api is None:
        return "_No GitHub token: the plan was not posted on the pull request._"
    try:
        return f"_Plan comment {upsert_comment(api, number, body, marker)} on #{number}._"
    except GitHubError as exc:
        if exc.status in (403, 404):
            # Forks get a read-only token; the plan is still in this summary.
            return f"_This token may not comment on #{number} (HTTP {exc.status}, e.g. a pull request from a fork): the plan is only in this summary._"
        return f"_Could not post the plan on #{number}: {exc}_"


def step_apply(runner: Runner, transport=None) -> int:
    """Apply with one list: the CLI itself refuses any change that is not in the reviewed plan."""
    from .plan import Plan
    from .render import render_markdown

    reviewed, refusal = _reviewed_changes(runner, transport)
    if refusal:
        return _refuse(runner, refusal)
    path = os.path.join(runner.env.get("RUNNER_TEMP") or ".", "voicebot-sync-plan.json")
    args = ["apply", *_paths(runner), *_prune(runner), "--yes", "--format", "json", "--out", path]
    if reviewed is not None:
        reviewed_file = os.path.join(runner.env.get("RUNNER_TEMP") or ".", "voicebot-sync-reviewed.txt")
        with open(reviewed_file, "w", encoding="utf-8") as fh:
            fh.write("\n".join(reviewed.changes or []) + "\n")
        args += ["--reviewed", reviewed_file]
    if runner.env.get("VS_MAX_DURATION"):
        args += ["--max-duration", runner.env["VS_MAX_DURATION"]]
    if os.path.exists(path):
        os.remove(path)
    proc = _cli(runner, *args, capture=True)
    try:
        report = json.loads(proc.stdout) if proc.stdout.strip() else None
    except ValueError:
        report = None
        runner.out.write(proc.stdout)  # validation problems and their ::error annotations
    plan = Plan.load(path) if os.path.exists(path) else None
    if report is None and plan is not None and reviewed is not None:
        unreviewed = [c for c in plan.changes if c.fingerprint not in set(reviewed.changes or [])]
        if unreviewed:
            return _refuse(runner, f"Refusing to apply: {len(unreviewed)} change(s) are not in the plan reviewed on "
                                   f"#{reviewed.number}, e.g. {unreviewed[0].action} `{unreviewed[0].name}`. The remote or the "
                                   "definitions changed after review; nothing was changed. Re-run the pull request's plan and "
                                   "review it, or set allow-plan-change: true.", render_markdown(plan, title="The plan it would have applied"))
    return _report_apply(runner, proc.returncode, report, plan)


def _refuse(runner: Runner, message: str, plan_markdown: str = "") -> int:
    runner.summary(f"### voicebot-sync apply refused\n\n{message}\n\n{plan_markdown}")
    runner.out.write(f"::error::{_escape_data(message)}\n")
    runner.set_output("exit-code", 1)
    runner.set_output("complete", False)
    return 1


def _reviewed_changes(runner: Runner, transport) -> tuple[Reviewed | None, str | None]:
    """On a push: the reviewed changes of the merged PR (None: no check), or a refusal."""
    if runner.env.get("GITHUB_EVENT_NAME") != "push":
        return None, None
    allow = _truthy(runner.env.get("VS_ALLOW_PLAN_CHANGE"))
    api = api_from(runner, transport)
    if api is None:
        runner.summary("_No GitHub token: applying without checking the reviewed plan._")
        return None, None
    try:
        reviewed = reviewed_plan(api, runner.env.get("GITHUB_SHA", ""), marker_for(runner))
    except GitHubError as exc:
        if allow:
            return None, None
        return None, f"Could not read the reviewed plan ({exc}); nothing was changed. Set allow-plan-change: true to apply anyway."
    if reviewed.number is None:
        runner.summary("_No pull request found for this commit (a direct push): applying the plan as it is now._")
        return None, None
    if allow:
        runner.summary(f"_allow-plan-change is true: applying the current plan without comparing it with #{reviewed.number}'s._")
        return None, None
    if reviewed.changes is None:
        return None, (f"Refusing to apply: #{reviewed.number} carries no reviewed voicebot-sync plan; nothing was changed. "
                      "Set allow-plan-change: true to apply anyway.")
    runner.summary(f"_Applying only changes reviewed on #{reviewed.number} (plan `{(reviewed.fingerprint or '')[:19]}…`)._")
    return reviewed, None


def _report_apply(runner: Runner, code: int, report: dict | None, plan) -> int:
    if code == 1 and report is None:
        runner.set_output("exit-code", 1)
        runner.set_output("complete", False)
        runner.summary("### voicebot-sync apply\n\nApply failed before changing anything: see the annotations and the log.")
        return 1
    complete = bool(report and report.get("complete")) and code == 0
    runner.set_output("exit-code", code)
    runner.set_output("complete", complete)
    runner.set_output("changes", bool(plan and plan.has_changes))
    for key, output in (("created", "create"), ("updated", "update"), ("deleted", "delete"), ("failed", "failed")):
        runner.set_output(output, (report or {}).get(key, 0))
    lines = ["### voicebot-sync apply", ""]
    if report:
        lines.append(f"**{'Complete' if complete else 'Not complete'}:** {report['created']} created, {report['updated']} updated, "
                     f"{report['deleted']} deleted, {report['failed']} failed, {len(report['remaining'])} remaining.")
        lines.append("")
        lines.append(f"Requests: {report['requests']} (minimum {report['minimum_requests']}), {report['rate_limited']} rate-limited, "
                     f"{report['retries']} retries; {report['wall_seconds']:.0f}s (the rate limit allowed {report['least_seconds']:.0f}s).")
        for failure in report["failures"]:
            lines.append(f"- failed: {failure['action']} `{failure['name']}`: {failure.get('error', '')}")
        if report["remaining"]:
            lines += ["", f"Not started ({report['stopped']}):", *[f"- {r['action']} `{r['name']}`" for r in report["remaining"]],
                      "", "Run the apply workflow again (or let the scheduled run do it): the next plan holds just what remains."]
    elif code != 0:
        lines.append("Apply failed before it started: see the log.")
    runner.summary("\n".join(lines))
    if code == 3 and not _truthy(runner.env.get("VS_FAIL_ON_INCOMPLETE")):
        return 0
    return code


STEPS = {"validate": step_validate, "plan": step_plan, "apply": step_apply}


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if len(argv) != 1 or argv[0] not in STEPS:
        sys.stderr.write(f"usage: python -m voicebot_sync.github {{{'|'.join(STEPS)}}}\n")
        return 2
    runner = Runner()
    runner.mask(runner.env.get("VOICEBOT_API_KEY"))
    return STEPS[argv[0]](runner)


if __name__ == "__main__":
    sys.exit(main())
