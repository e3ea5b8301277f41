"""GitHub Actions glue: annotations, outputs, job summary, the PR plan comment,
and the check that apply does only what reviewers saw.

``python -m voicebot_sync.github validate|plan|apply`` is what ``action.yml``
runs. Inputs arrive as environment variables (``VS_*`` and the tool's own
``VOICEBOT_*``); the key only ever through the environment. The tool itself runs
as a child process, exactly as a user would run it, and this module reads its
JSON plan and report.

Pieces, from the bottom up:

* ``annotation`` and ``Runner``: workflow commands, ``$GITHUB_OUTPUT`` (multiline-safe),
  ``$GITHUB_STEP_SUMMARY`` (kept under GitHub's 1 MiB), the event file.
* ``GitHubApi``: the four REST endpoints used (list/create/update issue comments,
  pull requests of a commit) over httpx, with an injectable transport.
* ``comment_body`` / ``upsert_comment`` / ``reviewed_plan``: one plan comment per
  pull request and scope, found by a hidden marker, carrying the plan fingerprint
  and one short hash per change.
* ``step_validate`` / ``step_plan`` / ``step_apply``: the action's steps.
"""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import tempfile
import threading
import uuid
from dataclasses import dataclass, field
from typing import Any, Mapping

from .. import doors
from ..escaping import actions_data, actions_property, md_code, md_text
from ..redaction import redact, register_secret

COMMENT_LIMIT = 65_536  # characters: GitHub refuses a longer issue comment
SUMMARY_LIMIT = 1_000_000  # bytes: GitHub drops a step summary over 1024k, whole
MARKER = "<!-- voicebot-sync-plan:{scope} -->"
FINGERPRINT = "<!-- voicebot-sync-plan-fingerprint: {fingerprint} -->"
FINGERPRINT_RE = re.compile(r"<!-- voicebot-sync-plan-fingerprint: (sha256:[0-9a-f]{64}) -->")
CHANGES = "<!-- voicebot-sync-plan-changes: {hashes} -->"
CHANGES_RE = re.compile(r"<!-- voicebot-sync-plan-changes: ([0-9a-f ]*) -->")
# What render_markdown appends when it cuts a plan; the comment turns it into a link.
CUT_POINTER = "_The plan is cut here to fit; the full plan is in the job summary._"
# The login whose plan comments count as reviewed plans: the job token's own (GITHUB_TOKEN).
DEFAULT_TRUSTED_COMMENTER = "github-actions[bot]"
# The tool's own annotation lines on its stdout, relayed as workflow commands (anything else is plain log text).
_OWN_ANNOTATION = re.compile(r"^::(error|warning|notice)( [^:\n]*)?::")


def annotation(level: str, file: str, line: int, message: str) -> str:
    """``::error file=F,line=L::message``, escaped the way the runner expects, and redacted."""
    props = f"file={actions_property(file)}"
    if line:
        props += f",line={int(line)}"
    return redact(f"::{level} {props}::{actions_data(message)}")


def _code(text: Any) -> str:
    """Inline code in Markdown (a list item or a sentence) that the text inside cannot close."""
    return md_code(str(text).replace("\n", " "))


# -- the runner's files ------------------------------------------------------------


class Runner:
    """The files and conventions of a GitHub Actions runner, read from ``environ``."""

    def __init__(self, environ: Mapping[str, str] | None = None, out=None, err=None):
        self.env = dict(os.environ if environ is None else environ)
        self.out = out or sys.stdout
        self.err = err or sys.stderr

    def command(self, line: str) -> None:
        """One of our own workflow commands on stdout, where the runner reads them: redacted, and
        past the stdout door's ``::`` guard (``doors.workflow_command``) when stdout is that door."""
        line = line.rstrip("\n")
        if self.out is sys.stdout:
            doors.workflow_command(line)
        elif isinstance(self.out, doors.SafeStream):
            self.out.command(line)
        else:
            self.out.write(redact(line.replace("\n", " ")) + "\n")
            self.out.flush()

    def log(self, text: str) -> None:
        """Outside text for the log (the tool's output): through stdout as it is (the door guards it)."""
        if text:
            self.out.write(text if text.endswith("\n") else text + "\n")
            self.out.flush()

    def relay(self, stdout: str) -> None:
        """The tool's stdout: its own annotation lines as workflow commands, everything else as log text."""
        for line in stdout.splitlines():
            if _OWN_ANNOTATION.match(line):
                self.command(line)
            else:
                self.log(line)

    def mask(self, value: str | None) -> None:
        for line in (value or "").splitlines():
            for part in {line, line.strip()}:
                if part.strip():
                    self.command(f"::add-mask::{part}")

    def error(self, message: str, title: str | None = None, level: str = "error") -> None:
        props = f" title={actions_property(title)}" if title else ""
        self.command(redact(f"::{level}{props}::{actions_data(message)}"))

    def set_output(self, name: str, value: Any) -> None:
        """Multiline-safe: ``name<<DELIMITER`` ... ``DELIMITER``; the value redacted."""
        text = redact(str(value).lower() if isinstance(value, bool) else str(value))
        path = self.env.get("GITHUB_OUTPUT")
        if not path:
            self.command(f"{name}={actions_data(text)}")
            return
        delimiter = f"ghadelimiter_{uuid.uuid4().hex}"
        while delimiter in text:  # pragma: no cover - a random 128-bit value
            delimiter = f"ghadelimiter_{uuid.uuid4().hex}"
        doors.write_text(path, f"{name}<<{delimiter}\n{text}\n{delimiter}\n", mode="a")

    def summary(self, markdown: str) -> None:
        """Append to the job summary (redacted), never past GitHub's limit (it would drop the whole summary)."""
        path = self.env.get("GITHUB_STEP_SUMMARY")
        if not path:
            return
        text = redact(markdown.rstrip("\n")) + "\n\n"
        used = os.path.getsize(path) if os.path.exists(path) else 0
        if used + len(text.encode("utf-8")) > SUMMARY_LIMIT:
            text = _cut_bytes(text, SUMMARY_LIMIT - used - 200) + \
                "\n_The summary is cut here (GitHub's 1 MiB limit); the full text is in this step's log._\n\n"
            if used + len(text.encode("utf-8")) > SUMMARY_LIMIT:
                return
        doors.write_text(path, text, mode="a")

    @property
    def event(self) -> dict[str, Any]:
        path = self.env.get("GITHUB_EVENT_PATH")
        if not path or not os.path.exists(path):
            return {}
        try:
            with open(path, encoding="utf-8") as fh:
                data = json.load(fh)
        except (OSError, ValueError):
            return {}
        return data if isinstance(data, dict) else {}

    @property
    def event_name(self) -> str:
        return self.env.get("GITHUB_EVENT_NAME", "")

    @property
    def pull_request_number(self) -> int | None:
        if self.event_name not in ("pull_request", "pull_request_target"):
            return None
        pr = self.event.get("pull_request") or {}
        return pr.get("number") or self.event.get("number")

    @property
    def sha(self) -> str:
        """The commit this run is for: GITHUB_SHA, else the push event's ``after``."""
        return self.env.get("GITHUB_SHA") or str(self.event.get("after") or "")

    @property
    def head_sha(self) -> str:
        """The commit a pull request's run plans (its head), else the run's commit."""
        head = (self.event.get("pull_request") or {}).get("head") or {}
        return str(head.get("sha") or self.sha)

    @property
    def run_url(self) -> str | None:
        """The run's page, whose summary holds the full plan."""
        repo, run = self.env.get("GITHUB_REPOSITORY"), self.env.get("GITHUB_RUN_ID")
        if not repo or not run:
            return None
        return f"{self.env.get('GITHUB_SERVER_URL', 'https://github.com').rstrip('/')}/{repo}/actions/runs/{run}"

    @property
    def temp(self) -> str:
        return self.env.get("RUNNER_TEMP") or "."

    def workdir(self) -> str:
        """A folder of this step's own under RUNNER_TEMP (plan file, reviewed hashes): two uses of the
        action in one job, or a re-run on a self-hosted runner, never read or overwrite each other's."""
        if not hasattr(self, "_workdir"):
            os.makedirs(self.temp, exist_ok=True)
            step = re.sub(r"[^\w.-]", "_", self.env.get("GITHUB_ACTION", ""))[:40]
            self._workdir = tempfile.mkdtemp(prefix=f"voicebot-sync-{step + '-' if step else ''}", dir=self.temp)
        return self._workdir

    @property
    def trusted_commenter(self) -> str:
        """The login whose plan comment counts (the token's own): ``trusted-commenter``, else github-actions[bot]."""
        return (self.env.get("VS_TRUSTED_COMMENTER") or "").strip() or DEFAULT_TRUSTED_COMMENTER


def _cut_bytes(text: str, limit: int) -> str:
    """At most ``limit`` UTF-8 bytes, cut at a line end, with any open code fence closed."""
    data = text.encode("utf-8")
    if len(data) <= limit:
        return text
    cut = data[: max(limit - 8, 0)].decode("utf-8", "ignore")
    cut = cut[: cut.rfind("\n") + 1] if "\n" in cut else ""
    if sum(1 for line in cut.splitlines() if line.startswith("```")) % 2:
        cut += "```\n"
    return cut


# -- the GitHub REST API -------------------------------------------------------------


class GitHubError(Exception):
    """The GitHub API refused or failed; ``status`` says how (None: it could not be reached)."""

    def __init__(self, message: str, status: int | None = None):
        self.status = status
        super().__init__(message)


class GitHubApi:
    """The few REST endpoints the action uses, over httpx (transport injectable for tests)."""

    PER_PAGE = 100

    def __init__(self, token: str, repository: str, base_url: str = "https://api.github.com", *, transport=None):
        import httpx

        self.repository = repository
        self._http = httpx.Client(
            base_url=base_url.rstrip("/"), transport=transport, timeout=30,
            headers={"Authorization": f"Bearer {token}", "Accept": "application/vnd.github+json",
                     "X-GitHub-Api-Version": "2022-11-28", "User-Agent": "voicebot-sync-action"},
        )

    def close(self) -> None:
        self._http.close()

    def _request(self, method: str, path: str, **kw):
        import httpx

        if isinstance(kw.get("json"), dict) and isinstance(kw["json"].get("body"), str):
            # Every text the action sends to GitHub (a comment body) leaves redacted.
            kw["json"] = {**kw["json"], "body": redact(kw["json"]["body"])}
        try:
            response = self._http.request(method, path, **kw)
        except httpx.HTTPError as exc:
            raise GitHubError(redact(f"GitHub API unreachable: {type(exc).__name__}: {exc}")) from exc
        if response.status_code >= 400:
            try:
                message = response.json().get("message", "")
            except (ValueError, AttributeError):
                message = response.text[:200]
            raise GitHubError(redact(f"GitHub API {method} {response.url.path}: HTTP {response.status_code} "
                                     f"{message}".rstrip()), response.status_code)
        return response

    def _call(self, method: str, path: str, **kw) -> Any:
        response = self._request(method, path, **kw)
        try:
            return response.json() if response.content else None
        except ValueError as exc:
            raise GitHubError(f"GitHub API {method} {path}: the answer is not JSON", response.status_code) from exc

    def _pages(self, path: str) -> list[dict[str, Any]]:
        """Every item of a paginated list: follows ``Link: rel="next"`` (on GitHub's own host only,
        the token goes with it); without a Link header, asks for the next page after a full one."""
        found: list[dict[str, Any]] = []
        url: str = path
        page, params = 1, {"per_page": self.PER_PAGE, "page": 1}
        for _ in range(1000):
            response = self._request("GET", url, params=params)
            batch = response.json()
            if not isinstance(batch, list):
                raise GitHubError(f"GitHub API GET {path}: expected a list", response.status_code)
            found.extend(batch)
            following = response.links.get("next", {}).get("url")
            if following:
                import httpx

                if httpx.URL(following).host != self._http.base_url.host:
                    raise GitHubError(f"GitHub API GET {path}: refusing to follow a next page on another host")
                url, params = following, None
            elif "link" not in response.headers and len(batch) >= self.PER_PAGE and params is not None:
                page += 1
                params = {"per_page": self.PER_PAGE, "page": page}
            else:
                break
        return found

    def comments(self, number: int) -> list[dict[str, Any]]:
        return self._pages(f"/repos/{self.repository}/issues/{number}/comments")

    def create_comment(self, number: int, body: str) -> dict[str, Any]:
        return self._call("POST", f"/repos/{self.repository}/issues/{number}/comments", json={"body": body})

    def update_comment(self, comment_id: int, body: str) -> dict[str, Any]:
        return self._call("PATCH", f"/repos/{self.repository}/issues/comments/{comment_id}", json={"body": body})

    def pulls_for_commit(self, sha: str) -> list[dict[str, Any]]:
        return self._pages(f"/repos/{self.repository}/commits/{sha}/pulls")


def api_from(runner: Runner, transport=None) -> GitHubApi | None:
    token = runner.env.get("VS_GITHUB_TOKEN") or runner.env.get("GITHUB_TOKEN")
    repository = runner.env.get("GITHUB_REPOSITORY")
    if not token or not repository:
        return None
    return GitHubApi(token, repository, runner.env.get("GITHUB_API_URL") or "https://api.github.com", transport=transport)


# -- the plan comment ---------------------------------------------------------------


def marker_for(runner: Runner) -> str:
    """The hidden marker of this scope's plan comment."""
    return MARKER.format(scope=scope_for(runner))


def scope_for(runner: Runner) -> str:
    """One comment per environment and path (and config file, when given), so two
    configurations in a repo don't fight over one comment. Plan and apply must agree on it."""
    env = runner.env
    scope = f"{env.get('VOICEBOT_ENV') or 'default'}:{' '.join(env.get('VS_PATH', '').split()) or 'workflows'}"
    if env.get("VOICEBOT_SYNC_CONFIG"):
        scope += f":{env['VOICEBOT_SYNC_CONFIG']}"
    # Nothing that could end the HTML comment or break the line.
    scope = re.sub(r"[^\w./:@ +=,-]", "_", scope)
    while "--" in scope:
        scope = scope.replace("--", "-")
    return scope


def comment_body(plan, marker: str, rate_limit: str | None = None, run_url: str | None = None,
                 commit: str | None = None) -> str:
    """The Markdown plan with hidden markers, cut on block boundaries to GitHub's comment limit.

    The per-change hashes let apply on merge accept exactly the reviewed changes, or a
    subset of them (what remains after a stopped apply). A plan too big for them to fit
    carries its fingerprint alone, and apply then requires exactly that plan."""
    from ..render import render_markdown

    fingerprint = FINGERPRINT.format(fingerprint=plan.plan_fingerprint)
    changes = CHANGES.format(hashes=" ".join(c.fingerprint for c in plan.changes))
    head = f"{marker}\n{fingerprint}\n{changes}\n"
    if len(head) > COMMENT_LIMIT // 2:
        head = f"{marker}\n{fingerprint}\n"
    where = f"[job summary]({run_url})" if run_url else "job summary"
    of = f"Plan of commit `{commit[:7]}`, fingerprint" if commit else "Reviewed plan"
    tail = (f"\n_{of} `{plan.plan_fingerprint[:19]}…`: apply on merge refuses a different plan. "
            f"Full plan: the {where}._\n")
    # Room for the link that replaces the cut pointer.
    room = COMMENT_LIMIT - len(head) - len(tail) - len(where)
    body = render_markdown(plan, rate_limit=rate_limit, max_chars=room)
    body = body.replace(CUT_POINTER, f"_The plan is cut here to fit GitHub's comment limit; the full plan is in the {where}._")
    text = head + body + tail
    return text if len(text) <= COMMENT_LIMIT else head + _cut_bytes(body, room) + tail


def failure_body(marker: str, problems: str, run_url: str | None = None, commit: str | None = None) -> str:
    """The plan comment when the latest plan failed: no fingerprint, so nothing of an older plan
    stays on display as if it were current, and apply on merge refuses until a plan succeeds."""
    where = f"[job summary]({run_url})" if run_url else "job summary"
    of = f" for commit `{commit[:7]}`" if commit else ""
    return _cut_bytes(f"{marker}\n### voicebot-sync plan failed\n\nThe latest plan{of} failed; see the annotations "
                      f"and the {where}.\n\n{problems}\n", COMMENT_LIMIT)


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
    """The plan comment (see ``plan_comments``). The plan step updates this one and apply reads this one,
    so they always agree."""
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


@dataclass
class Reviewed:
    """The pull request a commit came from, and what its plan comment says was reviewed."""

    number: int | None
    fingerprint: str | None = None
    changes: list[str] | None = None
    ignored: list[dict[str, Any]] = field(default_factory=list)

    @property
    def has_plan(self) -> bool:
        return self.fingerprint is not None or self.changes is not None


def merged_pull(pulls: list[dict[str, Any]], sha: str) -> dict[str, Any] | None:
    """The pull request that brought ``sha``: merged as exactly it, else merged, else any."""
    for test in (lambda p: p.get("merge_commit_sha") == sha and p.get("merged_at"),
                 lambda p: p.get("merged_at"), lambda p: True):
        for pull in pulls:
            if test(pull):
                return pull
    return None


def reviewed_plan(api: GitHubApi, sha: str, marker: str, trusted: str = DEFAULT_TRUSTED_COMMENTER) -> Reviewed:
    """What the trusted login's plan comment on the pull request that brought ``sha`` says was reviewed."""
    pull = merged_pull(api.pulls_for_commit(sha), sha) if sha else None
    if pull is None:
        return Reviewed(None)
    number = pull["number"]
    comment, ignored = plan_comments(api.comments(number), marker, trusted)
    if comment is None:
        return Reviewed(number, ignored=ignored)
    # Only the head of the comment holds markers; the rendered plan below could quote anything.
    head = comment["body"].split("\n### ", 1)[0]
    fingerprint, changes = FINGERPRINT_RE.search(head), CHANGES_RE.search(head)
    return Reviewed(number, fingerprint.group(1) if fingerprint else None, changes.group(1).split() if changes else None,
                    ignored)


# -- running the tool ----------------------------------------------------------------


@dataclass
class Result:
    """A finished run of the tool: exit code, its stdout, and its ``error:`` lines."""

    code: int
    stdout: str
    errors: list[str] = field(default_factory=list)


def _truthy(value: str | None) -> bool:
    return str(value or "").strip().lower() in ("1", "true", "yes", "on")


def _cli(runner: Runner, *args: str) -> Result:
    """Run voicebot-sync as a user would. Its stderr (progress, errors) streams to the log
    as it comes — an apply may run for hours — and its ``error:`` lines are kept.

    A cancelled job (or one at its timeout) gets SIGINT, then SIGTERM, on the step's own
    process only (action.yml ``exec``s this module for that): they are passed on to the
    tool, which stops cleanly and reports what remains, so the summary still says so."""
    # Empty inputs mean "not given"; the GitHub token is none of the tool's business.
    env = {k: v for k, v in runner.env.items()
           if not (k.startswith("VOICEBOT_") and v == "") and k not in ("VS_GITHUB_TOKEN", "GITHUB_TOKEN", "VS_API_KEY")}
    env["GITHUB_ACTIONS"] = "true"
    env.setdefault("PYTHONUNBUFFERED", "1")
    # Its own session: a Ctrl-C in a terminal reaches it once, through us, not twice.
    proc = subprocess.Popen([sys.executable, "-m", "voicebot_sync.cli", *args], env=env, text=True,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, encoding="utf-8", errors="replace",
                            start_new_session=os.name == "posix")

    def forward(signum, frame):
        try:
            if proc.poll() is None:
                proc.send_signal(signum)
        except (OSError, ValueError):
            pass

    previous = {}
    if threading.current_thread() is threading.main_thread():
        previous = {s: signal.signal(s, forward) for s in (signal.SIGINT, signal.SIGTERM)}
    try:
        chunks: list[str] = []
        reader = threading.Thread(target=lambda: chunks.append(proc.stdout.read()), daemon=True)
        reader.start()
        errors = []
        for line in proc.stderr:
            runner.err.write(line)
            runner.err.flush()
            if line.startswith("error: "):
                errors.append(line[len("error: "):].strip())
        code = proc.wait()
        reader.join()
    finally:
        for s, handler in previous.items():
            signal.signal(s, handler)
    return Result(code, "".join(chunks), errors)


def _paths(runner: Runner) -> list[str]:
    return runner.env.get("VS_PATH", "").split()


def _prune(runner: Runner) -> list[str]:
    return ["--prune"] if _truthy(runner.env.get("VS_PRUNE")) else []


def _problems(stdout: str) -> list[str]:
    """The ``FILE:LINE: message`` lines of the tool's stdout (not the annotations beside them)."""
    return [line for line in stdout.splitlines() if line.strip() and not line.startswith("::")]


def _failed(runner: Runner, result: Result, command: str, *, limit: int = 50) -> str:
    """Annotate and describe a run that failed (validation problems carry their own annotations)."""
    annotated = "::error file=" in result.stdout
    level = "warning" if result.code == 3 else "error"
    for message in result.errors:
        if not annotated:
            runner.error(message, title=f"voicebot-sync {command}", level=level)
    parts = ["\n".join(f"> {md_text(m)}" for m in result.errors) or "> see the step's log"]
    problems = _problems(result.stdout) if annotated else []
    if problems:
        more = [f"- … and {len(problems) - limit} more (see the log)"] if len(problems) > limit else []
        parts.append("\n".join([*(f"- {_code(p)}" for p in problems[:limit]), *more]))
    if (runner.event_name.startswith("pull_request") and not runner.env.get("VOICEBOT_API_KEY")
            and any("API key" in m for m in result.errors)):
        parts.append("_Pull requests from forks get no secrets, so there is no API key to plan with._")
    return "\n\n".join(parts)


def _plan_outputs(runner: Runner, plan, path: str) -> None:
    s = plan.summary
    for name, value in (("changes", plan.has_changes), ("create", s["create"]), ("update", s["update"]),
                        ("delete", s["delete"]), ("plan-file", path), ("plan-fingerprint", plan.plan_fingerprint)):
        runner.set_output(name, value)


def _summary_markdown(plan, rate_limit: str | None, title: str = "voicebot-sync plan") -> str:
    """The Markdown plan, cut (on block boundaries) to what a job summary takes."""
    from ..render import render_markdown

    limit = SUMMARY_LIMIT - 10_000  # room for the notes that follow it
    text, chars = render_markdown(plan, rate_limit=rate_limit, title=title), None
    while len(data := text.encode("utf-8")) > limit:
        chars = min(len(text), limit) * limit // len(data) - 1_000
        text = render_markdown(plan, rate_limit=rate_limit, title=title, max_chars=max(chars, 1_000))
        if chars <= 1_000:
            break
    return text.replace(CUT_POINTER, "_The plan is cut here to fit the job summary; the full plan is in this step's log "
                                     "and in the plan file (output `plan-file`)._")


# -- the steps -----------------------------------------------------------------------


def step_validate(runner: Runner, transport=None) -> int:
    result = _cli(runner, "validate", *_paths(runner))
    runner.relay(result.stdout)  # the problems and their ::error annotations
    runner.set_output("exit-code", result.code)
    if result.code == 0:
        lines = _problems(result.stdout)
        runner.summary(f"### voicebot-sync validate\n\n{lines[-1] if lines else 'Valid.'}")
    else:
        runner.summary(f"### voicebot-sync validate failed\n\n{_failed(runner, result, 'validate', limit=200)}")
    return result.code


def step_plan(runner: Runner, transport=None) -> int:
    from ..plan import Plan
    from ..render import render_text

    path = os.path.join(runner.workdir(), "plan.json")
    result = _cli(runner, "plan", *_paths(runner), *_prune(runner), "--format", "json", "--out", path,
                  "--detailed-exitcode")
    failed = result.code not in (0, 2)
    runner.set_output("exit-code", result.code if failed else 0)
    if failed:
        runner.relay(result.stdout)  # validation problems and their ::error annotations
        problems = _failed(runner, result, "plan")
        runner.summary(f"### voicebot-sync plan failed\n\n{problems}")
        number = runner.pull_request_number
        if number and _truthy(runner.env.get("VS_COMMENT", "true")):
            marker = marker_for(runner)
            body = failure_body(marker, problems, runner.run_url, runner.head_sha)
            _post(runner, transport, number, body, marker)
        return result.code
    try:
        plan = Plan.load(path)
    except Exception as exc:  # noqa: BLE001 - one clear line, never a traceback
        message = f"could not read the plan the tool wrote: {exc}"
        runner.error(message, title="voicebot-sync plan")
        runner.set_output("exit-code", 1)
        runner.summary(f"### voicebot-sync plan failed\n\n> {md_text(message)}")
        return 1
    rate_limit = runner.env.get("VOICEBOT_RATE_LIMIT") or None
    runner.log(render_text(plan, rate_limit=rate_limit))
    _plan_outputs(runner, plan, path)
    runner.summary(_summary_markdown(plan, rate_limit))
    number = runner.pull_request_number
    if number and _truthy(runner.env.get("VS_COMMENT", "true")):
        marker = marker_for(runner)
        body = comment_body(plan, marker, rate_limit, runner.run_url, runner.head_sha)
        _post(runner, transport, number, body, marker)
    return 0


def _post(runner: Runner, transport, number: int, body: str, marker: str) -> None:
    """Create or update the plan comment; say how it went in the summary and the log."""
    notes: list[str] = []
    note = _comment(api_from(runner, transport), number, body, marker, runner.trusted_commenter, notes)
    for text in (*notes, note):
        runner.summary(text)
        runner.log(text)


def _comment(api: GitHubApi | None, number: int, body: str, marker: str,
             trusted: str = DEFAULT_TRUSTED_COMMENTER, notes: list[str] | None = None) -> str:
    if api is None:
        return "_No GitHub token: the plan was not posted on the pull request._"
    try:
        return f"_Plan comment {upsert_comment(api, number, body, marker, trusted, notes)} on #{number}._"
    except GitHubError as exc:
        if exc.status in (403, 404):
            # Forks get a read-only token; the plan is still in this summary.
            return (f"_This token may not comment on #{number} (HTTP {exc.status}, e.g. a pull request from a fork, or "
                    "no `pull-requests: write` permission): the plan is only in this summary._")
        return f"_Could not post the plan on #{number}: {md_text(exc)}_"
    finally:
        api.close()


def step_apply(runner: Runner, transport=None) -> int:
    """Apply what was reviewed: with the reviewed change hashes the CLI makes its own plan
    (one list request) and refuses any change not among them; a subset passes."""
    from ..plan import Plan

    notes: list[str] = []
    reviewed, refusal = _reviewed_changes(runner, transport, notes)
    if refusal:
        return _refuse(runner, refusal, notes)
    path = os.path.join(runner.workdir(), "plan.json")
    budget = ["--max-duration", runner.env["VS_MAX_DURATION"]] if runner.env.get("VS_MAX_DURATION") else []
    if reviewed is not None and reviewed.changes is None:
        # A plan too big for its change hashes: require exactly the reviewed plan, then apply that saved plan.
        result = _cli(runner, "plan", *_paths(runner), *_prune(runner), "--format", "json", "--out", path)
        if result.code != 0:
            runner.relay(result.stdout)
            return _apply_failed(runner, result, notes)
        plan = Plan.load(path)
        if plan.plan_fingerprint != reviewed.fingerprint:
            return _refuse(runner, f"Refusing to apply: the plan (`{plan.plan_fingerprint[:19]}…`) is not the plan reviewed "
                                   f"on #{reviewed.number} (`{(reviewed.fingerprint or '')[:19]}…`). The remote or the "
                                   "definitions changed after review; nothing was changed. Re-run the pull request's plan "
                                   "and review it, or set allow-plan-change: true.", notes, plan)
        args = ["apply", "--plan", path, "--yes", "--format", "json", "--out", path, *budget]
    else:
        args = ["apply", *_paths(runner), *_prune(runner), "--yes", "--format", "json", "--out", path, *budget]
        if reviewed is not None:
            reviewed_file = os.path.join(runner.workdir(), "reviewed.txt")
            with open(reviewed_file, "w", encoding="utf-8") as fh:
                fh.write("\n".join(reviewed.changes or []) + "\n")
            args += ["--reviewed", reviewed_file]
    result = _cli(runner, *args)
    try:
        report = json.loads(result.stdout) if result.stdout.strip() else None
    except ValueError:
        report = None
        runner.relay(result.stdout)  # validation problems and their ::error annotations
    plan = Plan.load(path) if os.path.exists(path) else None
    if plan is not None:
        runner.set_output("plan-file", path)
        runner.set_output("plan-fingerprint", plan.plan_fingerprint)
    if reviewed is not None and plan is not None:
        if reviewed.changes is not None:
            unreviewed = [c for c in plan.changes if c.fingerprint not in set(reviewed.changes)]
            if report is None and unreviewed:
                first = unreviewed[0]
                return _refuse(runner, f"Refusing to apply: {len(unreviewed)} change(s) are not in the plan reviewed on "
                                       f"#{reviewed.number}, e.g. {first.action} {_code(first.name)}. The remote or the "
                                       "definitions changed after review; nothing was changed. Re-run the pull request's "
                                       "plan and review it, or set allow-plan-change: true.", notes, plan)
        notes.append(_reviewed_note(reviewed, plan))
    if report is None:
        return _apply_failed(runner, result, notes)
    return _report_apply(runner, result.code, report, plan, notes)


def _reviewed_note(reviewed: Reviewed, plan) -> str:
    fingerprint = f"`{(reviewed.fingerprint or '')[:19]}…`"
    if plan.plan_fingerprint == reviewed.fingerprint:
        return f"Reviewed on #{reviewed.number}: this is exactly the reviewed plan ({fingerprint})."
    if not plan.changes:
        return f"Reviewed on #{reviewed.number} ({fingerprint}): nothing of it is left to apply."
    total = len(reviewed.changes or [])
    return (f"Reviewed on #{reviewed.number} ({fingerprint}): {len(plan.changes)} of its {total} changes remain "
            "(the others were applied already); every one of them was reviewed.")


def _refuse(runner: Runner, message: str, notes: list[str], plan=None) -> int:
    """Apply refused before changing anything: exit 1, the reason and the plan it would have applied."""
    text = "\n\n".join(["### voicebot-sync apply refused", *notes, message])
    if plan is not None:
        text += "\n\n" + _summary_markdown(plan, runner.env.get("VOICEBOT_RATE_LIMIT") or None,
                                           title="The plan it would have applied")
    runner.summary(text)
    runner.error(message, title="voicebot-sync apply")
    runner.set_output("exit-code", 1)
    runner.set_output("complete", False)
    return 1


def _reviewed_changes(runner: Runner, transport, notes: list[str]) -> tuple[Reviewed | None, str | None]:
    """The reviewed changes of the pull request this commit came from (None: no check), or a refusal.

    Every apply is checked — a push, the scheduled follow-up, a manual run — since each
    applies the commit's definitions; ``allow-plan-change: true`` skips the check."""
    if _truthy(runner.env.get("VS_ALLOW_PLAN_CHANGE")):
        notes.append("`allow-plan-change` is true: applying the current plan without comparing it with a reviewed one.")
        return None, None
    api = api_from(runner, transport)
    if api is None:
        return None, ("Refusing to apply: there is no GitHub token to find the reviewed plan with; nothing was changed. "
                      "Pass github-token (the default is the job's token, which needs `pull-requests: read`), "
                      "or set allow-plan-change: true.")
    sha = runner.sha
    try:
        reviewed = reviewed_plan(api, sha, marker_for(runner), runner.trusted_commenter)
    except GitHubError as exc:
        return None, (f"Refusing to apply: could not read the reviewed plan ({exc}); nothing was changed. "
                      "Give the job `pull-requests: read`, or set allow-plan-change: true to apply anyway.")
    finally:
        api.close()
    if reviewed.number is None:
        notes.append(f"No pull request found for commit `{sha[:7]}` (a direct push): applied the plan as it is now.")
        return None, None
    note = ignored_note(reviewed.ignored, runner.trusted_commenter)
    if note:
        notes.append(note)
    if not reviewed.has_plan:
        return None, (f"Refusing to apply: #{reviewed.number} carries no reviewed voicebot-sync plan for "
                      f"{_code(scope_for(runner))}; nothing was changed. Run the plan check on pull requests "
                      "(with the same path, config and environment), or set allow-plan-change: true.")
    return reviewed, None


def _apply_failed(runner: Runner, result: Result, notes: list[str]) -> int:
    runner.set_output("exit-code", result.code or 1)
    runner.set_output("complete", False)
    if result.code == 1:
        what = "Apply failed before it reported a result (a refusal changes nothing):"
    else:
        what = (f"Apply was stopped (exit {result.code}) before it could report: the log shows what was done; "
                "run it again to finish.")
    runner.summary("\n\n".join(["### voicebot-sync apply failed", *notes, what, _failed(runner, result, "apply")]))
    return result.code or 1


def _report_apply(runner: Runner, code: int, report: dict, plan, notes: list[str]) -> int:
    complete = bool(report.get("complete")) and code == 0
    remaining, failures = report.get("remaining") or [], report.get("failures") or []
    runner.set_output("exit-code", code)
    runner.set_output("complete", complete)
    runner.set_output("changes", bool(plan and plan.has_changes))
    for key, output in (("created", "create"), ("updated", "update"), ("deleted", "delete"), ("failed", "failed")):
        runner.set_output(output, report.get(key, 0))
    runner.set_output("remaining", len(remaining))
    lines = ["### voicebot-sync apply", "", *[n + "\n" for n in notes]]
    if plan is not None and not plan.has_changes:
        lines.append("**No changes.** The remote matches the definitions.")
    else:
        lines.append(f"**{'Complete' if complete else 'Not complete'}:** {report.get('created', 0)} created, "
                     f"{report.get('updated', 0)} updated, {report.get('deleted', 0)} deleted, "
                     f"{report.get('failed', 0)} failed, {len(remaining)} remaining.")
    lines += ["", f"Requests: {report.get('requests', 0)} (minimum {report.get('minimum_requests', '?')}), "
                  f"{report.get('rate_limited', 0)} rate-limited, {report.get('retries', 0)} retries; "
                  f"{report.get('wall_seconds', 0):.0f}s (the rate limit allowed {report.get('least_seconds', 0):.0f}s)."]
    done = [o for o in report.get("outcomes") or [] if o.get("status") != "failed"]
    if done:
        lines += ["", f"<details><summary>Done ({len(done)})</summary>", "",
                  *[f"- {o.get('status')} {_code(o.get('name'))}"
                    + (f" (id {_code(o['id'])})" if o.get("id") else "") for o in done], "", "</details>"]
    if failures:
        lines += ["", f"**Failed ({len(failures)}):**", "",
                  *[f"- {f['action']} {_code(f['name'])}: {md_text(f.get('error', ''))}" for f in failures]]
    if remaining:
        lines += ["", f"**Not started ({len(remaining)}; {report.get('stopped') or 'stopped'}):**", "",
                  *[f"- {r['action']} {_code(r['name'])}" for r in remaining[:500]],
                  *([f"- … and {len(remaining) - 500} more"] if len(remaining) > 500 else []),
                  "", "Run the apply workflow again (or let the scheduled run do it): the next plan holds just what "
                      "remains, and it is still checked against the reviewed plan."]
    runner.summary("\n".join(lines))
    if code not in (0, 3) and report.get("failed"):
        runner.error(f"{report['failed']} operation(s) failed; see the job summary", title="voicebot-sync apply")
    if code == 3:
        runner.error(f"Apply stopped before finishing ({len(remaining)} remaining): run it again",
                     title="voicebot-sync apply", level="warning")
        if not _truthy(runner.env.get("VS_FAIL_ON_INCOMPLETE")):
            return 0
    return code


def step_drift(runner: Runner, transport=None) -> int:
    """``voicebot-sync drift``: the Markdown report into the summary, output ``drift``; passes on drift
    (a warning annotation) unless ``fail-on-drift``, fails (1) when the report could not be made."""
    result = _cli(runner, "drift", *_paths(runner), "--format", "markdown")
    runner.set_output("exit-code", result.code)
    if result.code not in (0, 2):
        runner.relay(result.stdout)
        runner.summary(f"### voicebot-sync drift failed\n\n{_failed(runner, result, 'drift')}")
        return result.code or 1
    drift = result.code == 2
    runner.set_output("drift", drift)
    runner.log(result.stdout)
    runner.summary(result.stdout.strip() or ("### voicebot-sync drift\n\n" + ("Drift found." if drift else "No drift.")))
    if drift:
        runner.error("Drift: the remote differs from the definitions (changed outside git); see the job summary",
                     title="voicebot-sync drift", level="warning")
        if _truthy(runner.env.get("VS_FAIL_ON_DRIFT")):
            return 2
    return 0


STEPS = {"validate": step_validate, "plan": step_plan, "apply": step_apply, "drift": step_drift}

# The action's inputs, passed by action.yml under names of their own, and the tool's variables they set.
# An empty input sets nothing, so a job-level VOICEBOT_* variable still counts (GitHub gives a step every
# declared env entry, an empty one too, and an empty step-level entry would hide the job's value).
INPUT_VARIABLES = {
    "VS_API_URL": "VOICEBOT_API_URL",
    "VS_RATE_LIMIT": "VOICEBOT_RATE_LIMIT",
    "VS_CONFIG": "VOICEBOT_SYNC_CONFIG",
    "VS_ENVIRONMENT": "VOICEBOT_ENV",
}
DEFAULT_KEY_VARIABLE = "VOICEBOT_API_KEY"


def key_variable(environ: Mapping[str, str], cwd: str | None = None) -> str:
    """The variable the tool reads the key from: the ``api_key_env`` of the selected environment of the
    config file (or of its top), else VOICEBOT_API_KEY. When the config cannot be read the tool reports
    that itself; the key then goes to VOICEBOT_API_KEY."""
    try:
        from ..config import load_settings

        settings = load_settings({"insecure": True}, {k: v for k, v in environ.items() if v != ""}, cwd)
        name = str(getattr(settings, "api_key_env", "") or "")
    except Exception:  # noqa: BLE001 - any problem here is the tool's to report, with its own words
        return DEFAULT_KEY_VARIABLE
    return name if re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", name) else DEFAULT_KEY_VARIABLE


def action_environment(environ: Mapping[str, str], out=None) -> dict[str, str]:
    """The step's environment with the action's inputs applied: non-empty ``VS_*`` inputs set the tool's
    ``VOICEBOT_*`` variables; the ``api-key`` input (``VS_API_KEY``, stripped) goes to the variable the tool
    will read it from (``key_variable``), so ``environment: production`` with ``api_key_env: VOICEBOT_PROD_KEY``
    works. The key is masked, then it, the key in use and the GitHub token are registered for redaction."""
    env = dict(environ)
    key = env.pop("VS_API_KEY", "")
    # Mask first: once a secret is registered (reading the config may do it), every line carrying it is
    # redacted, its mask line too. (A job-level variable from a secret is masked by the runner itself.)
    Runner(env, out=out).mask(key)
    for source, target in INPUT_VARIABLES.items():
        value = env.pop(source, "")
        if value.strip():
            env[target] = value.strip()
    register_secret(key)
    if key.strip():
        env[key_variable(env)] = key.strip()
    secrets = [env.get(key_variable(env)), env.get(DEFAULT_KEY_VARIABLE), env.get("VS_GITHUB_TOKEN"), env.get("GITHUB_TOKEN")]
    for secret in secrets:
        register_secret(secret)
    return env


def main(argv: list[str] | None = None) -> int:
    import argparse

    parser = argparse.ArgumentParser(
        prog="python -m voicebot_sync.github",
        description="The steps of the voicebot-sync GitHub Action. Inputs come from the environment "
                    "(VS_PATH, VS_PRUNE, VS_COMMENT, VS_MAX_DURATION, VS_FAIL_ON_INCOMPLETE, VS_ALLOW_PLAN_CHANGE, "
                    "VS_FAIL_ON_DRIFT, VS_TRUSTED_COMMENTER, VS_GITHUB_TOKEN; VS_API_URL, VS_API_KEY, VS_RATE_LIMIT, "
                    "VS_CONFIG, VS_ENVIRONMENT when set, else the tool's own VOICEBOT_* variables).")
    parser.add_argument("step", choices=sorted(STEPS), help="what to run")
    args = parser.parse_args(argv)
    # Every write to stdout/stderr is redacted, and no line of outside text can begin a workflow command.
    doors.install(actions=os.environ.get("GITHUB_ACTIONS") == "true")
    runner = Runner(action_environment(os.environ))
    return STEPS[args.step](runner)


if __name__ == "__main__":
    sys.exit(main())
