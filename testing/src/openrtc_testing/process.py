"""A worker started the way operators start it (``python app.py start ...``), for e2e tests.

The worker's stderr is read continuously (a full pipe would block its next log line) and kept
for assertions; with ``--metrics-json-file`` its snapshots can be read while it serves.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import signal
import sys
from pathlib import Path
from typing import Any

from openrtc_testing.dispatch import ServerAddress

READ_TAIL_S = 10.0
"""How long after the worker exited its log is read on: what it wrote last."""


class WorkerProcess:
    def __init__(
        self,
        app: Path,
        server: ServerAddress,
        *args: str,
        verb: str = "start",
        args_before: tuple[str, ...] = (),
        snapshot_file: Path | None = None,
        env: dict[str, str] | None = None,
    ) -> None:
        self.app = app
        self.server = server
        self.args = args
        self.verb = verb
        self.args_before = args_before
        self.snapshot_file = snapshot_file
        self.env = env or {}
        self.log: list[str] = []
        self.proc: asyncio.subprocess.Process | None = None
        self._reader: asyncio.Task[None] | None = None

    async def start(self) -> WorkerProcess:
        command = [sys.executable, str(self.app), *self.args_before, self.verb]
        command += ["--url", self.server.url]
        command += ["--api-key", self.server.api_key, "--api-secret", self.server.api_secret]
        if self.snapshot_file is not None:
            command += ["--metrics-json-file", str(self.snapshot_file)]
            command += ["--metrics-interval", "0.2"]
        self.proc = await asyncio.create_subprocess_exec(
            *command,
            *self.args,
            stdout=asyncio.subprocess.DEVNULL,
            stderr=asyncio.subprocess.PIPE,
            env={**os.environ, "PYTHONUNBUFFERED": "1", **self.env},
            # a process group of its own: stop() ends everything the worker started (job
            # processes, session hosts, livekit's forkserver), which would otherwise outlive
            # a killed worker and keep its log pipe open
            start_new_session=True,
        )
        assert self.proc.stderr is not None
        self._reader = asyncio.create_task(self._read(self.proc.stderr))
        return self

    async def _read(self, stream: asyncio.StreamReader) -> None:
        while line := await stream.readline():
            self.log.append(line.decode(errors="replace"))

    def tail(self, chars: int = 4000) -> str:
        return "".join(line for line in self.log if "DEBUG" not in line)[-chars:]

    async def wait_for_line(self, needle: str, timeout_s: float = 90.0) -> str:
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout_s
        while True:
            for line in self.log:
                if needle in line:
                    return line
            if self._reader is None or self._reader.done() or loop.time() > deadline:
                raise AssertionError(f"worker did not log {needle!r}; its log ends:\n{self.tail()}")
            await asyncio.sleep(0.1)

    def snapshot(self) -> dict[str, Any] | None:
        """The last snapshot the worker wrote, or ``None`` before the first one."""
        if self.snapshot_file is None:
            raise ValueError("start the worker with snapshot_file= to read its snapshots")
        try:
            data: dict[str, Any] = json.loads(self.snapshot_file.read_text(encoding="utf-8"))
        except FileNotFoundError:
            return None
        return data

    @property
    def pid(self) -> int:
        assert self.proc is not None, "start() the worker first"
        return self.proc.pid

    @property
    def returncode(self) -> int | None:
        return None if self.proc is None else self.proc.returncode

    def send_signal(self, signum: int) -> None:
        assert self.proc is not None, "start() the worker first"
        self.proc.send_signal(signum)

    async def wait(self, timeout_s: float = 90.0) -> int:
        assert self.proc is not None, "start() the worker first"
        try:
            code = await asyncio.wait_for(self.proc.wait(), timeout_s)
        except TimeoutError:
            raise AssertionError(
                f"worker still running after {timeout_s:.0f}s; its log ends:\n{self.tail()}"
            ) from None
        await self._finish_reading()
        return code

    def save_log(self, path: Path) -> Path:
        """Write what the worker logged to ``path``, for reading after a failed run."""
        path.write_text("".join(self.log), encoding="utf-8")
        return path

    async def stop(self) -> None:
        """Kill a worker a failed test left running, and every process it started."""
        if self.proc is not None:
            with contextlib.suppress(ProcessLookupError):  # the group is gone already
                os.killpg(self.proc.pid, signal.SIGKILL)
            await self.proc.wait()
        await self._finish_reading()

    async def _finish_reading(self, within_s: float = READ_TAIL_S) -> None:
        """Read the log to its end; a process the worker left behind (a job process killed
        with it, stuck in its exit) may hold the pipe open for good, so not for ever."""
        if self._reader is None:
            return
        try:
            await asyncio.wait_for(asyncio.shield(self._reader), within_s)
        except TimeoutError:
            self._reader.cancel()
            self.log.append(f"[log cut: the pipe was still open {within_s:g} s after exit]\n")
