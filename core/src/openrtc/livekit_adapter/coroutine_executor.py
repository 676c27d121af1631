"""A job executor that runs its one job as an asyncio task on the worker's event loop.

It satisfies livekit's `ipc.job_executor.JobExecutor` protocol, which is all AgentServer and
its pool use of an executor: status reporting, drain (`join`), server-side termination and
worker shutdown (`aclose`).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from typing import Any

import attrs
from livekit.agents.ipc.inference_executor import InferenceExecutor
from livekit.agents.ipc.job_executor import JobStatus
from livekit.agents.job import JobContext, JobProcess, RunningJobInfo
from livekit.agents.telemetry import metrics
from livekit.agents.utils import aio, shortuuid

from .job_lifecycle import REASON_TERMINATED, JobLifecycle, new_job_context
from .task_tracking import JobTaskTracker

logger = logging.getLogger("openrtc.livekit_adapter")


@attrs.frozen(kw_only=True)
class JobFunctions:
    """What every job of a pool runs with: taken once from the ProcPool that AgentServer built,
    shared by the pool and each executor it launches."""

    entrypoint_fnc: Callable[[JobContext], Awaitable[None]]
    session_end_fnc: Callable[[JobContext], Awaitable[None]] | None
    simulation_end_fnc: Callable[[Any], Any] | None
    inference_executor: InferenceExecutor | None
    close_timeout: float
    session_end_timeout: float
    loop: asyncio.AbstractEventLoop


class CoroutineJobExecutor:
    def __init__(
        self,
        *,
        job_process: JobProcess,
        functions: JobFunctions,
        tracker: JobTaskTracker,
        on_closed: Callable[[CoroutineJobExecutor], None],
    ) -> None:
        self._id = shortuuid("CREXEC_")
        self._job_process = job_process
        self._functions = functions
        self._tracker = tracker
        self._on_closed = on_closed
        self._user_arguments: Any | None = None
        self._started = False
        self._closing = False
        self._cancelled_by_close = False
        self._status: JobStatus | None = None
        self._running_job: RunningJobInfo | None = None
        self._lifecycle: JobLifecycle | None = None
        self._task: asyncio.Task[None] | None = None
        self._closed = asyncio.Event()

    @property
    def id(self) -> str:
        return self._id

    @property
    def started(self) -> bool:
        return self._started

    @property
    def user_arguments(self) -> Any | None:
        return self._user_arguments

    @user_arguments.setter
    def user_arguments(self, value: Any | None) -> None:
        self._user_arguments = value

    @property
    def running_job(self) -> RunningJobInfo | None:
        return self._running_job

    @property
    def status(self) -> JobStatus:
        if self._status is None:
            raise RuntimeError(f"executor {self._id} has no job, so no job status")
        return self._status

    def logging_extra(self) -> dict[str, Any]:
        extra: dict[str, Any] = {"executor_id": self._id}
        if self._running_job is not None:
            extra["job_id"] = self._running_job.job.id
            extra["room"] = self._running_job.job.room.name
            extra["room_id"] = self._running_job.job.room.sid
            if self._running_job.job.agent_name:
                extra["agent_name"] = self._running_job.job.agent_name
        return extra

    async def start(self) -> None:
        self._started = True

    async def initialize(self) -> None:
        # the setup function ran once for the whole pool; there is nothing per executor
        if not self._started:
            raise RuntimeError(f"executor {self._id} must be started before initialize()")

    async def launch_job(self, info: RunningJobInfo) -> None:
        if self._running_job is not None:
            raise RuntimeError(f"executor {self._id} already runs job {self._running_job.job.id}")
        if self._closing:
            raise RuntimeError(f"executor {self._id} is closing; launch the job on a new one")
        metrics.job_started()
        self._running_job = info
        self._status = JobStatus.RUNNING
        self._lifecycle = JobLifecycle(
            info=info,
            job_process=self._job_process,
            entrypoint_fnc=self._functions.entrypoint_fnc,
            session_end_fnc=self._functions.session_end_fnc,
            simulation_end_fnc=self._functions.simulation_end_fnc,
            inference_executor=self._functions.inference_executor,
            session_end_timeout=self._functions.session_end_timeout,
            tracker=self._tracker,
        )
        self._task = self._functions.loop.create_task(
            self._lifecycle.run(), name=f"openrtc_job:{info.job.id}", context=new_job_context()
        )
        self._task.add_done_callback(self._on_task_done)

    def _on_task_done(self, task: asyncio.Task[None]) -> None:
        metrics.job_ended()
        job_id = self._running_job.job.id if self._running_job else "?"
        if self._cancelled_by_close or task.cancelled():
            # the analogue of livekit killing a job process that would not exit
            self._status = JobStatus.FAILED
        elif (exc := task.exception()) is not None:
            logger.error(
                "job %s ended with an error in its lifecycle",
                job_id,
                exc_info=exc,
                extra=self.logging_extra(),
            )
            self._status = JobStatus.FAILED
        else:
            self._status = JobStatus.SUCCESS
        self._finish()

    def _finish(self) -> None:
        if self._closed.is_set():
            return
        # the pool drops this executor before join() waiters resume, so drain loops never
        # see a finished executor as still running
        self._on_closed(self)
        self._closed.set()

    async def join(self) -> None:
        if not self._started:
            raise RuntimeError(f"executor {self._id} was never started")
        await self._closed.wait()

    async def aclose(self) -> None:
        """End the job as the server's termination or the worker's shutdown asks: let its
        lifecycle shut it down, then cancel it if it has not finished `close_timeout` seconds
        after reaching the shutting-down stage."""
        if not self._started:
            return
        self._closing = True
        task, lifecycle = self._task, self._lifecycle
        if task is None or lifecycle is None:
            self._finish()
            return
        lifecycle.request_shutdown(REASON_TERMINATED, user_initiated=False)
        shutting_down = asyncio.ensure_future(lifecycle.shutting_down.wait())
        try:
            # unbounded, like livekit's wait for the job's ShuttingDown message: the
            # lifecycle's own timeouts (entrypoint grace, session close, session end) bound it
            await asyncio.wait([task, shutting_down], return_when=asyncio.FIRST_COMPLETED)
        finally:
            shutting_down.cancel()
        finished, _ = await asyncio.wait([task], timeout=self._functions.close_timeout)
        if not finished:
            logger.warning(
                "job %s did not finish within %.1f s of shutting down; cancelling it",
                lifecycle.job_id,
                self._functions.close_timeout,
                extra=self.logging_extra(),
            )
            self._cancelled_by_close = True
            await aio.cancel_and_wait(task)
        await self._closed.wait()
