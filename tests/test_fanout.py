"""read/fanout.py: work shared out between forked processes gives exactly the serial result, or falls back to it."""

from __future__ import annotations

import subprocess
import sys
import textwrap
import threading

import pytest

from voicebot_sync.read import fanout

# Forking runs in a fresh interpreter: a pytest worker has threads of its own, and fanout never forks
# a threaded process (processes_for below); the script forces the number of processes instead.
SCRIPT = textwrap.dedent("""
    import os, signal, sys
    from voicebot_sync.read import definitions, fanout

    parent = os.getpid()
    assert fanout.processes_for(10_000) >= 1

    # The same list, in order, whatever the number of processes.
    items = list(range(2_000))
    for processes in (1, 2, 3, 4):
        assert fanout.map_in_order(lambda i: (i, i * i), items, processes=processes) == [(i, i * i) for i in items]

    # A child that raises, exits or is killed: its part is done here instead, and the result is the same.
    def flaky(how):
        def function(i):
            if os.getpid() != parent and i == 1_500:
                if how == "raise":
                    raise RuntimeError("a bug in the child")
                if how == "exit":
                    os._exit(0)  # leaves without sending anything
                os.kill(os.getpid(), signal.SIGKILL)
            return -i
        return function
    for how in ("raise", "exit", "kill"):
        assert fanout.map_in_order(flaky(how), items, processes=2) == [-i for i in items], how

    # A bug that is a bug everywhere is raised here, once, as it would be without children.
    def broken(i):
        raise ValueError(f"item {i}")
    try:
        fanout.map_in_order(broken, items, processes=2)
    except ValueError as exc:
        assert str(exc) == "item 0", exc
    else:
        raise AssertionError("no error")
    # Nothing is left running.
    try:
        os.waitpid(-1, os.WNOHANG)
    except ChildProcessError:
        pass
    else:
        raise AssertionError("a child was left behind")

    # Definitions: the same definitions, problems and notes, in the same order, read by one process or four.
    root = sys.argv[1]
    def load():
        try:
            definitions_, notes = definitions.load_definitions_with_notes([root])
            return [(d.source, d.line, d.fields, d.key_lines) for d in definitions_], notes
        except definitions.ValidationError as exc:
            return [str(p) for p in exc.problems], exc.notes
    fanout.MAX_PROCESSES = 1
    serial = load()
    fanout.MAX_PROCESSES, fanout.MIN_PER_PROCESS = 4, 10
    assert fanout.processes_for(600) == min(4, len(os.sched_getaffinity(0)))
    assert load() == serial
    print("ok", len(serial[0]))
""")


def _tree(root, *, broken: bool):
    for i in range(600):
        text = f"name: Workflow {i:04}\nmessage: Hello [name], number {i}\n"
        if broken and i % 97 == 0:
            text = f"name: Workflow {i:04}\nmessage: [unclosed\n  bad: [1, 2\n"
        (root / f"w{i:04}.yaml").write_text(text)
    (root / "empty.yaml").write_text("# nothing\n")


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="fanout forks only on Linux")
@pytest.mark.parametrize("broken", [False, True], ids=["valid", "with-problems"])
def test_forked_reading_gives_exactly_the_serial_result(tmp_path, broken):
    _tree(tmp_path, broken=broken)
    done = subprocess.run([sys.executable, "-c", SCRIPT, str(tmp_path)], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert done.stdout.startswith("ok ")


def test_no_fork_beside_another_thread_or_for_a_small_list():
    assert fanout.processes_for(fanout.MIN_PER_PROCESS - 1) == 1
    stop = threading.Event()
    thread = threading.Thread(target=stop.wait)
    thread.start()
    try:
        assert fanout.processes_for(1_000_000) == 1
    finally:
        stop.set()
        thread.join()


def test_one_process_is_a_plain_loop():
    seen = []
    assert fanout.map_in_order(lambda i: seen.append(i) or i + 1, [3, 1, 2], processes=1) == [4, 2, 3]
    assert seen == [3, 1, 2]
