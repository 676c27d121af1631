"""A stand-in for livekit's ProcPool that runs every job as a coroutine on the worker's loop.

It offers what AgentServer uses of ProcPool (`processes`, `get_by_job_id`, `start`, `aclose`,
`launch_job`, `set_target_idle_processes`, `target_idle_processes` and the `process_*` events
it listens to for job status reports). The setup function runs once, at `start()`, into one
`JobProcess` that every job shares, so models loaded there are loaded once per worker.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable
from typing import Any, Literal

from livekit.agents import utils
from livekit.agents.ipc.inference_executor import InferenceExecutor
from livekit.agents.ipc.proc_pool import ProcPool
from livekit.agents.job import JobContext, JobExecutorType, JobProcess, RunningJobInfo

from .coroutine_executor import CoroutineJobExecutor, JobFunctions
from .job_lifecycle import callback_name
from .task_tracking import JobTaskTracker

logger = logging.getLogger("openrtc.livekit_adapter")

PoolEvent = Literal[
    "process_created",
    "process_started",
    "process_ready",
    "process_closed",
    "process_job_launched",
]


class CoroutineJobPool(utils.EventEmitter[PoolEvent]):
    def __init__(
        self,
        *,
        setup_fnc: Callable[[JobProcess], Any],
        entrypoint_fnc: Callable[[JobContext], Awaitable[None]],
        session_end_fnc: Callable[[JobContext], Awaitable[None]] | None,
        simulation_end_fnc: Callable[[Any], Any] | None,
        inference_executor: InferenceExecutor | None,
        close_timeout: float,
        session_end_timeout: float,
        http_proxy: str | None,
        loop: asyncio.AbstractEventLoop,
    ) -> None:
        super().__init__()
        self._setup_fnc = setup_fnc
        self._functions = JobFunctions(
            entrypoint_fnc=entrypoint_fnc,
            session_end_fnc=session_end_fnc,
            simulation_end_fnc=simulation_end_fnc,
            inference_executor=inference_executor,
            close_timeout=close_timeout,
            session_end_timeout=session_end_timeout,
            loop=loop,
        )
        # THREAD, not PROCESS: livekit then scopes each job's log fields to the job whose
        # context is current instead of stamping them on every record of the process
        self._job_process = JobProcess(
            executor_type=JobExecutorType.THREAD, user_arguments=None, http_proxy=http_proxy
        )
        self._tracker = JobTaskTracker(loop)
        self._executors: list[CoroutineJobExecutor] = []
        self._target_idle_processes = 0
        self._started = False
        self._closed = False

    @classmethod
    def from_proc_pool(cls, pool: ProcPool) -> CoroutineJobPool:
        """Build a coroutine pool from the arguments AgentServer.run() gave its ProcPool."""
        return cls(
            setup_fnc=pool._initialize_process_fnc,
            entrypoint_fnc=pool._job_entrypoint_fnc,
            session_end_fnc=pool._session_end_fnc,
            simulation_end_fnc=pool._simulation_end_fnc,
            inference_executor=pool._inf_executor,
            close_timeout=pool._close_timeout,
            session_end_timeout=pool._session_end_timeout,
            http_proxy=pool._http_proxy,
            loop=pool._loop,
        )

    @property
    def job_process(self) -> JobProcess:
        """The one JobProcess the setup function prepared and every job sees as `ctx.proc`."""
        return self._job_process

    @property
    def processes(self) -> list[CoroutineJobExecutor]:
        return self._executors

    def get_by_job_id(self, job_id: str) -> CoroutineJobExecutor | None:
        return next(
            (e for e in self._executors if e.running_job and e.running_job.job.id == job_id),
            None,
        )

    def set_target_idle_processes(self, num_idle_processes: int) -> None:
        # nothing to keep warm: a coroutine job starts without spawning anything
        self._target_idle_processes = num_idle_processes

    @property
    def target_idle_processes(self) -> int:
        return self._target_idle_processes

    async def start(self) -> None:
        if self._started:
            return
        self._started = True
        self._tracker.install()
        began = time.perf_counter()
        logger.info("running the setup function once for all coroutine jobs")
        # on the loop thread, as livekit runs it on its job process's main thread; the
        # worker has not registered yet, so blocking here delays nothing but startup
        self._setup_fnc(self._job_process)
        logger.info(
            "setup function %s finished",
            callback_name(self._setup_fnc),
            extra={"elapsed_time": round(time.perf_counter() - began, 2)},
        )

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

    def _on_executor_closed(self, executor: CoroutineJobExecutor) -> None:
        try:
            self.emit("process_closed", executor)
        finally:
            self._executors.remove(executor)
