"""Plan 10,000 definitions against 10,000 remote workflows with 1% changed.

The remote is the emulator served in-process (httpx.WSGITransport), so the
network is not what is timed. Prints the time of each phase and the peak
memory (tracemalloc) of the planning itself:

    python benchmarks/plan_scale.py [N] [--changed 0.01]
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time
import tracemalloc

import httpx

from voicebot_sync.client import VoicebotClient
from voicebot_sync.definitions import load_definitions
from voicebot_sync.emulator import Emulator, make_wsgi_app
from voicebot_sync.planner import make_plan


def write_repo(root: str, n: int) -> None:
    """One file per workflow, as a real repo keeps them."""
    os.makedirs(root, exist_ok=True)
    for i in range(n):
        with open(os.path.join(root, f"w{i:05}.yaml"), "w", encoding="utf-8") as fh:
            fh.write(
                f"name: Workflow {i:05}\n"
                f"description: Reminder number {i}\n"
                f"workflow_type: {'CONVERSATION' if i % 7 == 0 else 'ROBOCALL'}\n"
                "message: |\n"
                f"  Hello [name], this is reminder {i}.\n"
                "  Your appointment is on [date] at [time].\n"
            )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("n", nargs="?", type=int, default=10_000)
    parser.add_argument("--changed", type=float, default=0.01)
    args = parser.parse_args()
    n = args.n
    with tempfile.TemporaryDirectory() as root:
        write_repo(root, n)
        emulator = Emulator()
        for i in range(n):
            message = f"Hello [name], this is reminder {i}.\nYour appointment is on [date] at [time]."
            if i % int(1 / args.changed) == 0:
                message += " (changed remotely)"
            emulator.add_workflow(name=f"Workflow {i:05}", description=f"Reminder number {i}",
                                  workflow_type="CONVERSATION" if i % 7 == 0 else "ROBOCALL", message=message)
        client = VoicebotClient("http://emulator/voicebot/v1", None, transport=httpx.WSGITransport(app=make_wsgi_app(emulator)))

        t0 = time.perf_counter()
        definitions = load_definitions([root])
        t1 = time.perf_counter()
        remote = client.list_workflows()
        t2 = time.perf_counter()
        plan = make_plan(definitions, remote, api_url="http://emulator/voicebot/v1", windows=[(6, 60.0), (60, 3600.0)])
        t3 = time.perf_counter()
        # Memory is measured in second runs: tracemalloc slows what it watches.
        tracemalloc.start()
        make_plan(definitions, remote, api_url="http://emulator/voicebot/v1", windows=[(6, 60.0), (60, 3600.0)])
        _, peak = tracemalloc.get_traced_memory()
        tracemalloc.stop()
        tracemalloc.start()
        load_definitions([root])
        _, load_peak = tracemalloc.get_traced_memory()
        tracemalloc.stop()

    print(f"definitions: {len(definitions)}, remote: {len(remote)}, changes: {len(plan.changes)} "
          f"({plan.summary['update']} updates), unchanged: {plan.unchanged}")
    print(f"load+validate {n} files: {t1 - t0:.3f} s (peak {load_peak / 2**20:.1f} MiB)")
    print(f"list remote (in-process): {t2 - t1:.3f} s")
    print(f"plan (match + compare):   {t3 - t2:.3f} s (peak {peak / 2**20:.1f} MiB)")
    import resource

    print(f"process max RSS: {resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024:.0f} MiB")


if __name__ == "__main__":
    main()
