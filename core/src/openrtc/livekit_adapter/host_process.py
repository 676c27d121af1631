"""One session host: a process forked from the worker after prewarm, running jobs as tasks.

Each job runs exactly as the coroutine pool runs it: a `CoroutineJobExecutor` on the host's own
event loop, sharing the `JobProcess` prewarm filled in the worker (inherited by the fork, so its
models are shared copy-on-write), with a `JobTaskTracker` for leftovers. The host only adds the
pipe to the worker: launch and terminate requests come in, each job's end (and whether the
kernel marked its session failed here, where the entrypoint ran) goes out, and the end-of-turn
model's inference requests are relayed to the worker's inference process.
"""

from __future__ import annotations

import asyncio
import itertools
import logging
import os
import signal
from collections.abc import Awaitable, Callable
from multiprocessing.connection import Connection
from typing import Any

import attrs
from livekit.agents.ipc.job_executor import JobStatus
from livekit.agents.job import JobProcess, RunningJobInfo

from openrtc.health import LoopMonitor
from openrtc.orphan_exit import end_when_worker_gone

from . import host_wire as wire
from .coroutine_executor import CoroutineJobExecutor, JobFunctions
from .task_tracking import JobTaskTracker

logger = logging.getLogger("openrtc.livekit_adapter")

HEALTH_REPORT_S = 0.5
"""How often a host sends its loop's figures to the worker: livekit asks the worker for its
load every few seconds, admission at every job request."""


class InferenceRelay:
    """A job's `inference_executor` in a host: each request goes to the worker, which runs it
    on livekit's inference process and sends the answer back."""

    def __init__(self, send: Callable[[object], None]) -> None:
        self._send = send
        self._ids = itertools.count()
        self._waiting: dict[int, asyncio.Future[bytes | None]] = {}

    async def do_inference(self, method: str, data: bytes) -> bytes | None:
        request_id = next(self._ids)
        answer: asyncio.Future[bytes | None] = asyncio.get_running_loop().create_future()
        self._waiting[request_id] = answer
        try:
            self._send(wire.InferenceRequest(request_id=request_id, method=method, data=data))
            return await answer
        finally:
            self._waiting.pop(request_id, None)

    def resolve(self, result: wire.InferenceResult) -> None:
        answer = self._waiting.get(result.request_id)
        if answer is None or answer.done():
            return
        if result.error is not None:
            answer.set_exception(RuntimeError(result.error))
        else:
            answer.set_result(result.data)

    def fail_all(self, reason: str) -> None:
        for answer in self._waiting.values():
            if not answer.done():
                answer.set_exception(RuntimeError(reason))


class SessionHost:
    """Serves one pipe until the worker says `Shutdown` or goes away."""

    def __init__(
        self,
        *,
        conn: Connection,
        functions: JobFunctions,
        job_process: JobProcess,
        job_failed: Callable[[str], bool] | None,
        apply_code: Callable[[tuple[Any, ...]], None] | None = None,
    ) -> None:
        self._conn = conn
        self._apply_code = apply_code
        self._template = functions
        self._job_process = job_process
        self._job_failed = job_failed
        self._executors: dict[str, CoroutineJobExecutor] = {}
        self._tasks: set[asyncio.Task[None]] = set()

    async def serve(self) -> None:
        loop = asyncio.get_running_loop()
        tracker = JobTaskTracker(loop)
        tracker.install()
        relay = InferenceRelay(self._send)
        functions = attrs.evolve(self._template, loop=loop, inference_executor=relay)
        done: asyncio.Future[str] = loop.create_future()

        def readable() -> None:
            try:
                while self._conn.poll():
                    message = self._conn.recv()
                    if isinstance(message, wire.LaunchJob):
                        info = message.job.info()
                        self._spawn(self._launch(info, functions, tracker))
                    elif isinstance(message, wire.TerminateJob):
                        if executor := self._executors.get(message.job_id):
                            self._spawn(executor.aclose())
                    elif isinstance(message, wire.InferenceResult):
                        relay.resolve(message)
                    elif isinstance(message, wire.ApplyCode):
                        self._run_code(message)
                    elif isinstance(message, wire.Shutdown) and not done.done():
                        done.set_result("the worker asked")
            except (EOFError, OSError):
                # the worker is gone (its end of the pipe closed): nobody is left to report to
                loop.remove_reader(self._conn.fileno())
                if not done.done():
                    done.set_result("the worker went away")

        loop.add_reader(self._conn.fileno(), readable)
        monitor = LoopMonitor()
        monitor.start()
        reporting = asyncio.ensure_future(self._report_health(monitor))
        self._send(wire.HostReady(pid=os.getpid()))
        reason = await done
        loop.remove_reader(self._conn.fileno())
        reporting.cancel()
        await monitor.stop()
        relay.fail_all(f"session host {os.getpid()} is closing")
        if self._executors:
            logger.warning(
                "session host %d closing (%s) with %d live job(s); ending them",
                os.getpid(),
                reason,
                len(self._executors),
            )
            await asyncio.gather(*(e.aclose() for e in list(self._executors.values())))
        if self._tasks:
            await asyncio.gather(*self._tasks, return_exceptions=True)
        tracker.uninstall()

    async def _report_health(self, monitor: LoopMonitor) -> None:
        while True:
            await asyncio.sleep(HEALTH_REPORT_S)
            self._send(wire.HostHealth(monitor.health()))

    def _run_code(self, message: wire.ApplyCode) -> None:
        if self._apply_code is None:
            return
        try:
            self._apply_code(message.sources)
        except Exception:  # the host keeps serving the code it has
            logger.exception("session host %d could not run the reloaded code", os.getpid())

    def _spawn(self, coro: Awaitable[None]) -> None:
        task: asyncio.Task[None] = asyncio.ensure_future(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    def _send(self, message: object) -> None:
        try:
            self._conn.send(message)
        except OSError:  # the worker is gone; the reader sees it and ends the host
            logger.debug("session host %d could not reach the worker", os.getpid())

    async def _launch(
        self, info: RunningJobInfo, functions: JobFunctions, tracker: JobTaskTracker
    ) -> None:
        executor = CoroutineJobExecutor(
            job_process=self._job_process,
            functions=functions,
            tracker=tracker,
            on_closed=self._on_closed,
        )
        self._executors[info.job.id] = executor
        try:
            await executor.start()
            await executor.initialize()
            await executor.launch_job(info)
        except Exception:  # the worker must hear of it, or it counts the job live forever
            logger.exception("session host %d could not launch job %s", os.getpid(), info.job.id)
            self._executors.pop(info.job.id, None)
            self._send(wire.JobEnded(job_id=info.job.id, succeeded=False))

    def _on_closed(self, executor: CoroutineJobExecutor) -> None:
        info = executor.running_job
        if info is None:
            return
        job_id = info.job.id
        self._executors.pop(job_id, None)
        # the kernel marked the session failed in this process, where its entrypoint ran; the
        # worker's copy of that mark never sees it, so it travels with the job's end
        failed_here = self._job_failed is not None and self._job_failed(job_id)
        succeeded = executor.status != JobStatus.FAILED and not failed_here
        self._send(wire.JobEnded(job_id=job_id, succeeded=succeeded))


def run_host(
    conn: Connection,
    inherited: list[Connection],
    functions: JobFunctions,
    job_process: JobProcess,
    job_failed: Callable[[str], bool] | None,
    apply_code: Callable[[tuple[Any, ...]], None] | None = None,
) -> None:
    """The target of a forked host process."""
    end_when_worker_gone(os.getppid())  # forked by the worker: it is the parent
    # the worker's ends of every host's pipe were inherited by the fork: holding them would
    # keep the worker from seeing a sibling's death and this host from seeing the worker's
    for other in inherited:
        other.close()
    # the worker decides when hosts stop (drain, shutdown); a signal to the whole process
    # group must not end live calls here behind its back
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    # the worker's wakeup fd is its own loop's self-pipe, shared through the fork
    signal.set_wakeup_fd(-1)
    # forked from inside the worker's running loop: Python 3.11 keeps that loop marked as
    # running in the child, which would stop asyncio.run; the worker's loop is abandoned here,
    # never closed (closing it would unregister the worker's fds from the shared epoll)
    asyncio.events._set_running_loop(None)
    host = SessionHost(
        conn=conn,
        functions=functions,
        job_process=job_process,
        job_failed=job_failed,
        apply_code=apply_code,
    )
    asyncio.run(host.serve())
    logging.shutdown()
