"""Not installed where the Action runs: action-requirements.txt locks neither rich nor pygments.

tests/test_github_action.py puts this folder on the steps' PYTHONPATH, so that a step imports what it
imports on a runner (httpx loads its command-line client's rich and pygments only when they are
installed: the test tools bring them here, 40 ms a step)."""

raise ImportError("rich is not in the Action's environment (action-requirements.txt)")
