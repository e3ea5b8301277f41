"""Packaging: the sdist and wheel build cleanly with strict metadata, the action's lock file covers every
runtime dependency, and the pre-commit hook behaves in a repository that is not laid out like ours.

The build and pre-commit tests work on a copy of the project in a temporary folder (nothing is written
into the working tree) and are skipped when ``build``/``twine``/``pre-commit`` are not installed
(``pip install -e '.[test]'`` installs them)."""

from __future__ import annotations

import importlib.util
import os
import re
import shutil
import subprocess
import sys
import tarfile
import zipfile

import pytest

try:
    import tomllib
except ModuleNotFoundError:  # Python 3.10
    tomllib = None

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
LOCK = os.path.join(ROOT, "action-requirements.txt")


def _pyproject() -> dict:
    if tomllib is None:
        pytest.skip("tomllib needs Python 3.11")
    with open(os.path.join(ROOT, "pyproject.toml"), "rb") as fh:
        return tomllib.load(fh)


def _name(requirement: str) -> str:
    """PEP 503 normalised project name of a requirement string."""
    name = re.match(r"\s*([A-Za-z0-9][A-Za-z0-9._-]*)", requirement).group(1)
    return re.sub(r"[-_.]+", "-", name).lower()


def _locked() -> dict[str, str]:
    pins = {}
    for line in open(LOCK, encoding="utf-8"):
        m = re.match(r"^([A-Za-z0-9][A-Za-z0-9._-]*)==(\S+)", line)
        if m:
            pins[_name(m.group(1))] = m.group(2)
    return pins


# -- the action's lock file ------------------------------------------------------------


def test_the_lock_covers_every_runtime_dependency_and_the_build_backend():
    project = _pyproject()
    locked = _locked()
    wanted = {_name(r) for r in project["project"]["dependencies"]}
    wanted |= {_name(r) for r in project["build-system"]["requires"]}
    assert wanted - set(locked) == set(), "regenerate action-requirements.txt (see its header)"


def test_every_locked_requirement_is_pinned_with_hashes():
    text = open(LOCK, encoding="utf-8").read()
    entries = re.findall(r"^([A-Za-z0-9][^\s=]*)==(\S+)((?:\s*\\\n\s+--hash=sha256:[0-9a-f]{64})+)", text, re.M)
    requirement_lines = [l for l in text.splitlines() if l and not l.startswith((" ", "#"))]
    assert len(entries) == len(requirement_lines) and entries
    # pyyaml is compiled: its Linux CPython 3.11/3.12 wheels and its sdist are all hashed (pip-compile records
    # every file PyPI has for a version). Checked by count here; .ci/run's install shows they match.
    pyyaml = next(e for e in entries if _name(e[0]) == "pyyaml")
    assert pyyaml[2].count("--hash=") >= 3


def test_the_action_installs_from_the_lock_with_hashes_then_itself_without_dependencies():
    """The install step runs action/install.py (tests/test_action_setup.py runs it for real): pip downloads
    only with --require-hashes, uv installs the lock with --require-hashes, and the package is imported from
    the action's checkout (a .pth file: nothing is built)."""
    import yaml

    action = yaml.safe_load(open(os.path.join(ROOT, "action.yml"), encoding="utf-8"))
    install = next(s for s in action["runs"]["steps"] if s.get("id") == "install")
    assert install["run"] == '"$VS_SETUP_PYTHON" -I "$ACTION_PATH/action/install.py" install'
    assert install["env"]["VS_SETUP_PYTHON"] == "${{ steps.python.outputs.python-path }}"
    script = open(os.path.join(ROOT, "action", "install.py"), encoding="utf-8").read()
    assert '"download",' in script and '"--require-hashes", "--dest"' in script and '"--only-binary=:all:"' in script
    assert '"--require-hashes", "--find-links", folder,' in script
    assert '"--no-index", "--offline"' in script and "voicebot_sync_action.pth" in script


# -- sdist and wheel -------------------------------------------------------------------------


def _copy_project(dest) -> str:
    """The files a build reads, without caches, venvs, build output or git state."""
    ignore = shutil.ignore_patterns(".git", ".ci-venv", ".venv", "build", "dist", "*.egg-info", "__pycache__",
                                    ".pytest_cache", ".hypothesis", ".voicebot-sync", "*.pyc")
    shutil.copytree(ROOT, dest, ignore=ignore)
    return str(dest)


def _has_build_backend() -> bool:
    from importlib.metadata import PackageNotFoundError, version

    (requirement,) = _pyproject()["build-system"]["requires"]
    wanted = re.match(r"setuptools>=([0-9]+)", requirement)
    try:
        return bool(wanted) and int(version("setuptools").split(".")[0]) >= int(wanted.group(1))
    except (PackageNotFoundError, ValueError):
        return False


@pytest.fixture(scope="module")
def built(tmp_path_factory):
    for module in ("build", "twine"):
        if importlib.util.find_spec(module) is None:
            pytest.skip(f"{module} is not installed (pip install -e '.[test]')")
    src = _copy_project(tmp_path_factory.mktemp("src") / "voicebot-sync")
    out = tmp_path_factory.mktemp("dist")
    # The backend of [build-system] installed here (the [test] extra pins it): build in this environment
    # (2 s) instead of two fresh ones, one for the sdist and one for the wheel built from it (12 s).
    isolation = ["--no-isolation"] if _has_build_backend() else []
    proc = subprocess.run([sys.executable, "-m", "build", *isolation, "--outdir", str(out), src], capture_output=True,
                          text=True, timeout=300)
    if proc.returncode and "Could not find a version that satisfies" in proc.stdout + proc.stderr:
        pytest.skip("no package index to install the build backend from")
    assert proc.returncode == 0, proc.stdout + proc.stderr
    return out, proc.stdout + proc.stderr


def test_build_and_twine_check_strict(built):
    out, log = built
    files = sorted(os.listdir(out))
    assert any(f.endswith(".whl") for f in files) and any(f.endswith(".tar.gz") for f in files), files
    # No setuptools warning about packages or package data (voicebot_sync.schemas is found as a package).
    assert "voicebot_sync.schemas" not in log and "SetuptoolsDeprecationWarning" not in log, log
    proc = subprocess.run([sys.executable, "-m", "twine", "check", "--strict", *[str(out / f) for f in files]],
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stdout + proc.stderr


def test_the_wheel_holds_every_package_the_schemas_and_the_license(built):
    out, _ = built
    (wheel,) = [f for f in os.listdir(out) if f.endswith(".whl")]
    names = zipfile.ZipFile(out / wheel).namelist()
    packages = {os.path.dirname(os.path.relpath(os.path.join(d, f), ROOT))
                for d, _, fs in os.walk(os.path.join(ROOT, "voicebot_sync")) for f in fs if f.endswith(".py")}
    for package in packages:
        assert f"{package}/__init__.py" in names or any(n.startswith(package + "/") for n in names), package
    assert "voicebot_sync/schemas/workflow.schema.json" in names and "voicebot_sync/schemas/config.schema.json" in names
    assert not any(n.startswith("tests/") for n in names)
    (metadata,) = [n for n in names if n.endswith(".dist-info/METADATA")]
    text = zipfile.ZipFile(out / wheel).read(metadata).decode()
    assert "License-Expression: MIT" in text and "License-File: LICENSE" in text
    assert "Project-URL: Repository, https://github.com/voicebot-sync/voicebot-sync" in text
    assert any(n.endswith(".dist-info/licenses/LICENSE") for n in names)


def test_the_sdist_leaves_tests_out_or_holds_all_they_need(built):
    out, _ = built
    (sdist,) = [f for f in os.listdir(out) if f.endswith(".tar.gz")]
    names = [n.split("/", 1)[1] for n in tarfile.open(out / sdist).getnames() if "/" in n]
    tests = [n for n in names if n.startswith("tests/")]
    if tests:
        for needed in ("tests/conftest.py", "tests/fakes.py", "tests/fake_github.py", "action.yml", "examples/github/plan.yml",
                       "docs/github-action.md"):
            assert needed in names, needed


# -- the pre-commit hook -----------------------------------------------------------------------


def _git(cwd, *args):
    subprocess.run(["git", "-c", "user.name=test", "-c", "user.email=test@example.org", "-c", "commit.gpgsign=false",
                    *args], cwd=cwd, check=True, capture_output=True, text=True)


@pytest.fixture(scope="module")
def hook_repo(tmp_path_factory):
    """This project as a hook repository: a copy, committed in a scratch git repository; and the one
    pre-commit home every hook test shares, so the hook's environment is installed once, not per test."""
    if shutil.which("pre-commit") is None and importlib.util.find_spec("pre_commit") is None:
        pytest.skip("pre-commit is not installed (pip install -e '.[test]')")
    if shutil.which("git") is None:
        pytest.skip("git is not installed")
    repo = tmp_path_factory.mktemp("hook") / "voicebot-sync"
    _copy_project(repo)
    _git(repo, "init", "-q")
    _git(repo, "add", "-A")
    _git(repo, "commit", "-q", "-m", "hook repo")
    rev = subprocess.run(["git", "rev-parse", "HEAD"], cwd=repo, check=True, capture_output=True, text=True).stdout
    return repo, rev.strip(), tmp_path_factory.mktemp("pre-commit-home")


def _try_repo(hook_repo, user_repo):
    """The hook from ``hook_repo`` run on what is staged in ``user_repo``, as a user's
    .pre-commit-config.yaml naming our repository and revision runs it (``try-repo`` would build the
    hook's environment again for every call: a fresh clone each time)."""
    repo, rev, home = hook_repo
    config = f"repos:\n- repo: {repo}\n  rev: {rev}\n  hooks:\n  - id: voicebot-sync-validate\n"
    (user_repo / ".pre-commit-config.yaml").write_text(config)
    _git(user_repo, "add", ".pre-commit-config.yaml")
    env = {k: v for k, v in os.environ.items() if not k.startswith(("VOICEBOT_", "GIT_", "PRE_COMMIT"))}
    env["PRE_COMMIT_HOME"] = str(home)
    return subprocess.run([sys.executable, "-m", "pre_commit", "run", "voicebot-sync-validate", "--color", "never"],
                          cwd=user_repo, capture_output=True, text=True, timeout=300, env=env)


def test_the_hook_skips_an_unrelated_yaml_file_in_a_repo_without_workflows(hook_repo, tmp_path):
    user = tmp_path / "user"
    user.mkdir()
    _git(user, "init", "-q")
    (user / "docker-compose.yml").write_text("services: {web: {image: nginx}}\n")
    (user / ".github" / "workflows").mkdir(parents=True)
    (user / ".github" / "workflows" / "ci.yml").write_text("on: push\njobs: {}\n")
    _git(user, "add", "-A")
    proc = _try_repo(hook_repo, user)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert re.search(r"voicebot-sync validate\.+\(no files to check\)Skipped", proc.stdout), proc.stdout


def test_the_hook_validates_the_whole_directory_when_a_definition_changes(hook_repo, tmp_path):
    user = tmp_path / "user"
    (user / "workflows").mkdir(parents=True)
    _git(user, "init", "-q")
    (user / "workflows" / "ok.yaml").write_text("name: Reminder\nmessage: Hello.\n")
    (user / "workflows" / "bad.yaml").write_text("name: Bad\nmesage: typo\n")
    _git(user, "add", "-A")
    proc = _try_repo(hook_repo, user)
    assert proc.returncode == 1 and re.search(r"voicebot-sync validate\.+Failed", proc.stdout), proc.stdout
    assert "workflows/bad.yaml:2:" in proc.stdout
