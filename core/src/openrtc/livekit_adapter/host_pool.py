"""A stand-in for livekit's ProcPool that runs jobs as tasks in K forked session hosts.

It offers what AgentServer uses of ProcPool, as `CoroutineJobPool` does. At `start()` the setup
function (prewarm) runs once, here in the worker; then the heap is frozen for the garbage
collector (`gc.freeze()`: a collection in a host would otherwise write to every object's
header and unshare the pages the models live in) and the hosts are forked, sharing the models
copy-on-write. `launch_job` sends each job to the host with the fewest live jobs; the job's
stand-in here (`HostJobExecutor`) reports its status as the host reports it, so AgentServer,
drain and the kernel's counters see every job as they would in coroutine mode. A host that
dies fails its own jobs only and is replaced by a new fork.
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import logging
import multiprocessing
import time
from collections.abc import Awaitable, Callable
from typing import Any

from livekit.agents.ipc.inference_executor import InferenceExecutor
from livekit.agents.ipc.proc_pool import ProcPool
from livekit.agents.job import RunningJobInfo
from livekit.rtc._ffi_client import FfiClient

from openrtc.events import WorkerHealth
from openrtc.job_runners import JobsInHosts

from . import host_wire as wire
from .host_job import Host, HostJobExecutor
from .host_process import run_host
from .stand_in_pool import StandInPool, proc_pool_arguments

logger = logging.getLogger("openrtc.livekit_adapter")

HOST_CLOSE_TIMEOUT_S = 10.0
"""How long a host with no jobs left may take to exit once told to, before it is killed."""
RESPAWN_DELAY_S = 1.0
"""Wait before replacing a host that died before it was ready."""


class RtcUsedBeforeForkError(RuntimeError):
    """livekit.rtc ran in the worker before its session hosts were forked: its native runtime
    does not survive a fork, so every room in a host would fail."""


class HostPool(StandInPool[HostJobExecutor]):
    def __init__(
        self,
        *,
        runner: JobsInHosts,
        inference_executor: InferenceExecutor | None,
        job_failed: Callable[[str], bool] | None,
        apply_code: Callable[[tuple[Any, ...]], None] | None = None,
        **arguments: Any,
    ) -> None:
        """Takes `StandInPool`'s arguments, plus how many hosts (``runner``), livekit's
        inference executor (it stays here: hosts relay their requests to it) and
        ``job_failed``, which the hosts ask after each job (see `WorkerSpec.job_failed`)."""
        # the hosts run every job with the pool's functions, each on its own loop
        super().__init__(inference_executor=None, **arguments)
        self._runner = runner
        self._inference_executor = inference_executor
        self._job_failed = job_failed
        self._apply_code = apply_code
        self._mp = multiprocessing.get_context("fork")
        self._hosts: list[Host] = []
        self._background: set[asyncio.Task[None]] = set()

    @classmethod
    def from_proc_pool(
        cls,
        pool: ProcPool,
        *,
        runner: JobsInHosts,
        job_failed: Callable[[str], bool] | None,
        apply_code: Callable[[tuple[Any, ...]], None] | None = None,
    ) -> HostPool:
        """Build a host pool from the arguments AgentServer.run() gave its ProcPool."""
        return cls(
            runner=runner,
            job_failed=job_failed,
            apply_code=apply_code,
            **proc_pool_arguments(pool),
        )

    @property
    def host_pids(self) -> list[int]:
        """The pids of the hosts running now, by host index."""
        return [h.process.pid for h in self._hosts if h.alive and h.process.pid is not None]

    async def start(self) -> None:
        if self._started:
            return
        self._started = True
        self._run_setup("running the setup function once, before forking the session hosts")
        if FfiClient._instance is not None:
            raise RtcUsedBeforeForkError(
                "hybrid isolation forks its session hosts from the worker, but livekit.rtc "
                "was already used in the worker (its native runtime does not survive a fork); "
                "start the pool before using livekit.rtc in this process"
            )
        self._hosts = [self._spawn(index) for index in range(self._runner.host_count)]
        await asyncio.wait_for(
            asyncio.gather(*(h.ready for h in self._hosts)), self._runner.start_timeout
        )
        logger.info(
            "%d session hosts ready (pids %s)",
            len(self._hosts),
            ", ".join(str(pid) for pid in self.host_pids),
        )

    def _spawn(self, index: int) -> Host:
        # objects alive now are never collected in a host: their pages stay shared
        gc.freeze()
        mine, theirs = self._mp.Pipe(duplex=True)
        inherited = [h.conn for h in self._hosts if not h.conn.closed] + [mine]
        process = self._mp.Process(
            target=run_host,
            args=(
                theirs,
                inherited,
                self._functions,
                self._job_process,
                self._job_failed,
                self._apply_code,
            ),
            name=f"openrtc-session-host-{index}",
        )
        process.start()
        theirs.close()
        host = Host(
            index=index,
            process=process,
            conn=mine,
            ready=self._loop.create_future(),
            exited=self._loop.create_future(),
        )
        self._loop.add_reader(mine.fileno(), self._readable, host)
        self._loop.add_reader(process.sentinel, self._host_exited, host)
        return host

    def _readable(self, host: Host) -> None:
        try:
            while host.conn.poll():
                self._handle(host, host.conn.recv())
        except (EOFError, OSError):
            # the host closed its end: it is exiting, and its sentinel will say so
            self._loop.remove_reader(host.conn.fileno())

    def _handle(self, host: Host, message: object) -> None:
        if isinstance(message, wire.JobEnded):
            if executor := host.jobs.pop(message.job_id, None):
                executor.finish(succeeded=message.succeeded)
        elif isinstance(message, wire.HostHealth):
            host.health = message.health
        elif isinstance(message, wire.InferenceRequest):
            self._in_background(self._infer(host, message))
        elif isinstance(message, wire.HostReady) and not host.ready.done():
            host.ready.set_result(None)

    def _in_background(self, coro: Awaitable[None]) -> None:
        task: asyncio.Task[None] = asyncio.ensure_future(coro)
        self._background.add(task)
        task.add_done_callback(self._background.discard)

    async def _infer(self, host: Host, request: wire.InferenceRequest) -> None:
        data: bytes | None = None
        error: str | None = None
        if self._inference_executor is None:
            error = f"inference of {request.method} failed: no inference executor"
        else:
            try:
                data = await self._inference_executor.do_inference(request.method, request.data)
            except Exception as exc:  # the job waiting for it gets the error, not the worker
                error = f"inference of {request.method} failed: {exc}"
        if host.alive:
            with contextlib.suppress(OSError):
                host.conn.send(wire.InferenceResult(request.request_id, data, error))

    def _host_exited(self, host: Host) -> None:
        self._loop.remove_reader(host.process.sentinel)
        # what the host said before it died still counts (a job that ended cleanly)
        if not host.conn.closed:
            with contextlib.suppress(OSError):
                self._loop.remove_reader(host.conn.fileno())
            self._readable(host)
            host.conn.close()
        # the sentinel closes as the process exits; reaping it is a matter of microseconds
        host.process.join()
        code = host.process.exitcode
        host.exited.set_result(code)
        was_ready = host.ready.done()
        if not was_ready:
            host.ready.set_exception(
                RuntimeError(f"session host {host.index} exited (code {code}) before it was ready")
            )
            # start() awaits it for the first hosts; nobody does for a replacement
            host.ready.exception()
        lost = list(host.jobs.values())
        host.jobs.clear()
        if self._closed and not lost:
            return
        logger.error(
            "session host %d (pid %s) exited with code %s; its %d live session(s) end failed%s",
            host.index,
            host.process.pid,
            code,
            len(lost),
            "" if self._closed else "; starting a replacement",
        )
        for executor in lost:
            executor.finish(succeeded=False)
        if not self._closed:
            # a host that dies before it is even ready would otherwise be re-forked in a loop
            delay = 0.0 if was_ready else RESPAWN_DELAY_S
            self._loop.call_later(delay, self._replace, host)

    def _next_host(self) -> Host | None:
        """The host the next job goes to: the live one with the fewest jobs."""
        return min(
            (h for h in self._hosts if h.alive), key=lambda h: (len(h.jobs), h.index), default=None
        )

    def next_host_health(self) -> tuple[WorkerHealth, int] | None:
        """The loop figures and live jobs of the host the next job would go to; ``None`` until
        it reported. Read from livekit's load thread too: only reads of plain attributes."""
        host = self._next_host()
        if host is None or host.health is None:
            return None
        return host.health, len(host.jobs)

    def apply_code(self, sources: tuple[Any, ...]) -> bool:
        """Send reloaded agent code to every live host; a host forked later inherits it."""
        if self._apply_code is None:
            return False
        for host in self._hosts:
            if host.alive:
                with contextlib.suppress(OSError):  # a dying host: its replacement forks anew
                    host.conn.send(wire.ApplyCode(sources))
        return True

    def _replace(self, host: Host) -> None:
        if not self._closed:
            self._hosts[self._hosts.index(host)] = self._spawn(host.index)

    async def aclose(self) -> None:
        if not self._started or self._closed:
            return
        self._closed = True
        await asyncio.gather(*(executor.aclose() for executor in list(self._executors)))
        for host in self._hosts:
            if host.alive:
                with contextlib.suppress(OSError):
                    host.conn.send(wire.Shutdown())
        running = [h.exited for h in self._hosts if h.alive]
        if running:
            _, stuck = await asyncio.wait(running, timeout=HOST_CLOSE_TIMEOUT_S)
            for host in self._hosts:
                if host.exited in stuck:
                    logger.warning("session host %d did not exit; killing it", host.index)
                    host.process.kill()
            if stuck:
                await asyncio.wait(stuck)
        if self._background:
            await asyncio.gather(*self._background, return_exceptions=True)

    async def launch_job(self, info: RunningJobInfo) -> None:
        if self._closed:
            raise RuntimeError(f"cannot launch job {info.job.id}: the host pool is closed")
        host = self._next_host()
        if host is None:
            raise RuntimeError(f"cannot launch job {info.job.id}: no session host is running")
        executor = HostJobExecutor(
            info=info, host=host, on_closed=self._on_executor_closed, terminate=self._terminate
        )
        self._executors.append(executor)
        host.jobs[info.job.id] = executor
        self.emit("process_created", executor)
        self.emit("process_started", executor)
        self.emit("process_ready", executor)
        info.launched_at = time.time()
        try:
            host.conn.send(wire.LaunchJob(wire.WireJob.of(info)))
        except OSError:  # the host died just now: its sentinel fails the job with the others
            logger.warning("session host %d was gone when job %s arrived", host.index, info.job.id)
        logger.debug(
            "job %s sent to session host %d (%d live there)",
            info.job.id,
            host.index,
            len(host.jobs),
            extra=executor.logging_extra(),
        )
        self.emit("process_job_launched", executor)

    def _terminate(self, executor: HostJobExecutor) -> None:
        host = executor.host
        if host.alive:
            with contextlib.suppress(OSError):
                host.conn.send(wire.TerminateJob(executor.running_job.job.id))
