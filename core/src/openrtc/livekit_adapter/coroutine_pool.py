"""A stand-in for livekit's ProcPool that runs every job as a coroutine on the worker's loop.

It offers what AgentServer uses of ProcPool (`processes`, `get_by_job_id`, `start`, `aclose`,
`launch_job`, `set_target_idle_processes`, `target_idle_processes` and the `process_*` events
it listens to for job status reports). The setup function runs once, at `start()`, into one
`JobProcess` that every job shares, so models loaded there are loaded once per worker.
"""

from __future__ import annotations

import asyncio
import time
from typing import Any

from livekit.agents.ipc.proc_pool import ProcPool
from livekit.agents.job import RunningJobInfo

from .coroutine_executor import CoroutineJobExecutor
from .stand_in_pool import StandInPool, proc_pool_arguments
from .task_tracking import JobTaskTracker


class CoroutineJobPool(StandInPool[CoroutineJobExecutor]):
    def __init__(self, *, loop: asyncio.AbstractEventLoop, **arguments: Any) -> None:
        """Takes `StandInPool`'s arguments; jobs' leftover tasks are tracked on ``loop``."""
        super().__init__(loop=loop, **arguments)
        self._tracker = JobTaskTracker(loop)

    @classmethod
    def from_proc_pool(cls, pool: ProcPool) -> CoroutineJobPool:
        """Build a coroutine pool from the arguments AgentServer.run() gave its ProcPool."""
        return cls(**proc_pool_arguments(pool))

    async def start(self) -> None:
        if self._started:
            return
        self._started = True
        self._tracker.install()
        self._run_setup("running the setup function once for all coroutine jobs")

    async def aclose(self) -> None:
        if not self._started or self._closed:
            return
        self._closed = True
        await asyncio.gather(*(executor.aclose() for executor in list(self._executors)))
        self._tracker.uninstall()

    async def launch_job(self, info: RunningJobInfo) -> None:
        if self._closed:
            raise RuntimeError(f"cannot launch job {info.job.id}: the coroutine job pool is closed")
        executor = CoroutineJobExecutor(
            job_process=self._job_process,
            functions=self._functions,
            tracker=self._tracker,
            on_closed=self._on_executor_closed,
        )
        self._executors.append(executor)
        self.emit("process_created", executor)
        await executor.start()
        self.emit("process_started", executor)
        await executor.initialize()
        self.emit("process_ready", executor)
        info.launched_at = time.time()
        try:
            await executor.launch_job(info)
        except Exception:  # close the half-launched executor, then re-raise to livekit
            await executor.aclose()
            raise
        self.emit("process_job_launched", executor)
