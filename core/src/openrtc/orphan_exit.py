"""A session process whose worker died ends itself, even when its own shutdown hangs.

The processes a worker starts for its sessions (livekit's job processes in process isolation,
the session hosts in hybrid) see their pipe to the worker close when it dies (SIGKILL, the OOM
killer) and shut their calls down. Their exit can still hang: on the way out Python joins
every non-daemon thread, and one left running by agent code or a provider's SDK (livekit warns
about them) keeps the process, its memory and its rooms alive for good, with no worker left to
kill it. ``end_when_worker_gone`` watches the worker from a daemon thread and, once it is
gone, gives the process's own shutdown ``GRACE_S`` before ending it.
"""

from __future__ import annotations

import contextlib
import os
import select
import threading
import time

from openrtc.control_socket import pid_alive

GRACE_S = 5.0
"""How long a process may go on after its worker died. livekit's job process and a session
host end their calls on their own within a fraction of a second of the pipe closing (0.2 s
measured, tests/e2e/test_worker_killed.py); this is only for an exit that hangs."""

POLL_S = 1.0
"""How often the worker is looked for where the kernel offers no process handle to wait on."""

EXIT_CODE = 4
"""The exit code of a process ended here (not a signal's, not Python's 1)."""


def end_when_worker_gone(worker_pid: int, grace_s: float = GRACE_S) -> None:
    """Start watching ``worker_pid``; once it has exited and ``grace_s`` passed, end this
    process with ``os._exit`` (no cleanup: the cleanup is what hangs). Call it early in the
    process, from its main thread; the watcher is a daemon thread, so it never holds the
    process up itself."""
    threading.Thread(
        target=_watch, args=(worker_pid, grace_s), name="openrtc-orphan-exit", daemon=True
    ).start()


def _watch(worker_pid: int, grace_s: float) -> None:
    _wait_for_exit(worker_pid)
    time.sleep(grace_s)
    # os.write, not logging or print: their locks may be held by the threads that hang
    with contextlib.suppress(OSError):
        os.write(
            2,
            (
                f"openrtc: session process {os.getpid()} is still running {grace_s:g} s after "
                f"its worker {worker_pid} exited (a non-daemon thread or a shutdown that does "
                "not end); ending it\n"
            ).encode(),
        )
    os._exit(EXIT_CODE)


def _wait_for_exit(pid: int) -> None:
    try:
        # a pidfd becomes readable when the process exits, and cannot name a reused pid
        handle = os.pidfd_open(pid)
    except ProcessLookupError:
        return  # gone already
    except (AttributeError, OSError):
        # not Linux, or a kernel before 5.3: look for the pid now and then
        while pid_alive(pid):
            time.sleep(POLL_S)
        return
    try:
        # poll, not select: a process that inherited many descriptors may hold this one
        # above select's limit of 1024
        waiting = select.poll()
        waiting.register(handle, select.POLLIN)
        waiting.poll()
    finally:
        os.close(handle)
