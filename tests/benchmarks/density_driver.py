"""Runs the callers of one measured run in a process of their own (see density_calls)."""

from __future__ import annotations

import asyncio
import contextlib
import json
import sys
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
HANG_UP_S = 120.0


class CallDriver:
    def __init__(self, spec: dict[str, Any], log_path: Path) -> None:
        self.spec = spec
        self.log_path = log_path
        self.finished = asyncio.Event()
        self.calls: dict[int, dict[str, Any]] = {}
        self.reported = 0  # RESULT lines: each call after it hung up
        self.cpu_s: float | None = None  # what the caller process used, user + system
        self._proc: asyncio.subprocess.Process | None = None
        self._reader: asyncio.Task[None] | None = None

    async def start(self) -> None:
        with open(self.log_path, "wb") as log:  # noqa: ASYNC230  a local file, opened once
            self._proc = await asyncio.create_subprocess_exec(
                sys.executable,
                str(HERE / "density_calls.py"),
                stdin=asyncio.subprocess.PIPE,
                stdout=asyncio.subprocess.PIPE,
                stderr=log,
                cwd=HERE,
                limit=2**24,
            )
        self._send(json.dumps(self.spec))
        self._reader = asyncio.create_task(self._read(self._proc))

    @property
    def exited(self) -> bool:
        return self._proc is not None and self._proc.returncode is not None

    async def _read(self, proc: asyncio.subprocess.Process) -> None:
        assert proc.stdout is not None
        while raw := await proc.stdout.readline():
            kind, _, payload = raw.decode(errors="replace").strip().partition(" ")
            if kind in ("CALL", "RESULT"):
                call = json.loads(payload)
                self.calls[call["index"]] = call
                self.reported += kind == "RESULT"
            elif kind == "CPU":
                self.cpu_s = float(json.loads(payload)["seconds"])
            elif kind == "FINISHED":
                self.finished.set()
        await proc.wait()
        self.finished.set()  # a driver that died will not finish any other way

    def _send(self, line: str) -> None:
        proc = self._proc
        if proc is None or proc.stdin is None or proc.returncode is not None:
            return
        with contextlib.suppress(BrokenPipeError, ConnectionResetError):
            proc.stdin.write((line + "\n").encode())

    async def hang_up(self, *, abort: bool) -> str | None:
        """Release (or abort) the calls and wait for the driver; returns why it failed, if so."""
        self._send("ABORT" if abort else "RELEASE")
        proc = self._proc
        assert proc is not None and self._reader is not None
        try:
            await asyncio.wait_for(asyncio.shield(self._reader), HANG_UP_S)
        except TimeoutError:
            proc.kill()
            await self._reader
            return f"the caller process did not hang up within {HANG_UP_S:.0f} s; killed"
        if proc.returncode != 0 and self.reported < self.spec["count"]:
            return f"the caller process died (exit {proc.returncode}): {self.last_error()}"
        return None

    def kill(self) -> None:
        """For a benchmark that is itself being stopped: no caller outlives it."""
        if self._proc is not None and self._proc.returncode is None:
            with contextlib.suppress(ProcessLookupError):
                self._proc.kill()

    def last_error(self) -> str:
        try:
            lines = self.log_path.read_text(errors="replace").splitlines()
        except OSError:
            return "no log"
        for line in reversed(lines):
            if "Panic" in line or "Error" in line:
                return line.strip()[:300]
        return lines[-1].strip()[:300] if lines else "no output"
