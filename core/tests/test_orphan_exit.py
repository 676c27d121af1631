"""A process watching its worker ends itself after the worker exits, even when a non-daemon
thread would hold its exit up, and only then."""

from __future__ import annotations

import subprocess
import sys
import time

from openrtc import orphan_exit

# the "session process": watches the pid it is given, then starts a thread that would keep
# it alive for an hour
SESSION = """
import sys, threading, time
from openrtc.orphan_exit import end_when_worker_gone
end_when_worker_gone(int(sys.argv[1]), grace_s=float(sys.argv[2]))
threading.Thread(target=time.sleep, args=(3600,)).start()
print("watching", flush=True)
"""


def session_process(worker_pid: int, grace_s: float) -> subprocess.Popen[str]:
    process = subprocess.Popen(
        [sys.executable, "-c", SESSION, str(worker_pid), str(grace_s)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    assert process.stdout is not None and process.stdout.readline() == "watching\n"
    return process


def test_it_ends_after_its_worker_with_a_line_saying_why() -> None:
    worker = subprocess.Popen(["sleep", "3600"])
    session = session_process(worker.pid, grace_s=0.2)
    try:
        time.sleep(0.5)
        assert session.poll() is None  # the worker lives: so does the session process
        worker.kill()
        worker.wait()
        assert session.wait(timeout=30) == orphan_exit.EXIT_CODE
        assert session.stderr is not None
        assert f"its worker {worker.pid} exited" in session.stderr.read()
    finally:
        session.kill()
        worker.kill()


def test_a_worker_gone_before_the_watch_began_counts_as_gone() -> None:
    worker = subprocess.Popen(["true"])
    worker.wait()
    session = session_process(worker.pid, grace_s=0.5)
    try:
        assert session.wait(timeout=30) == orphan_exit.EXIT_CODE
    finally:
        session.kill()
