"""`plan --format json` of 10,000 definition files, end to end through the CLI, against its floor.

The remote is the built-in emulator (``--api-url local``) holding the 10,000
workflows (1% changed), so the network is not what is timed. In the same run,
and on the same files, the floor is measured: PyYAML's C loader reading every
file, plus fetching and decoding the list through the same local transport.
Each measurement runs in a fresh process (imports done before the clock starts,
the lazy imports of the command itself timed), alternately, several times; the
ratio is the median of each plan run over the floor run just before it:

    python benchmarks/plan_scale.py [N] [--changed 0.01] [--runs 3] [--check]

Prints the ratio plan/floor, both times and the peak memory (max RSS) of the
plan process. With ``--check`` it exits 1 when the ratio is over 2.0 or the
peak over 200 MB.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
import uuid

MAX_RATIO = 2.0
GOAL_RATIO = 1.5
MAX_PEAK_MB = 200
STATE = os.path.join(".voicebot-sync", "local-api.json")  # where --api-url local keeps its state, under the cwd


def write_repo(root: str, n: int, changed: float) -> None:
    """One file per workflow, as a real repo keeps them, and the emulator's state holding all of them."""
    folder = os.path.join(root, "workflows")
    os.makedirs(folder, exist_ok=True)
    every = max(1, round(1 / changed)) if changed else 0
    records = []
    for i in range(n):
        kind = "CONVERSATION" if i % 7 == 0 else "ROBOCALL"
        with open(os.path.join(folder, f"w{i:05}.yaml"), "w", encoding="utf-8") as fh:
            fh.write(
                f"name: Workflow {i:05}\n"
                f"description: Reminder number {i}\n"
                f"workflow_type: {kind}\n"
                "message: |\n"
                f"  Hello [name], this is reminder {i}.\n"
                "  Your appointment is on [date] at [time].\n"
            )
        message = f"Hello [name], this is reminder {i}.\nYour appointment is on [date] at [time]."
        if every and i % every == 0:
            message += " (changed remotely)"
        records.append({"id": str(uuid.UUID(int=i + 1)), "name": f"Workflow {i:05}", "description": f"Reminder number {i}",
                        "workflow_type": kind, "message": message, "status": "ACTIVE", "owner_id": "bench",
                        "created_at": "2024-01-01T00:00:00Z", "updated_at": "2024-01-01T00:00:00Z"})
    os.makedirs(os.path.join(root, os.path.dirname(STATE)), exist_ok=True)
    with open(os.path.join(root, STATE), "w", encoding="utf-8") as fh:
        json.dump({"owner_id": "bench", "workflows": records}, fh)


# -- the children: one measurement each, in a fresh process ----------------------------


def _peak_mb() -> float:
    import resource

    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return peak / 2**20 if sys.platform == "darwin" else peak / 1024  # bytes on macOS, KiB elsewhere


def child_plan(root: str) -> dict:
    from click.testing import CliRunner

    from voicebot_sync.cli import main

    os.chdir(root)
    runner = CliRunner()
    started = time.perf_counter()
    result = runner.invoke(main, ["plan", "--format", "json", "--api-url", "local", "workflows"], env={
        "VOICEBOT_API_KEY": None, "VOICEBOT_API_URL": None, "VOICEBOT_SYNC_CONFIG": None, "VOICEBOT_ENV": None})
    seconds = time.perf_counter() - started
    if result.exit_code != 0:
        raise SystemExit(f"plan failed ({result.exit_code}): {result.output[-2000:]}")
    plan = json.loads(result.stdout)
    return {"seconds": seconds, "peak_mb": _peak_mb(), "summary": plan.get("summary")}


def child_floor(root: str) -> dict:
    import httpx
    import yaml

    from voicebot_sync.emulator import local_transport

    loader = yaml.CSafeLoader
    os.chdir(root)
    started = time.perf_counter()
    documents = []
    folder = "workflows"
    for name in sorted(os.listdir(folder)):
        with open(os.path.join(folder, name), "rb") as fh:
            documents.append(yaml.load(fh.read().decode("utf-8"), Loader=loader))
    with httpx.Client(transport=local_transport(os.path.abspath(STATE)), base_url="http://local.invalid") as client:
        answer = client.get("/voicebot/v1/workflows")
        answer.raise_for_status()
        remote = answer.json()["data"]
    seconds = time.perf_counter() - started
    assert len(documents) == len(remote), (len(documents), len(remote))
    return {"seconds": seconds, "peak_mb": _peak_mb()}


def _run_child(kind: str, root: str) -> dict:
    done = subprocess.run([sys.executable, os.path.abspath(__file__), "--child", kind, root],
                          capture_output=True, text=True, check=False)
    if done.returncode != 0:
        raise SystemExit(f"{kind} run failed:\n{done.stdout}\n{done.stderr}")
    return json.loads(done.stdout.strip().splitlines()[-1])


def _runs(results: list[dict]) -> str:
    return ", ".join(f"{r['seconds']:.3f}" for r in results)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("n", nargs="?", type=int, default=10_000)
    parser.add_argument("--changed", type=float, default=0.01)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--check", action="store_true", help=f"exit 1 over {MAX_RATIO}x or {MAX_PEAK_MB} MB")
    parser.add_argument("--child", nargs=2, metavar=("KIND", "ROOT"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        kind, root = args.child
        print(json.dumps((child_plan if kind == "plan" else child_floor)(root)))
        return 0

    with tempfile.TemporaryDirectory() as root:
        write_repo(root, args.n, args.changed)
        plans, floors = [], []
        for _ in range(args.runs):
            floors.append(_run_child("floor", root))
            plans.append(_run_child("plan", root))
    plan_s = statistics.median(r["seconds"] for r in plans)
    floor_s = statistics.median(r["seconds"] for r in floors)
    peak = max(r["peak_mb"] for r in plans)
    # Each plan run is compared with the floor run just before it (the machine's load drifts).
    ratio = statistics.median(p["seconds"] / f["seconds"] for p, f in zip(plans, floors))
    best = min(r["seconds"] for r in plans) / min(r["seconds"] for r in floors)
    print(f"files: {args.n}, plan summary: {plans[0]['summary']}")
    print(f"plan --format json (CLI, --api-url local): median {plan_s:.3f} s "
          f"(runs: {_runs(plans)})")
    print(f"floor (C loader + fetch and decode list):   median {floor_s:.3f} s "
          f"(runs: {_runs(floors)})")
    print(f"ratio: {ratio:.2f}x, median of paired runs (limit {MAX_RATIO}x, goal {GOAL_RATIO}x); "
          f"best against best: {best:.2f}x")
    print(f"peak memory of the plan process (max RSS): {peak:.0f} MB (limit {MAX_PEAK_MB} MB)")
    if args.check and (ratio > MAX_RATIO or peak > MAX_PEAK_MB):
        print("FAIL", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
