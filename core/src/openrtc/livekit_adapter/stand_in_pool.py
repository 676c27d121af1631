"""What AgentServer uses of livekit's ProcPool, for the pools that stand in for it.

`CoroutineJobPool` (jobs as tasks here) and `HostPool` (jobs as tasks in forked session hosts)
both run the setup function once, into one `JobProcess` that every job sees as `ctx.proc`,
keep no idle processes per job, and list their job executors. That shared part lives here;
each pool adds how it launches and closes jobs.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable
from typing import Any, Generic, Literal, Protocol, TypeVar

from livekit.agents import utils
from livekit.agents.ipc.inference_executor import InferenceExecutor
from livekit.agents.ipc.proc_pool import ProcPool
from livekit.agents.job import JobContext, JobExecutorType, JobProcess, RunningJobInfo

from .coroutine_executor import JobFunctions
from .job_lifecycle import callback_name

logger = logging.getLogger("openrtc.livekit_adapter")

PoolEvent = Literal[
    "process_created",
    "process_started",
    "process_ready",
    "process_closed",
    "process_job_launched",
]


class _Executor(Protocol):
    @property
    def running_job(self) -> RunningJobInfo | None: ...


ExecutorT = TypeVar("ExecutorT", bound=_Executor)


def proc_pool_arguments(pool: ProcPool) -> dict[str, Any]:
    """The arguments AgentServer.run() gave its ProcPool, by the names the stand-ins take."""
    return {
        "setup_fnc": pool._initialize_process_fnc,
        "entrypoint_fnc": pool._job_entrypoint_fnc,
        "session_end_fnc": pool._session_end_fnc,
        "simulation_end_fnc": pool._simulation_end_fnc,
        "inference_executor": pool._inf_executor,
        "close_timeout": pool._close_timeout,
        "session_end_timeout": pool._session_end_timeout,
        "http_proxy": pool._http_proxy,
        "loop": pool._loop,
    }


class StandInPool(utils.EventEmitter[PoolEvent], Generic[ExecutorT]):
    """The ProcPool surface both stand-ins share: one setup, one JobProcess, no idle pool."""

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
        self._loop = loop
        # THREAD, not PROCESS: livekit then scopes each job's log fields to the job whose
        # context is current instead of stamping them on every record of the process
        self._job_process = JobProcess(
            executor_type=JobExecutorType.THREAD, user_arguments=None, http_proxy=http_proxy
        )
        self._executors: list[ExecutorT] = []
        self._target_idle_processes = 0
        self._started = False
        self._closed = False

    @property
    def job_process(self) -> JobProcess:
        """The one JobProcess the setup function prepared and every job sees as `ctx.proc`."""
        return self._job_process

    @property
    def processes(self) -> list[ExecutorT]:
        return self._executors

    def get_by_job_id(self, job_id: str) -> ExecutorT | None:
        return next(
            (e for e in self._executors if e.running_job and e.running_job.job.id == job_id),
            None,
        )

    def set_target_idle_processes(self, num_idle_processes: int) -> None:
        # nothing to keep warm per job: a job starts without spawning anything
        self._target_idle_processes = num_idle_processes

    @property
    def target_idle_processes(self) -> int:
        return self._target_idle_processes

    def _run_setup(self, announce: str) -> None:
        """Run the setup function once, on the loop thread, as livekit runs it on a job
        process's main thread; the worker has not registered yet, so this delays only
        startup."""
        began = time.perf_counter()
        logger.info(announce)
        self._setup_fnc(self._job_process)
        logger.info(
            "setup function %s finished",
            callback_name(self._setup_fnc),
            extra={"elapsed_time": round(time.perf_counter() - began, 2)},
        )

    def _on_executor_closed(self, executor: ExecutorT) -> None:
        try:
            self.emit("process_closed", executor)
        finally:
            self._executors.remove(executor)
