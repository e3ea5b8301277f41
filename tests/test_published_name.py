"""One published name (issue 20): every published reference names one repository at one release tag.

The Action's ``uses:``, the pre-commit ``repo:``/``rev:``, the schemas' ``$id``, the package URLs and
the links and images of README.md and docs/*.md agree with ``voicebot_sync.core.published``; README's image
is an absolute URL, so it shows on the package index too. docs/release.md says how a tag makes them valid.
"""

from __future__ import annotations

import glob
import json
import os
import re

import pytest

from voicebot_sync import __version__
from voicebot_sync.core.published import RAW_URL, RELEASE_TAG, REPOSITORY, REPOSITORY_URL
from voicebot_sync.authoring.new import HOOK_ID, HOOK_REPO, HOOK_REV

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
# A user's repository inside a sample of the PR comment the Action posts: not a link to this project.
SAMPLE_REPOSITORIES = {"clinic/voicebot-workflows"}

GITHUB_LINK = re.compile(r"(?<![\w.-])(?:https?://)?(?:www\.)?github\.com/([\w.-]+)/([\w.-]+)")
RAW_LINK = re.compile(r"raw\.githubusercontent\.com/([\w.-]+)/([\w.-]+)/([^/\s)\"']+)/([^\s)\"']+)")
MD_IMAGE = re.compile(r"!\[[^\]]*\]\(\s*<?([^)\s>]+)")
HTML_IMAGE = re.compile(r"<img\b[^>]*\bsrc\s*=\s*[\"']([^\"']+)", re.I)
USES = re.compile(r"^\s*(?:-\s+)?uses:\s*(\S+)\s*(#.*)?$", re.M)
OURS = re.compile(r"^[\w.-]+/voicebot-sync(?:[/@]|$)")
PRE_COMMIT_REPO = re.compile(r"^(\s*)-\s*repo:\s*(\S+)\s*\n\1\s+rev:\s*(\S+)", re.M)


def read(path):
    with open(os.path.join(ROOT, path), encoding="utf-8") as fh:
        return fh.read()


def documents():
    """README.md and docs/*.md, whatever exists: what people and the package index read."""
    found = [p for p in ["README.md"] if os.path.exists(os.path.join(ROOT, p))]
    return found + sorted(os.path.relpath(p, ROOT) for p in glob.glob(os.path.join(ROOT, "docs", "*.md")))


def workflow_files():
    """Everything that may hold a ``uses:`` of the Action: the docs, the examples, action.yml."""
    examples = glob.glob(os.path.join(ROOT, "examples", "**", "*.y*ml"), recursive=True)
    return documents() + ["action.yml"] + sorted(os.path.relpath(p, ROOT) for p in examples)


def _repo(owner, name):
    name = re.sub(r"(\.git)?\.*$", "", name)  # a clone URL, or a link at the end of a sentence
    return f"{owner}/{name}"


def wrong_links(text):
    """github.com and raw.githubusercontent.com links that name another repository, or raw files at
    another ref than the release tag (a moving branch would change what a release documents)."""
    wrong = []
    for owner, name in GITHUB_LINK.findall(text):
        repo = _repo(owner, name)
        if repo != REPOSITORY and repo not in SAMPLE_REPOSITORIES:
            wrong.append(f"github.com/{repo}")
    for owner, name, ref, _ in RAW_LINK.findall(text):
        if _repo(owner, name) != REPOSITORY or ref != RELEASE_TAG:
            wrong.append(f"raw.githubusercontent.com/{owner}/{name}/{ref}")
    return wrong


def wrong_images(text):
    """Images that are not absolute https URLs (a relative one is broken on the package index), or
    that point at this repository's files anywhere but the release tag, or at a file it lacks."""
    wrong = []
    for url in MD_IMAGE.findall(text) + HTML_IMAGE.findall(text):
        if not url.startswith("https://"):
            wrong.append(f"{url} is not an absolute https:// URL")
            continue
        if url.startswith(RAW_URL + "/") and not os.path.isfile(os.path.join(ROOT, url[len(RAW_URL) + 1:])):
            wrong.append(f"{url}: no such file in the repository")
    return wrong


def wrong_uses(text):
    """``uses:`` of this Action that name another repository, or pin neither the release tag nor
    a full commit SHA with the release tag in its comment."""
    wrong = []
    for ref, comment in USES.findall(text):
        if not OURS.match(ref):
            continue
        repo, _, pin = ref.partition("@")
        if repo != REPOSITORY:
            wrong.append(f"{ref}: not {REPOSITORY}")
        elif pin != RELEASE_TAG and not (re.fullmatch(r"[0-9a-f]{40}", pin)
                                         and re.match(rf"#\s*{re.escape(RELEASE_TAG)}\b", comment or "")):
            wrong.append(f"{ref} {comment}: neither @{RELEASE_TAG} nor a full SHA with '# {RELEASE_TAG}'")
    return wrong


def wrong_pre_commit(text):
    """pre-commit entries of this repository that name another URL or another rev than the release tag."""
    return [f"repo: {url} rev: {rev}" for _, url, rev in PRE_COMMIT_REPO.findall(text)
            if "voicebot-sync" in url and (url != REPOSITORY_URL or rev != RELEASE_TAG)]


def everything_wrong(path):
    text = read(path)
    found = wrong_uses(text) + wrong_pre_commit(text)
    if path.endswith(".md"):
        found += wrong_links(text) + wrong_images(text)
    return found


@pytest.mark.parametrize("path", workflow_files())
def test_every_published_reference_names_the_one_repository_and_tag(path):
    assert everything_wrong(path) == [], path


def test_the_release_tag_is_the_package_version():
    pyproject = read("pyproject.toml")
    assert re.search(r'^version = "([^"]+)"$', pyproject, re.M).group(1) == __version__
    assert RELEASE_TAG == f"v{__version__}"


def test_the_package_urls_name_the_one_repository():
    section = read("pyproject.toml").split("[project.urls]", 1)[1].split("\n[", 1)[0]
    urls = re.findall(r'^\s*[\w-]+\s*=\s*"([^"]+)"', section, re.M)
    assert len(urls) >= 3
    for url in urls:
        assert url == REPOSITORY_URL or url.startswith((REPOSITORY_URL + "/", REPOSITORY_URL + "#")), url


def test_the_schema_ids_name_their_file_at_the_release_tag():
    for folder in ("schemas", os.path.join("voicebot_sync", "schemas")):
        for path in sorted(glob.glob(os.path.join(ROOT, folder, "*.json"))):
            schema_id = json.loads(read(os.path.relpath(path, ROOT)))["$id"]
            name = os.path.basename(path)
            assert schema_id == f"{RAW_URL}/voicebot_sync/schemas/{name}", path
            assert os.path.isfile(os.path.join(ROOT, "voicebot_sync", "schemas", name))


def test_the_pre_commit_hook_that_init_writes_is_the_published_one():
    assert (HOOK_REPO, HOOK_REV) == (REPOSITORY_URL, RELEASE_TAG)
    assert f"- id: {HOOK_ID}\n" in read(".pre-commit-hooks.yaml")


def test_the_release_checklist_exists_and_names_every_place():
    checklist = read("docs/release.md")
    for place in ("pyproject.toml", "__init__.py", "$id", "uses:", "rev:", "README", "tests/test_published_name.py"):
        assert place in checklist, place


# -- the checks themselves, one step at a time ---------------------------------------------------------


def test_the_checks_catch_each_kind_of_wrong_name():
    assert wrong_uses("      - uses: your-org/voicebot-sync@" + "1" * 40 + " # v1.0.0\n")
    assert wrong_uses(f"      - uses: {REPOSITORY}@" + "1" * 40 + " # v0.0.1\n")  # the comment is the tag
    assert wrong_uses(f"      - uses: {REPOSITORY}@main\n")
    assert not wrong_uses(f"      - uses: {REPOSITORY}@" + "a" * 40 + f" # {RELEASE_TAG} (the SHA of the tag)\n")
    assert not wrong_uses(f"  uses: {REPOSITORY}@{RELEASE_TAG}\n  uses: actions/checkout@v4\n")
    assert wrong_pre_commit(f"  - repo: {REPOSITORY_URL}\n    rev: v1.0.0\n")
    assert not wrong_pre_commit(f"  - repo: {REPOSITORY_URL}\n    rev: {RELEASE_TAG}\n")
    assert wrong_images("![plan](docs/plan-comment.png)") and wrong_images('<img src="docs/x.png">')
    assert not wrong_images(f"![plan]({RAW_URL}/docs/plan-comment.png)")
    assert wrong_images(f"![plan]({RAW_URL}/docs/missing.png)")
    assert wrong_links("see https://github.com/someone-else/voicebot-sync.") == ["github.com/someone-else/voicebot-sync"]
    assert wrong_links(f"https://raw.githubusercontent.com/{REPOSITORY}/main/README.md")
    assert not wrong_links(f"[issues]({REPOSITORY_URL}/issues), https://docs.github.com/en/actions, "
                           f"{REPOSITORY_URL}.git")
