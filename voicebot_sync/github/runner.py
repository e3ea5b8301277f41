"""The runner's files and conventions: workflow commands, ``$GITHUB_OUTPUT`` (multiline-safe),
``$GITHUB_STEP_SUMMARY`` (kept under GitHub's 1 MiB), the event file, and the action's inputs
as the step receives them (``VS_*`` variables)."""

from __future__ import annotations

import json
import os
import re
import sys
import tempfile
import uuid
from typing import Any, Mapping

from ..text import sinks
from ..text.escaping import actions_command, actions_data, md_code
from ..text.redaction import redact
from ..text.safejson import load_file

SUMMARY_LIMIT = 1_000_000  # bytes: GitHub drops a step summary over 1024k, whole
# The login whose plan comments count as reviewed plans: the job token's own (GITHUB_TOKEN).
DEFAULT_TRUSTED_COMMENTER = "github-actions[bot]"
# gh-readonly-queue/<base>/pr-<N>-<sha>: the branch GitHub builds a merge group on.
MERGE_GROUP_REF = re.compile(r"(?:^|/)gh-readonly-queue/.+/pr-(\d+)-[0-9a-f]{7,64}$")


def annotation(level: str, file: str, line: int, message: str) -> str:
    """``::error file=F,line=L::message``, escaped the way the runner expects, and redacted."""
    return redact(actions_command(level, message, file=file, line=line))


def code(text: Any) -> str:
    """Inline code in Markdown (a list item or a sentence) that the text inside cannot close."""
    return md_code(str(text).replace("\n", " "))


def truthy(value: str | None) -> bool:
    return str(value or "").strip().lower() in ("1", "true", "yes", "on")


def cut_bytes(text: str, limit: int) -> str:
    """At most ``limit`` UTF-8 bytes, cut at a line end, with any open code fence closed."""
    data = text.encode("utf-8", "backslashreplace")
    if len(data) <= limit:
        return text
    cut = data[: max(limit - 8, 0)].decode("utf-8", "ignore")
    cut = cut[: cut.rfind("\n") + 1] if "\n" in cut else ""
    if sum(1 for line in cut.splitlines() if line.startswith("```")) % 2:
        cut += "```\n"
    return cut


class Runner:
    """The files and conventions of a GitHub Actions runner, read from ``environ``."""

    def __init__(self, environ: Mapping[str, str] | None = None, out=None, err=None):
        self.env = dict(os.environ if environ is None else environ)
        self.out = out or sys.stdout
        self.err = err or sys.stderr

    # -- the log -------------------------------------------------------------------

    def command(self, line: str) -> None:
        """One of our own workflow commands on stdout, where the runner reads them: redacted, and
        past the stdout door's ``::`` guard (``doors.workflow_command``) when stdout is that door."""
        sinks.workflow_command(line.rstrip("\n"), stream=self.out)

    def log(self, text: str) -> None:
        """Outside text for the log: through stdout as it is (the door guards it)."""
        if text:
            self.out.write(text if text.endswith("\n") else text + "\n")
            self.out.flush()

    def note(self, text: str) -> None:
        """A progress line (stderr, as the tool's own notes)."""
        self.err.write(text.rstrip("\n") + "\n")
        self.err.flush()

    def mask(self, value: str | None) -> None:
        for line in (value or "").splitlines():
            for part in {line, line.strip()}:
                if part.strip():
                    self.command(f"::add-mask::{part}")

    def error(self, message: str, title: str | None = None, level: str = "error") -> None:
        self.command(actions_command(level, message, title=title))  # command() redacts

    # -- the files -----------------------------------------------------------------

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
        sinks.write_text(path, f"{name}<<{delimiter}\n{text}\n{delimiter}\n", mode="a")

    def summary(self, markdown: str) -> None:
        """Append to the job summary (redacted), never past GitHub's limit (it would drop the whole summary)."""
        path = self.env.get("GITHUB_STEP_SUMMARY")
        if not path:
            return
        text = redact(markdown.rstrip("\n")) + "\n\n"
        used = os.path.getsize(path) if os.path.exists(path) else 0
        if used + len(text.encode("utf-8", "backslashreplace")) > SUMMARY_LIMIT:
            text = cut_bytes(text, SUMMARY_LIMIT - used - 200) + \
                "\n_The summary is cut here (GitHub's 1 MiB limit); the full text is in this step's log._\n\n"
            if used + len(text.encode("utf-8", "backslashreplace")) > SUMMARY_LIMIT:
                return
        sinks.write_text(path, text, mode="a")

    @property
    def event(self) -> dict[str, Any]:
        if not hasattr(self, "_event"):
            self._event = self._read_event()
        return self._event

    def _read_event(self) -> dict[str, Any]:
        path = self.env.get("GITHUB_EVENT_PATH")
        if not path or not os.path.exists(path):
            return {}
        try:
            data = load_file(path)
        except (OSError, ValueError):
            return {}
        return data if isinstance(data, dict) else {}

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

    # -- the event -----------------------------------------------------------------

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
    def merge_group(self) -> dict[str, Any] | None:
        """The merge group this run checks (a ``merge_group`` event), else None."""
        if self.event_name != "merge_group":
            return None
        group = self.event.get("merge_group")
        return group if isinstance(group, dict) else {}

    @property
    def merge_group_pull_number(self) -> int | None:
        """The pull request a merge group was built for, from its head ref (``gh-readonly-queue/<base>/pr-<N>-<sha>``)."""
        group = self.merge_group or {}
        match = MERGE_GROUP_REF.search(str(group.get("head_ref") or self.env.get("GITHUB_REF") or ""))
        return int(match.group(1)) if match else None

    @property
    def sha(self) -> str:
        """The commit this run is for: GITHUB_SHA, else the push event's ``after``."""
        return self.env.get("GITHUB_SHA") or str(self.event.get("after") or "")

    @property
    def head_sha(self) -> str:
        """The commit a pull request's (or merge group's) run plans (its head), else the run's commit."""
        head = (self.event.get("pull_request") or {}).get("head") or {}
        group = self.merge_group or {}
        return str(head.get("sha") or group.get("head_sha") or self.sha)

    @property
    def run_url(self) -> str | None:
        """The run's page, whose summary holds the full plan."""
        repo, run = self.env.get("GITHUB_REPOSITORY"), self.env.get("GITHUB_RUN_ID")
        if not repo or not run:
            return None
        return f"{self.env.get('GITHUB_SERVER_URL', 'https://github.com').rstrip('/')}/{repo}/actions/runs/{run}"

    # -- the inputs ----------------------------------------------------------------

    @property
    def trusted_commenter(self) -> str:
        """The login whose plan comment counts (the token's own): ``trusted-commenter``, else github-actions[bot]."""
        return (self.env.get("VS_TRUSTED_COMMENTER") or "").strip() or DEFAULT_TRUSTED_COMMENTER

    @property
    def paths(self) -> list[str]:
        return self.env.get("VS_PATH", "").split()

    def flag(self, name: str, default: str = "false") -> bool:
        """A true/false input (``VS_<NAME>``)."""
        return truthy(self.env.get(f"VS_{name}", default))

    @property
    def rate_limit(self) -> str | None:
        return self.env.get("VOICEBOT_RATE_LIMIT") or None
