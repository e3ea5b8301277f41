"""The Action's set-up time: action.yml's install steps run as the runner runs them, cold and warm, beside
the install step that action.yml had before (a venv, then `pip install --require-hashes`: about 14 s).

    python benchmarks/action_setup.py [--runs N] [--skip-today]

Each run gets new folders: RUNNER_TEMP, HOME, a pip cache and GITHUB_OUTPUT of its own, so nothing is shared
with this machine's caches (the pip configuration, which says where the index is, stays). The interpreter is
the one this venv was made from, standing in for setup-python's. What each figure covers:

* today: the old step's script (below, as it was), from a new pip cache.
* cold: the steps "Name the action's wheel cache" and "Install voicebot-sync" with an empty wheel folder
  (actions/cache missed): pip downloads the locked wheels, uv installs them.
* warm: the same two steps with the folder a cold run left, as actions/cache/restore puts it back (the
  restore itself, a download from GitHub's cache service of about 20 MB, is not on this machine to time).
* ready: the step plus the first import of the Action's entry point (`voicebot_sync.github.__main__`).
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time

import yaml

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SETUP_PYTHON = getattr(sys, "_base_executable", sys.executable)
MADE: list[str] = []  # the folders to remove at the end
TODAY_SECONDS = 14  # measured 13.6-15.2 s on this machine (issue 21)

# action.yml's install step before issue 21, verbatim.
TODAY = """\
venv="$(mktemp -d "${RUNNER_TEMP:-/tmp}/voicebot-sync-venv.XXXXXX")"
"$VS_SETUP_PYTHON" -m venv "$venv"
if [ -x "$venv/bin/python" ]; then py="$venv/bin/python"; else py="$venv/Scripts/python.exe"; fi
"$py" -m pip install --disable-pip-version-check --no-input --quiet --require-hashes -r "$ACTION_PATH/action-requirements.txt"
"$py" -m pip install --disable-pip-version-check --no-input --quiet --no-deps --no-build-isolation "$ACTION_PATH"
echo "python=$py" >> "$GITHUB_OUTPUT"
"""


def steps() -> dict[str, str]:
    with open(os.path.join(ROOT, "action.yml"), encoding="utf-8") as fh:
        action = yaml.safe_load(fh)
    return {s["id"]: s["run"] for s in action["runs"]["steps"] if s.get("id") in ("wheels", "install")}


def runner_env(base: str) -> dict[str, str]:
    """What the runner hands a composite action's bash step (and the step's own env:), in new folders."""
    env = {k: v for k, v in os.environ.items() if k.startswith("PIP_") or k in ("PATH", "LANG", "SSL_CERT_FILE")}
    for name in ("temp", "home", "pip-cache"):
        os.makedirs(os.path.join(base, name), exist_ok=True)
    env.update({
        "RUNNER_TEMP": os.path.join(base, "temp"), "HOME": os.path.join(base, "home"),
        "PIP_CACHE_DIR": os.path.join(base, "pip-cache"), "RUNNER_OS": "Linux", "RUNNER_ARCH": "X64",
        "GITHUB_ACTIONS": "true", "GITHUB_ACTION_PATH": ROOT, "GITHUB_WORKSPACE": base,
        "ACTION_PATH": ROOT, "VS_SETUP_PYTHON": SETUP_PYTHON,
    })
    return env


def run_bash(script: str, env: dict[str, str], base: str) -> dict[str, str]:
    """One `run:` step (bash --noprofile --norc -eo pipefail FILE); returns what it wrote to GITHUB_OUTPUT."""
    path, output = os.path.join(base, "step.sh"), os.path.join(base, "output")
    with open(path, "w", encoding="utf-8") as fh:
        fh.write(script)
    open(output, "w").close()
    proc = subprocess.run(["bash", "--noprofile", "--norc", "-eo", "pipefail", path], env={**env, "GITHUB_OUTPUT": output},
                          cwd=base, capture_output=True, text=True)
    if proc.returncode:
        sys.exit(f"the step failed ({proc.returncode}):\n{proc.stdout}{proc.stderr}")
    with open(output, encoding="utf-8") as fh:
        return dict(line.split("=", 1) for line in fh.read().splitlines() if "=" in line)


def timed(what: str, wheels: str | None = None) -> tuple[float, float, str]:
    """(step seconds, ready seconds, wheel folder) of one run in new folders; ``wheels``: a folder to restore."""
    base = tempfile.mkdtemp(prefix="vs-action-bench.")
    MADE.append(base)
    env = runner_env(base)
    started = time.perf_counter()
    if what == "today":
        python = run_bash(TODAY, env, base)["python"]
        folder = ""
    else:
        key = run_bash(steps()["wheels"], env, base)
        folder = key["dir"]
        if wheels:
            shutil.copytree(wheels, folder)
            started = time.perf_counter()  # the restore is actions/cache's, not timed here
        python = run_bash(steps()["install"], env, base)["python"]
    step = time.perf_counter() - started
    subprocess.run([python, "-c", "import voicebot_sync.github.__main__"], check=True, env={"PATH": env["PATH"]})
    return step, time.perf_counter() - started, folder


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=3, help="warm runs (cold and today run once each per round)")
    parser.add_argument("--skip-today", action="store_true", help="leave out the old step (about 14 s a run)")
    args = parser.parse_args()
    results: dict[str, list[tuple[float, float]]] = {"today": [], "cold": [], "warm": []}
    if not args.skip_today:
        results["today"].append(timed("today")[:2])
    step, ready, folder = timed("cold")
    results["cold"].append((step, ready))
    keep = tempfile.mkdtemp(prefix="vs-action-bench-cache.")
    MADE.append(keep)
    shutil.copytree(folder, os.path.join(keep, "wheels"))
    for _ in range(args.runs):
        results["warm"].append(timed("warm", os.path.join(keep, "wheels"))[:2])
    load = ", ".join(f"{x:.1f}" for x in os.getloadavg()) if hasattr(os, "getloadavg") else "n/a"
    print(f"Action set-up on this machine (seconds; issue 21 measured today's step at {TODAY_SECONDS} s; "
          f"load average {load}, {os.cpu_count()} cores)")
    print(f"{'':<8}{'step':>8}{'ready':>8}  runs")
    for name, rows in results.items():
        if rows:
            step = statistics.median(r[0] for r in rows)
            ready = statistics.median(r[1] for r in rows)
            print(f"{name:<8}{step:>8.2f}{ready:>8.2f}  {len(rows)}" + (" (median)" if len(rows) > 1 else ""))
    for folder in MADE:
        shutil.rmtree(folder, ignore_errors=True)


if __name__ == "__main__":
    main()
