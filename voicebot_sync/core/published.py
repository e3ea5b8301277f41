"""The one published name: the repository and the release tag every published reference uses.

The Action's ``uses:``, the pre-commit ``repo:``/``rev:`` (docs and what ``init`` writes), the
schemas' ``$id``, the package URLs and README's links all name this repository at this tag;
``tests/test_published_name.py`` holds them to it, and docs/release.md says how a tag makes
every one of them valid.
"""

from __future__ import annotations

from .. import __version__

REPOSITORY = "voicebot-sync/voicebot-sync"
REPOSITORY_URL = f"https://github.com/{REPOSITORY}"
# One tag per released version: a version bump moves every reference with it.
RELEASE_TAG = f"v{__version__}"
# Files of the release as served at its tag (schemas' $id, README's image on the package index).
RAW_URL = f"https://raw.githubusercontent.com/{REPOSITORY}/{RELEASE_TAG}"
