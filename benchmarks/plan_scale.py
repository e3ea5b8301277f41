"""`plan --format json` of 10,000 definition files, end to end through the CLI, against its floor.

The remote is the built-in emulator (``--api-url local``) holding the 10,000
workflows (1% changed), so the network is not what is timed. In the same run,
and on the same files, the floor is measured: PyYAML's C loader reading every
file, plus fetching and decoding the list through the same local transport.
Each measurement runs in a fresh process, alternately, several times; the ratio
is the median of each plan run over the floor run just before it:

    python benchmarks/plan_scale.py [N] [--changed 0.01] [--runs 3] [--check]

Both processes load the libraries the floor uses (PyYAML, httpx) before the clock
starts; the plan's own modules are imported on the clock, as the command imports
them. Three plans are timed each round: as a user runs it (reading shared out
between processes on a machine with several cores: ``read/fanout.py``); in one
process; and with the libraries' imports on the clock too (the measure of
earlier rounds: httpx alone is 0.06-0.1 s, with rich and pygments installed).

Prints the ratios, the times and the peak memory (max RSS) of the plan process
and of its reading processes. With ``--check`` it exits 1 when the first ratio
is over 2.0 or the peak over 200 MB.
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


def _peak_mb(children: bool = False) -> float:
    import resource

    peak = resource.getrusage(resource.RUSAGE_CHILDREN if children else resource.RUSAGE_SELF).ru_maxrss
    return peak / 2**20 if sys.platform == "darwin" else peak / 1024  # bytes on macOS, KiB elsewhere


def child_plan(root: str, mode: str = "plan") -> dict:
    """``plan``: as a user runs it; ``serial``: in one process; ``imports``: httpx and PyYAML imported on the clock."""
    if mode != "imports":
        import httpx  # noqa: F401 - loaded before the clock, as in the floor's process
        import yaml  # noqa: F401
    from click.testing import CliRunner

    from voicebot_sync.cli import main
    from voicebot_sync.read import fanout

    if mode == "serial":
        fanout.MAX_PROCESSES = 1
    os.chdir(root)
    runner = CliRunner()
    started = time.perf_counter()
    result = runner.invoke(main, ["plan", "--format", "json", "--api-url", "local", "workflows"], env={
        "VOICEBOT_API_KEY": None, "VOICEBOT_API_URL": None, "VOICEBOT_SYNC_CONFIG": None, "VOICEBOT_ENV": None})
    seconds = time.perf_counter() - started
    if result.exit_code != 0:
        raise SystemExit(f"plan failed ({result.exit_code}): {result.output[-2000:]}")
    plan = json.loads(result.stdout)
    return {"seconds": seconds, "peak_mb": _peak_mb(), "children_peak_mb": _peak_mb(children=True),
            "summary": plan.get("summary")}


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
        print(json.dumps(child_floor(root) if kind == "floor" else child_plan(root, kind)))
        return 0

    modes = {"plan": "plan --format json (CLI, --api-url local)", "serial": "  the same in one process",
             "imports": "  the same, httpx and PyYAML imported on the clock"}
    with tempfile.TemporaryDirectory() as root:
        write_repo(root, args.n, args.changed)
        runs: dict[str, list[dict]] = {"floor": [], **{mode: [] for mode in modes}}
        for _ in range(args.runs):
            for kind in runs:
                runs[kind].append(_run_child(kind, root))
    floors = runs["floor"]
    floor_s = statistics.median(r["seconds"] for r in floors)
    print(f"files: {args.n}, plan summary: {runs['plan'][0]['summary']}")
    print(f"{'floor (C loader + fetch and decode list)':52} median {floor_s:.3f} s (runs: {_runs(floors)})")
    ratios = {}
    for mode, label in modes.items():
        plans = runs[mode]
        # Each plan run is compared with the floor run of its round (the machine's load drifts).
        ratios[mode] = statistics.median(p["seconds"] / f["seconds"] for p, f in zip(plans, floors))
        best = min(r["seconds"] for r in plans) / min(r["seconds"] for r in floors)
        print(f"{label:52} median {statistics.median(r['seconds'] for r in plans):.3f} s (runs: {_runs(plans)}); "
              f"ratio {ratios[mode]:.2f}x (best against best {best:.2f}x)")
    ratio = ratios["plan"]
    print(f"ratio: {ratio:.2f}x, median of paired runs (limit {MAX_RATIO}x, goal {GOAL_RATIO}x)")
    peak = max(r["peak_mb"] for r in runs["plan"])
    children = max(r["children_peak_mb"] for r in runs["plan"])
    print(f"peak memory of the plan process (max RSS): {peak:.0f} MB (limit {MAX_PEAK_MB} MB); "
          f"of its largest reading process: {children:.0f} MB")
    if args.check and (ratio > MAX_RATIO or peak > MAX_PEAK_MB):
        print("FAIL", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
