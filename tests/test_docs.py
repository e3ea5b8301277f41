"""The documentation tells the truth: README's quick start runs as written, README gives the test command
.ci/run runs, every GitHub workflow shown in the docs passes GitHub's schema, actionlint and zizmor, and the
links between the pages lead somewhere."""

from __future__ import annotations

import glob
import os
import re
import shutil
import subprocess
import sys

import pytest
import yaml
from test_action_security import _tool  # the linters' path, or a skip when not installed

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
PAGES = ["README.md", "CONTRIBUTING.md",
         *sorted(os.path.relpath(p, ROOT) for p in glob.glob(os.path.join(ROOT, "docs", "*.md")))]
TEST_COMMAND = "pip install -e '.[test]' && python -m pytest -q"
INSTALL = "pip install . && "


def read(path):
    with open(os.path.join(ROOT, path), encoding="utf-8") as fh:
        return fh.read()


def fenced(text, lang):
    """The bodies of the ```lang blocks of a Markdown text, in order."""
    return re.findall(rf"^```{lang}\n(.*?)^```$", text, re.M | re.S)


def prose(text):
    """The text without its fenced blocks (a fence of N backticks closes only at N or more)."""
    kept, fence = [], None
    for line in text.splitlines():
        opening = re.match(r"^(`{3,})", line)
        if fence is None and opening:
            fence = opening.group(1)
        elif fence is not None and re.match(rf"^{fence}`*\s*$", line):
            fence = None
        elif fence is None:
            kept.append(line)
    return "\n".join(kept)


def section(text, heading):
    start = text.index(f"\n## {heading}\n")
    end = text.find("\n## ", start + 1)
    return text[start:end if end != -1 else None]


# -- README's commands ------------------------------------------------------------------------


def test_readme_gives_the_test_command_that_ci_runs():
    quick = section(read("README.md"), "Quick start")
    assert TEST_COMMAND + "\n" in fenced(quick, "sh")
    assert re.search(rf"^{re.escape(TEST_COMMAND)}$", read(".ci/run"), re.M)


def _quick_start():
    (command, *_rest) = fenced(section(read("README.md"), "Quick start"), "sh")
    command = command.strip()
    assert command.startswith(INSTALL) and "--api-url local" in command, command
    return command


def _as_a_user_would(command, cwd):
    """The command in a shell, with this interpreter's scripts first on PATH and no VOICEBOT_* setting of ours."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("VOICEBOT_")}
    env["PATH"] = os.path.dirname(sys.executable) + os.pathsep + env.get("PATH", "")
    env["NO_COLOR"] = "1"
    return subprocess.run(["bash", "-c", command], cwd=cwd, env=env, capture_output=True, text=True, timeout=120)


def _shape(line):
    """A line with its time stamps and ids made generic: they differ from run to run."""
    line = re.sub(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ", "<time>", line)
    return re.sub(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}", "<id>", line)


def test_the_quick_start_plans_and_applies_the_examples_against_the_emulator(tmp_path):
    command = _quick_start()
    # The install is what the test command already did; the plan and apply run for real.
    import voicebot_sync  # noqa: F401  (installed: the install part may be left out)

    command = command[len(INSTALL):]
    shutil.copytree(os.path.join(ROOT, "examples", "workflows"), tmp_path / "examples" / "workflows")
    proc = _as_a_user_would(command, tmp_path)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    out = [_shape(line) for line in (proc.stdout + proc.stderr).splitlines()]
    (shown,) = fenced(section(read("README.md"), "Quick start"), "console")
    for line in shown.splitlines():
        if line != "...":
            assert _shape(line) in out, line
    assert (tmp_path / ".voicebot-sync" / "local-api.json").is_file()
    # "run it again and the plan says No changes." (its plan part is enough to see it)
    again = _as_a_user_would(command.split(" && ")[0], tmp_path)
    assert again.returncode == 0 and "No changes." in again.stdout, again.stdout + again.stderr
    assert "Traceback" not in proc.stderr + again.stderr


def test_the_config_and_definition_examples_are_valid(tmp_path):
    (config,) = fenced(read("docs/configuration.md"), "yaml")
    (definition,) = fenced(read("docs/definitions.md"), "yaml")
    # The config example alone: valid as it stands.
    (tmp_path / "alone" / "workflows").mkdir(parents=True)
    (tmp_path / "alone" / "voicebot-sync.yaml").write_text(config, encoding="utf-8")
    alone = _as_a_user_would("voicebot-sync validate", tmp_path / "alone")
    assert alone.returncode == 0, alone.stdout + alone.stderr
    # Together, without its `owns:` line: it shows a prefix ("riverside/") the definition's name is not under.
    (tmp_path / "both" / "workflows").mkdir(parents=True)
    unscoped = "".join(line for line in config.splitlines(keepends=True) if not line.startswith("owns:"))
    (tmp_path / "both" / "voicebot-sync.yaml").write_text(unscoped, encoding="utf-8")
    (tmp_path / "both" / "workflows" / "appointment-reminder.yaml").write_text(definition, encoding="utf-8")
    both = _as_a_user_would("voicebot-sync validate", tmp_path / "both")
    assert both.returncode == 0 and "1 definition in 1 file: valid" in both.stdout, both.stdout + both.stderr


# -- the workflow examples ---------------------------------------------------------------------


def workflow_blocks():
    """Every ```yaml block of the pages that is a whole GitHub workflow: (page, block)."""
    for page in PAGES:
        for block in fenced(read(page), "yaml"):
            if re.search(r"^on:", block, re.M) and re.search(r"^jobs:", block, re.M):
                yield page, block


@pytest.fixture(scope="module")
def workflows(tmp_path_factory):
    folder = tmp_path_factory.mktemp("repo") / ".github" / "workflows"
    folder.mkdir(parents=True)
    paths = []
    for n, (page, block) in enumerate(workflow_blocks()):
        path = folder / f"{n:02d}-{os.path.basename(page).replace('.md', '')}.yml"
        path.write_text(block, encoding="utf-8")
        paths.append(str(path))
    return paths


def test_the_docs_show_workflows_in_readme_and_in_the_reference(workflows):
    pages = {page for page, _ in workflow_blocks()}
    assert {"README.md", os.path.join("docs", "github-action.md"), os.path.join("docs", "commands.md")} <= pages
    assert len(workflows) >= 6


def test_every_workflow_example_matches_githubs_schema(workflows):
    exe = _tool("check-jsonschema")
    proc = subprocess.run([exe, "--builtin-schema", "vendor.github-workflows", *workflows],
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stdout + proc.stderr


def test_actionlint_finds_nothing_in_the_workflow_examples(workflows):
    proc = subprocess.run([_tool("actionlint"), *workflows], capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stdout + proc.stderr


def test_zizmor_finds_nothing_in_the_workflow_examples(workflows):
    proc = subprocess.run([_tool("zizmor"), "--offline", "--no-progress", *workflows],
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stdout + proc.stderr


def test_every_workflow_example_runs_one_at_a_time_and_pins_what_it_uses():
    """zizmor's concurrency-limits (its auditor persona): no example may pile up runs that spend the key's budget."""
    for page, block in workflow_blocks():
        workflow = yaml.safe_load(block)
        assert "concurrency" in workflow or all("concurrency" in job for job in workflow["jobs"].values()), page
        for ref in re.findall(r"uses:\s*(\S+)", block):
            assert re.fullmatch(r"[\w.-]+/[\w./-]+@[0-9a-f]{40}", ref), (page, ref)


def test_a_drift_check_never_turns_a_failure_into_a_green_job():
    """The CLI drift example keeps exit 1 (a wrong key, the network) a failure; exit 2 opens the issue."""
    (block,) = [b for p, b in workflow_blocks() if p.endswith("commands.md") and "drift" in b]
    assert '|| echo "code=$?"' not in block and "@v4" not in block
    assert "persist-credentials: false" in block
    assert '[ "$code" -eq 0 ] || [ "$code" -eq 2 ]' in block


# -- the pages ---------------------------------------------------------------------------------


def _slug(heading):
    """GitHub's anchor for a heading: lower case, punctuation dropped, spaces to hyphens."""
    return re.sub(r"[^\w\- ]", "", heading.strip().lower()).replace(" ", "-")


def _anchors(page):
    text = prose(read(page))
    return {_slug(h) for h in re.findall(r"^#+ (.+)$", text, re.M)}


def test_every_link_between_the_pages_leads_somewhere():
    for page in PAGES:
        text = prose(read(page))
        for target in re.findall(r"\]\(([^)\s]+)\)", text):
            if re.match(r"[a-z]+:", target):
                continue
            path, _, anchor = target.partition("#")
            resolved = os.path.normpath(os.path.join(os.path.dirname(page), path)) if path else page
            assert os.path.exists(os.path.join(ROOT, resolved)), (page, target)
            if anchor and resolved.endswith(".md"):
                assert anchor in _anchors(resolved), (page, target)


def test_readme_is_about_a_page_and_no_prose_is_written_twice():
    assert len(read("README.md").splitlines()) <= 160
    seen = {}
    for page in PAGES:
        for line in prose(read(page)).splitlines():
            line = line.strip()
            if len(line) >= 60 and not line.startswith(("![", "|")):
                assert seen.setdefault(line, page) == page, f"{page} repeats {seen[line]}: {line}"


def test_readmes_benchmark_figures_are_the_measured_ones():
    """README's table quotes docs/rate-limits.md, where each figure's run is shown: both change together."""
    figures = re.findall(r"\d+\.\d+|\d+ (?:ms|MB)", section(read("README.md"), "Benchmarks"))
    measured = section(read("docs/rate-limits.md"), "Benchmarks")
    assert len(figures) >= 6
    for figure in figures:
        assert figure in measured, figure
