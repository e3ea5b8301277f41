"""text/sinks.py across threads: environments share the doors, and no line of outside text begins a
workflow command, whatever the interleaving."""

import io
import sys
import threading

from voicebot_sync.text.sinks import SafeStream


def test_writers_in_threads_never_let_outside_text_begin_a_workflow_command():
    raw = io.StringIO()
    door = SafeStream(raw, actions=True)
    start = threading.Barrier(4)

    def writer(n):
        start.wait()
        for i in range(300):
            door.write(f"[env{n}] part ")  # half a line, then outside text that looks like a command
            door.write(f"::error::from the server {i}\n")
            door.write("::set-output name=x::y\n")

    threads = [threading.Thread(target=writer, args=(n,)) for n in range(4)]
    interval = sys.getswitchinterval()
    sys.setswitchinterval(1e-6)  # switch threads as often as the interpreter can: every interleaving shows
    try:
        for t in threads:
            t.start()
        for t in threads:
            t.join()
    finally:
        sys.setswitchinterval(interval)
    lines = raw.getvalue().splitlines()
    assert len(lines) == 4 * 300 * 2
    assert not [line for line in lines if line.startswith("::")]
