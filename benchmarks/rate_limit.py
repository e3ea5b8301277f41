"""How close apply gets to the rate limit: requests, 429s and wall time against the least time.

Applies N creates against the emulator over real HTTP on 127.0.0.1, with the
real limits scaled down (6/1m,60/1h divided by SCALE) on both sides: the
emulator enforces them with 429s and the client paces itself. Prints, per N:
requests sent / minimum, 429s received, wall time / least time the limit allows.

    python benchmarks/rate_limit.py            # N = 24 and 100, then the two cross-run cases
    python benchmarks/rate_limit.py 24 --scale 240

Two more cases (issue 14), through the real CLI:
* plan then apply in two processes, one key: the apply starts from the ledger the
  plan wrote, so the server answers no 429 (must be 0);
* two environments in one apply (``--env a,b``), each its own emulator and key:
  wall time over the slower environment's least time (at most 1.1).
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time

from voicebot_sync.emulator import Emulator, running
from voicebot_sync.apply.executor import Executor
from voicebot_sync.core.planner import make_plan
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
    # A fresh emulator per size: a fresh ledger too (the same key would otherwise carry its budget over).
    os.environ["VOICEBOT_SYNC_STATE_DIR"] = tempfile.mkdtemp(prefix="voicebot-bench-")
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


def _workflows(folder: str, n: int) -> None:
    os.makedirs(folder, exist_ok=True)
    for i in range(n):
        with open(os.path.join(folder, f"w{i:04}.yaml"), "w", encoding="utf-8") as fh:
            fh.write(f"name: W{i:04}\nmessage: Hello [name], this is W{i:04}.\n")


def plan_then_apply(n: int, scale: float) -> dict:
    """plan, then apply at once, in two processes with one key: 429s the server answered."""
    windows = [(6, 60.0 / scale), (60, 3600.0 / scale)]
    spec = ",".join(f"{c}/{length:g}s" for c, length in windows)
    emulator = Emulator(api_keys=["bench-key"], rate_limit=windows)
    with tempfile.TemporaryDirectory() as repo, running(emulator) as url:
        _workflows(os.path.join(repo, "workflows"), n)
        env = {**os.environ, "VOICEBOT_API_URL": url, "VOICEBOT_API_KEY": "bench-key", "VOICEBOT_RATE_LIMIT": spec,
               "VOICEBOT_SYNC_STATE_DIR": os.path.join(repo, "state")}
        for args in (["plan"], ["apply", "--yes"]):
            subprocess.run([sys.executable, "-m", "voicebot_sync", *args], cwd=repo, env=env, check=True,
                           capture_output=True)
    return {"requests": emulator.stats["requests"], "server_429s": emulator.stats["rate_limited"]}


def two_environments(n: int, scale: float) -> dict:
    """apply --env a,b against two emulators: wall time over the slower environment's least time."""
    windows = [(6, 60.0 / scale), (60, 3600.0 / scale)]
    spec = ",".join(f"{c}/{length:g}s" for c, length in windows)
    a, b = Emulator(api_keys=["key-a"], rate_limit=windows), Emulator(api_keys=["key-b"], rate_limit=windows)
    with tempfile.TemporaryDirectory() as repo, running(a) as url_a, running(b) as url_b:
        _workflows(os.path.join(repo, "workflows"), n)
        with open(os.path.join(repo, "voicebot-sync.yaml"), "w", encoding="utf-8") as fh:
            fh.write(f"rate_limit: {spec}\nenvironments:\n  a: {{api_url: '{url_a}', api_key_env: KEY_A}}\n"
                     f"  b: {{api_url: '{url_b}', api_key_env: KEY_B}}\n")
        env = {**os.environ, "KEY_A": "key-a", "KEY_B": "key-b", "VOICEBOT_SYNC_STATE_DIR": os.path.join(repo, "state")}
        started = time.monotonic()
        subprocess.run([sys.executable, "-m", "voicebot_sync", "apply", "--env", "a,b", "--yes"], cwd=repo, env=env,
                       check=True, capture_output=True)
        wall = time.monotonic() - started
    least = least_time(n + 1, windows)
    return {"wall": wall, "least": least, "429s": a.stats["rate_limited"] + b.stats["rate_limited"]}


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
    n = 12
    r = plan_then_apply(n, args.scale)
    print(f"plan then apply in two processes, N={n}: {r['requests']} requests, {r['server_429s']} answered 429 (must be 0)")
    n = 48  # a least time of seconds, so process start-up does not dominate the ratio
    r = two_environments(n, args.scale / 2)
    print(f"two environments in one apply, N={n} each: wall {r['wall']:.2f} s, slower environment's least time "
          f"{r['least']:.2f} s, ratio {r['wall'] / r['least']:.3f} (at most 1.1; includes process start-up), "
          f"{r['429s']} 429s")


if __name__ == "__main__":
    main()
