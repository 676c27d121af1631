"""Each live call's state (listening, thinking, speaking) for ``openrtc top``, wherever it runs.

A session in the worker process is read when ``top`` asks (``LiveSessions.states``). A job
process or session host tells its worker the states of the calls it runs, but only while
someone watches: each ``sessions`` request (``openrtc top``) touches a marker file next to the
worker's control socket, and a process that runs sessions looks at the marker's age once a
second; while it is fresh the process sends the states of its calls when they changed, one
``call_states`` request per process per second at most. With nobody watching, a session
process pays one ``stat`` a second and the worker nothing.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Collection, Mapping
from pathlib import Path
from typing import Any

from openrtc.control_socket import ask
from openrtc.live_sessions import LiveSessions

logger = logging.getLogger("openrtc.control")

STATES_OP = "call_states"
WATCH_SUFFIX = ".watched"
WATCHED_FOR_S = 10.0
"""How long after ``top``'s last reading session processes keep reporting (five readings at
``top``'s default interval)."""
REPORT_EVERY_S = 1.0


def watch_marker(socket: Path) -> Path:
    """The marker a worker at ``socket`` touches when its calls are watched."""
    return socket.with_suffix(WATCH_SUFFIX)


class WatchedStates:
    """The worker's side: marks itself watched, and keeps what session processes report."""

    def __init__(self, socket: Path) -> None:
        self.marker = watch_marker(socket)
        self._by_job: dict[str, str] = {}

    def watched(self) -> None:
        with contextlib.suppress(OSError):  # a full disk costs the states, not the reading
            self.marker.touch()

    def states(self, live_jobs: Collection[str]) -> dict[str, str]:
        """The reported state of each job still live; reports of ended jobs are dropped."""
        self._by_job = {job: s for job, s in self._by_job.items() if job in live_jobs}
        return dict(self._by_job)

    async def answer(self, request: Mapping[str, Any]) -> Mapping[str, Any]:
        states = request.get("states")
        if not isinstance(states, dict) or not all(
            isinstance(k, str) and isinstance(v, str) for k, v in states.items()
        ):
            return {"error": "states must be an object of job id -> state"}
        self._by_job.update(states)
        return {"ok": True}

    def close(self) -> None:
        with contextlib.suppress(FileNotFoundError):
            self.marker.unlink()


class StateReporter:
    """A session process's side: while the worker is watched, send its calls' states."""

    def __init__(self, socket: Path, live: LiveSessions) -> None:
        self.socket = socket
        self.marker = watch_marker(socket)
        self.live = live
        self._task: asyncio.Task[None] | None = None

    def ensure_running(self) -> None:
        """Report for as long as this process runs sessions (call when one starts)."""
        if self._task is None or self._task.done():
            self._task = asyncio.get_running_loop().create_task(self._report())

    def _watched(self) -> bool:
        try:
            return time.time() - self.marker.stat().st_mtime < WATCHED_FOR_S
        except OSError:
            return False

    async def _report(self) -> None:
        sent: dict[str, str] = {}
        while states := self.live.states():  # the worker forgets ended calls on its own
            if not self._watched():
                sent = {}  # watched again later: send everything anew
            elif states != sent:
                try:
                    await ask(self.socket, {"op": STATES_OP, "states": states})
                    sent = states
                except (OSError, TimeoutError, ValueError) as exc:
                    logger.debug("call states did not reach the worker at %s: %s", self.socket, exc)
            await asyncio.sleep(REPORT_EVERY_S)
