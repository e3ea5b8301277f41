"""How close apply gets to the rate limit: requests, 429s and wall time against the least time.

Applies N creates against the emulator over real HTTP on 127.0.0.1, with the
real limits scaled down (6/1m,60/1h divided by SCALE) on both sides: the
emulator enforces them with 429s and the client paces itself. Prints, per N:
requests sent / minimum, 429s received, wall time / least time the limit allows.

    python benchmarks/rate_limit.py            # N = 24 and 100
    python benchmarks/rate_limit.py 24 --scale 240
"""

from __future__ import annotations

import argparse
import time

from voicebot_sync.emulator import Emulator, running
from voicebot_sync.executor import Executor
from voicebot_sync.planner import make_plan
from voicebot_sync.api.ratelimit import least_time
from voicebot_sync.commands.common import Connection, make_client


class Definition:
    def __init__(self, name: str):
        self.name, self.id, self.source, self.line = name, None, "bench", 1

    def desired(self):
        return {"name": self.name, "description": "", "workflow_type": "ROBOCALL", "message": f"Hello [name], this is {self.name}"}


def run(n: int, scale: float) -> dict:
    windows = [(6, 60.0 / scale), (60, 3600.0 / scale)]
    emulator = Emulator(api_keys=["bench-key"], rate_limit=windows)
    with running(emulator) as url:
        client = make_client(Connection(url, "bench-key", windows))
        started = time.monotonic()
        plan = make_plan([Definition(f"W{i:04}") for i in range(n)], client.list_workflows(), api_url=url, windows=windows)
        report = Executor(client).run(plan)
        wall = time.monotonic() - started
        client.close()
    least = least_time(n + 1, windows)
    return {
        "n": n, "requests": report.requests, "minimum": n + 1, "429s": report.rate_limited,
        "server_429s": emulator.stats["rate_limited"], "wall": wall, "least": least, "complete": report.complete,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("sizes", nargs="*", type=int, default=[24, 100])
    parser.add_argument("--scale", type=float, default=120.0, help="divide the real windows by this (default 120: 6/0.5s,60/30s)")
    args = parser.parse_args()
    print(f"limits: 6/1m,60/1h scaled 1/{args.scale:g} -> 6/{60 / args.scale:g}s,60/{3600 / args.scale:g}s")
    print(f"{'N':>5} {'requests/min':>14} {'ratio':>6} {'429s':>5} {'wall s':>8} {'least s':>8} {'ratio':>6}")
    for n in args.sizes:
        r = run(n, args.scale)
        ratio_t = r["wall"] / r["least"] if r["least"] else float("nan")
        print(f"{r['n']:>5} {r['requests']:>6}/{r['minimum']:<7} {r['requests'] / r['minimum']:>6.2f} {r['429s']:>5} "
              f"{r['wall']:>8.2f} {r['least']:>8.2f} {ratio_t:>6.3f}" + ("" if r["complete"] else "  INCOMPLETE"))


if __name__ == "__main__":
    main()
