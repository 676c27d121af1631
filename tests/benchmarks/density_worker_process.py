"""A worker under test, run as a separate OS process in a process group of its own.

Its output (log lines and the ``DENSITY`` lines of density_probe) is read continuously, kept
for the result and written to a log file; a worker whose pipe filled up would block on its
next log line. Stopping it is SIGTERM (a drain), then SIGKILL of its whole group.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import signal
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TextIO

from density_probe import PREFIX

STOP_GRACE_S = 60.0


class WorkerStartFailed(RuntimeError):
    """The worker exited, or never registered, before serving a call."""


@dataclass(frozen=True)
class WorkerLaunch:
    implementation: str
    mode: str
    command: list[str]
    env: dict[str, str]
    cwd: Path


class WorkerProcess:
    def __init__(self, launch: WorkerLaunch, log_path: Path) -> None:
        self.launch = launch
        self.log_path = log_path
        self.lines: list[str] = []
        self.events: list[dict[str, Any]] = []
        self.started_at = 0.0
        self._proc: asyncio.subprocess.Process | None = None
        self._reader: asyncio.Task[None] | None = None

    @property
    def pid(self) -> int:
        return self._require().pid

    @property
    def exited(self) -> bool:
        return self._proc is not None and self._proc.returncode is not None

    async def start(self) -> None:
        self.started_at = time.monotonic()
        self._proc = await asyncio.create_subprocess_exec(
            *self.launch.command,
            env=self.launch.env,
            cwd=self.launch.cwd,
            stdin=asyncio.subprocess.DEVNULL,
            # livekit's CLI logs JSON to stdout, ours and tracebacks go to stderr: keep both
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.STDOUT,
            start_new_session=True,
            # a JSON log line carrying a stack can pass asyncio's 64 KiB default
            limit=2**24,
        )
        self._reader = asyncio.create_task(self._read(self._proc))

    async def _read(self, proc: asyncio.subprocess.Process) -> None:
        assert proc.stdout is not None
        with self._open_log() as log:
            while raw := await proc.stdout.readline():
                line = raw.decode(errors="replace").rstrip("\n")
                log.write(line + "\n")
                self.lines.append(line)
                if line.startswith(PREFIX):
                    with contextlib.suppress(json.JSONDecodeError):
                        self.events.append(json.loads(line[len(PREFIX) :]))
        await proc.wait()

    def _open_log(self) -> TextIO:
        return open(self.log_path, "w", encoding="utf-8")  # a local file: a short write

    def seen(self, event: str) -> list[dict[str, Any]]:
        return [e for e in self.events if e.get("event") == event]

    async def wait_registered(self, timeout_s: float) -> float:
        """Seconds from launch to registration; raises WorkerStartFailed with the reason."""
        deadline = time.monotonic() + timeout_s
        while not self.seen("registered"):
            if self.exited or (self._reader is not None and self._reader.done()):
                code = self._require().returncode
                raise WorkerStartFailed(f"worker exited with code {code}: {self.last_error()}")
            if time.monotonic() > deadline:
                raise WorkerStartFailed(f"worker did not register within {timeout_s:.0f} s")
            await asyncio.sleep(0.1)
        return time.monotonic() - self.started_at

    def last_error(self) -> str:
        """The line most likely to say why the worker stopped: the end of its traceback."""
        for line in reversed(self.lines):
            text = line.strip()
            if text and not text.startswith((PREFIX, "File ", "^", "~")):
                return text[:400]
        return "no output"

    def count_lines(self, needle: str) -> int:
        return sum(needle in line for line in self.lines)

    async def stop(self) -> int | None:
        """Drain with SIGTERM, then kill the whole group; returns the worker's exit code."""
        proc = self._require()
        if proc.returncode is None:
            with contextlib.suppress(ProcessLookupError):
                proc.send_signal(signal.SIGTERM)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(proc.wait(), STOP_GRACE_S)
        # job, forkserver and inference processes share the worker's group; none may outlive it
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGKILL)
        await proc.wait()
        if self._reader is not None:
            await self._reader
        return proc.returncode

    def _require(self) -> asyncio.subprocess.Process:
        if self._proc is None:
            raise RuntimeError("the worker was never started")
        return self._proc
