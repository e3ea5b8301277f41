"""``python -m voicebot_sync.github validate|plan|apply|drift``: the Action's steps (and ``ledger``, the
fingerprint and folder that name the ledger's cache). Inputs come from the environment (``VS_*``)."""

from __future__ import annotations

import os
import sys

from ..text import sinks
from ..errors import EXIT, VoicebotSyncError
from .apply_step import step_apply
from .inputs import action_environment, ledger_fingerprint
from .runner import Runner
from .steps import step_drift, step_plan, step_validate


def step_ledger(runner: Runner, transport=None) -> int:
    """``fingerprint`` (of the key the tool will use: never the key) and ``dir`` (the state directory, whose
    ``ledger/`` and ``applied/`` the action restores and saves with actions/cache). Never fails the job: without a key (or
    with a config the tool will refuse) the fingerprint is empty and the cache steps are skipped."""
    state = runner.env.get("VOICEBOT_SYNC_STATE_DIR") or os.path.join(runner.temp, "voicebot-sync-state")
    try:
        fingerprint = ledger_fingerprint(runner)
    except Exception:  # noqa: BLE001 - the command step reports any problem with its own words
        fingerprint = ""
    runner.set_output("fingerprint", fingerprint)
    runner.set_output("dir", os.path.abspath(state))
    runner.set_output("ledger-dir", os.path.join(os.path.abspath(state), "ledger"))
    runner.set_output("applied-dir", os.path.join(os.path.abspath(state), "applied"))  # state/applied.py
    return EXIT["ok"]


STEPS = {"validate": step_validate, "plan": step_plan, "apply": step_apply, "drift": step_drift,
         "ledger": step_ledger}


def main(argv: list[str] | None = None) -> int:
    import argparse

    parser = argparse.ArgumentParser(
        prog="python -m voicebot_sync.github",
        description="The steps of the voicebot-sync GitHub Action. Inputs come from the environment "
                    "(VS_PATH, VS_PRUNE, VS_FORCE, VS_COMMENT, VS_MAX_DURATION, VS_FAIL_ON_INCOMPLETE, "
                    "VS_ALLOW_PLAN_CHANGE, VS_FAIL_ON_DRIFT, VS_TRUSTED_COMMENTER, VS_GITHUB_TOKEN; VS_API_URL, "
                    "VS_API_KEY, VS_RATE_LIMIT, VS_CONFIG, VS_ENVIRONMENT, VS_STATE_DIR when set, else the tool's "
                    "own VOICEBOT_* variables). `ledger` prints the ledger cache's key fingerprint and folder.")
    parser.add_argument("step", choices=sorted(STEPS), help="what to run")
    args = parser.parse_args(argv)
    # Every write to stdout/stderr is redacted, and no line of outside text can begin a workflow command.
    previous = sinks.install(actions=os.environ.get("GITHUB_ACTIONS") == "true")
    try:
        return _run_step(args.step)
    finally:
        sys.stdout, sys.stderr = previous  # per run: a caller in the same process gets its own streams back


def _run_step(step: str) -> int:
    resolved: dict = {}  # each environment's settings, resolved once (inputs.key_variables, settings_for)
    runner = Runner(action_environment(os.environ, out=None if step != "ledger" else open(os.devnull, "w"),
                                       resolved=resolved))
    runner.resolved = resolved
    if runner.env.get("VOICEBOT_SYNC_STATE_DIR"):
        # The tool's state (journal, locks, the ledger) lives where the cache steps look for it.
        os.environ["VOICEBOT_SYNC_STATE_DIR"] = runner.env["VOICEBOT_SYNC_STATE_DIR"]
    try:
        return STEPS[step](runner)
    except VoicebotSyncError as exc:  # an expected failure a step did not report itself (an input): one line
        runner.error(str(exc), title=f"voicebot-sync {step}")
        runner.set_output("exit-code", exc.exit_code)
        return exc.exit_code
    except Exception as exc:  # a bug: one line (the traceback in a log file), never a half-written summary
        from ..state.crashlog import crash_line

        runner.error(crash_line(exc), title=f"voicebot-sync {step}")
        runner.set_output("exit-code", EXIT["internal"])
        return EXIT["internal"]


if __name__ == "__main__":
    sys.exit(main())
