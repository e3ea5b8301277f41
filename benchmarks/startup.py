"""Start-up time of the CLI: `--help`, `--version` and `validate` (median of several runs).

    python benchmarks/startup.py
"""

from __future__ import annotations

import statistics
import subprocess
import sys
import time

RUNS = 7
COMMANDS = [["--version"], ["--help"], ["validate", "examples/workflows"]]


def main() -> None:
    medians = {}
    for args in COMMANDS:
        times = []
        for _ in range(RUNS):
            started = time.perf_counter()
            subprocess.run([sys.executable, "-m", "voicebot_sync", *args], check=True, capture_output=True)
            times.append(time.perf_counter() - started)
        medians[args[0]] = statistics.median(times)
        print(f"voicebot-sync {' '.join(args):<28} median {statistics.median(times) * 1000:6.0f} ms  (min {min(times) * 1000:.0f} ms, {RUNS} runs)")
    bare = []
    for _ in range(RUNS):
        started = time.perf_counter()
        subprocess.run([sys.executable, "-c", "pass"], check=True)
        bare.append(time.perf_counter() - started)
    print(f"{'python -c pass (for reference)':<42} median {statistics.median(bare) * 1000:6.0f} ms")
    # The goal: --version within twice a bare interpreter (it imports neither click nor the commands).
    print(f"--version / python -c pass: {medians['--version'] / statistics.median(bare):.1f}x")


if __name__ == "__main__":
    main()
