"""The worker's side of a job in a session host: its stand-in executor, and the host record."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from multiprocessing.connection import Connection
from multiprocessing.process import BaseProcess
from typing import Any

import attrs
from livekit.agents import utils
from livekit.agents.ipc.job_executor import JobStatus
from livekit.agents.job import RunningJobInfo

from openrtc.events import WorkerHealth


class HostJobExecutor:
    """The worker's stand-in for one job running in a session host (livekit's JobExecutor
    protocol): its status is whatever the host last reported."""

    def __init__(
        self,
        *,
        info: RunningJobInfo,
        host: Host,
        on_closed: Callable[[HostJobExecutor], None],
        terminate: Callable[[HostJobExecutor], None],
    ) -> None:
        self._id = utils.shortuuid("HOSTEXEC_")
        self._info = info
        self.host = host
        self._on_closed = on_closed
        self._terminate = terminate
        self._user_arguments: Any | None = None
        self._status = JobStatus.RUNNING
        self._closed = asyncio.Event()

    @property
    def id(self) -> str:
        return self._id

    @property
    def started(self) -> bool:
        return True

    @property
    def user_arguments(self) -> Any | None:
        return self._user_arguments

    @user_arguments.setter
    def user_arguments(self, value: Any | None) -> None:
        self._user_arguments = value

    @property
    def running_job(self) -> RunningJobInfo:
        return self._info

    @property
    def status(self) -> JobStatus:
        return self._status

    def logging_extra(self) -> dict[str, Any]:
        return {
            "executor_id": self._id,
            "job_id": self._info.job.id,
            "room": self._info.job.room.name,
            "host_pid": self.host.process.pid,
        }

    async def start(self) -> None:
        return None

    async def initialize(self) -> None:
        return None

    def finish(self, *, succeeded: bool) -> None:
        """The job ended in its host (or with its host): report it once."""
        if self._closed.is_set():
            return
        self._status = JobStatus.SUCCESS if succeeded else JobStatus.FAILED
        # the pool drops this executor before join() waiters resume, as the coroutine pool does
        self._on_closed(self)
        self._closed.set()

    async def join(self) -> None:
        await self._closed.wait()

    async def aclose(self) -> None:
        """Ask the host to end the job as livekit would (its lifecycle's own timeouts bound
        that), and wait until it has, or until the host is gone."""
        if not self._closed.is_set():
            self._terminate(self)
        await self._closed.wait()


@attrs.define(eq=False)
class Host:
    index: int
    process: BaseProcess
    conn: Connection
    ready: asyncio.Future[None]
    exited: asyncio.Future[int | None]
    jobs: dict[str, HostJobExecutor] = attrs.field(factory=dict)
    health: WorkerHealth | None = None
    """The host's loop figures as it last reported them (``None`` until its first report)."""

    @property
    def alive(self) -> bool:
        return not self.exited.done()
