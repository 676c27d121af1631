"""Build a livekit AgentServer that runs jobs as coroutines or as livekit's own processes."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
from collections.abc import Awaitable, Callable, Mapping
from typing import Any

import attrs
from aiohttp import web
from livekit.agents import AgentServer, JobContext, JobExecutorType, JobProcess, JobRequest
from livekit.agents.ipc.job_executor import JobExecutor, JobStatus
from livekit.agents.ipc.proc_pool import ProcPool
from livekit.agents.types import NOT_GIVEN

from openrtc.events import WorkerHealth
from openrtc.job_runners import JobRunner, JobsAsTasks, JobsInHosts, JobsInProcesses
from openrtc.routing import decision_from_attributes
from openrtc.strategies import JobEnded

from .availability import AvailabilityByAdmission
from .connection import RECONNECT_ATTEMPTS, ConnectionFailed, describe_error, retry_delay
from .coroutine_pool import CoroutineJobPool
from .host_pool import HostPool
from .process_pool import adopt_process_pool, retire_stale_processes

logger = logging.getLogger("openrtc.livekit_adapter")

# attribute keys LiveKit reserves and adds to an agent's attributes itself
LIVEKIT_PREFIX = "lk."

# livekit's connection loop without its log-and-reraise decorator (which would log a traceback
# for every failed attempt); `_OpenRTCAgentServer._connection_task` runs it one connection at a
# time
_livekit_connection_loop: Callable[[AgentServer], Awaitable[None]] = getattr(  # noqa: B009
    AgentServer._connection_task, "__wrapped__"
)


class ConnectionLostError(RuntimeError):
    """A worker that had registered lost LiveKit and could not reconnect; ends ``run()``."""


def _check_runner(_: object, attribute: attrs.Attribute[JobRunner], value: object) -> None:
    if not isinstance(value, JobsAsTasks | JobsInProcesses | JobsInHosts):
        raise TypeError(
            f"jobs={value!r} is not a way of running jobs; use openrtc.job_runners."
            "JobsAsTasks(), JobsInProcesses(...) or JobsInHosts(...)"
        )


@attrs.frozen(kw_only=True)
class ServerOptions:
    jobs: JobRunner = attrs.field(validator=_check_runner)
    """How jobs run: as tasks on this loop, one process each, or as tasks in session hosts."""
    entrypoint_fnc: Callable[[JobContext], Awaitable[None]]
    request_fnc: Callable[[JobRequest], Awaitable[None]] | None = None
    setup_fnc: Callable[[JobProcess], Any] | None = None
    session_end_fnc: Callable[[JobContext], Awaitable[None]] | None = None
    load_fnc: Callable[[], float] | None = None
    on_job_ended: Callable[[JobEnded], None] | None = None
    """Called in the worker process when a job's executor finished, whatever runs jobs; the
    agent is read back from the routing decision in the job's accept attributes."""
    job_failed: Callable[[str], bool] | None = None
    """Whether the kernel marked a job failed, asked in the process that ran its entrypoint;
    session hosts ask it after each job and report the answer with the job's end."""
    apply_code: Callable[[tuple[Any, ...]], None] | None = None
    """Runs reloaded agent code in a session host (see `WorkerSpec.apply_code`)."""
    probes: Mapping[str, Callable[[], Any]] = attrs.field(factory=dict)
    """GET paths added to livekit's HTTP server, each answered by a function returning a
    `ProbeAnswer` (status and JSON body), see `WorkerSpec.probes`."""
    on_connection_failed: Callable[[ConnectionFailed], None] | None = None
    """Called after each failed attempt to connect to LiveKit, before the retry. Before the
    first registration the server retries until it is closed: the caller bounds that."""
    reconnect_attempts: int = RECONNECT_ATTEMPTS
    """Once registered, failed reconnections in a row after which `run()` raises
    `ConnectionLostError`."""
    agent_name: str = ""
    ws_url: str | None = None
    api_key: str | None = None
    api_secret: str | None = None
    drain_timeout: int = 1800
    num_idle_processes: int | None = None
    """Sizes livekit's load estimate for accepted jobs not yet launched (and, with
    `JobsInProcesses`, nothing else: its `warm_processes` is the pool's own count)."""
    http_host: str = ""
    http_port: int = 0
    load_threshold: float | None = None
    shutdown_timeout: float = 10.0
    """Seconds a job may take to finish once it reached its shutting-down stage, before it is
    killed (process) or cancelled (coroutine)."""


class _OpenRTCAgentServer(AvailabilityByAdmission):
    """AgentServer whose job pool is chosen by the way jobs run (`JobRunner`).

    `AgentServer.run()` builds a ProcPool and assigns it to `self._proc_pool` before starting
    it. This data descriptor receives that assignment: in coroutine mode it keeps a
    CoroutineJobPool built from the very same arguments instead (the ProcPool is dropped
    before it ever starts, so no process is spawned); in process mode it keeps livekit's pool,
    adjusted by `adopt_process_pool` (job failures become exit codes; its own warm-process
    count); with session hosts it keeps a HostPool built from the same arguments. Either way
    it subscribes the job-ended report to the kept pool.

    It also owns the retrying of the connection to LiveKit (`_connection_task`), and leaves
    the decision to take a job to the admission rules (`AvailabilityByAdmission`).
    """

    def __init__(
        self,
        *,
        jobs: JobRunner,
        on_job_ended: Callable[[JobEnded], None] | None,
        job_failed: Callable[[str], bool] | None = None,
        apply_code: Callable[[tuple[Any, ...]], None] | None = None,
        probes: Mapping[str, Callable[[], Any]] | None = None,
        on_connection_failed: Callable[[ConnectionFailed], None] | None = None,
        reconnect_attempts: int = RECONNECT_ATTEMPTS,
        **kwargs: Any,
    ) -> None:
        self._openrtc_probes = dict(probes or {})
        self._openrtc_http_server: Any = None
        # livekit's own loop stops at its first failed connection; _connection_task retries
        super().__init__(max_retry=0, **kwargs)
        self._openrtc_jobs = jobs
        self._openrtc_on_job_ended = on_job_ended
        self._openrtc_job_failed = job_failed
        self._openrtc_apply_code = apply_code
        self._openrtc_pool: ProcPool | CoroutineJobPool | HostPool | None = None
        # the URL livekit connects to, resolved as its constructor resolves it
        self._openrtc_url: str = kwargs.get("ws_url") or os.environ.get("LIVEKIT_URL") or ""
        self._openrtc_on_connection_failed = on_connection_failed
        self._openrtc_reconnect_attempts = reconnect_attempts
        self._openrtc_registrations = 0
        self._openrtc_drain: asyncio.Future[None] | None = None
        self.on("worker_registered", self._count_registration)

    async def drain(self, timeout: Any = NOT_GIVEN) -> None:  # noqa: ASYNC109 livekit's signature
        """livekit's drain, as a task that ``aclose`` can stop.

        livekit's drain holds the server's lock until every job ended, and its ``aclose``
        takes the same lock: a stop asked for during a drain (a second SIGTERM) would wait
        out the whole drain, up to ``drain_timeout``, instead of stopping now."""
        self._openrtc_drain = asyncio.ensure_future(super().drain(timeout))
        try:
            await self._openrtc_drain
        finally:
            self._openrtc_drain = None

    async def aclose(self) -> None:
        """Stop a drain under way first (it holds the lock ``aclose`` needs), then close."""
        drain = self._openrtc_drain
        if drain is not None and not drain.done():
            drain.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await drain
        await super().aclose()

    @property
    def jobs(self) -> JobRunner:
        return self._openrtc_jobs

    @property
    def _proc_pool(self) -> Any:
        # Any: AgentServer only duck-types the pool, and ours is not a ProcPool subclass
        if self._openrtc_pool is None:
            raise AttributeError("the job pool exists only once AgentServer.run() has begun")
        return self._openrtc_pool

    @_proc_pool.setter
    def _proc_pool(self, built: ProcPool) -> None:
        pool: ProcPool | CoroutineJobPool | HostPool = built
        if isinstance(self._openrtc_jobs, JobsAsTasks):
            pool = CoroutineJobPool.from_proc_pool(built)
        elif isinstance(self._openrtc_jobs, JobsInHosts):
            pool = HostPool.from_proc_pool(
                built,
                runner=self._openrtc_jobs,
                job_failed=self._openrtc_job_failed,
                apply_code=self._openrtc_apply_code,
            )
        else:
            pool = adopt_process_pool(built, warm_processes=self._openrtc_jobs.warm_processes)
        pool.on("process_closed", self._report_job_ended)
        self._openrtc_pool = pool

    @property
    def _http_server(self) -> Any:
        return self._openrtc_http_server

    @_http_server.setter
    def _http_server(self, built: Any) -> None:
        # run() builds livekit's HTTP server (its health check "/" and "/worker") and adds its
        # routes before starting it; the probes join them on the same port
        self._openrtc_http_server = built
        if built is not None and self._openrtc_probes:
            built.app.add_routes(
                [
                    web.get(path, _probe_handler(answer))
                    for path, answer in self._openrtc_probes.items()
                ]
            )

    def code_changed(self, sources: tuple[Any, ...]) -> bool:
        """Agent code was reloaded in the worker: make the sessions that start from now on
        run it. Tasks already do (they run the worker's registry); warm job processes started
        with the old code are replaced; session hosts run the same texts."""
        pool = self._openrtc_pool
        if isinstance(pool, HostPool):
            return pool.apply_code(sources)
        if isinstance(pool, ProcPool):
            retire_stale_processes(pool)
        return True

    def session_host_health(self) -> tuple[WorkerHealth, int] | None:
        """The loop figures and live sessions of the session host the next call would go to;
        ``None`` where sessions do not run in session hosts, or before that host reported."""
        pool = self._openrtc_pool
        return pool.next_host_health() if isinstance(pool, HostPool) else None

    @property
    def coroutine_pool(self) -> CoroutineJobPool | None:
        """The coroutine pool while jobs run as tasks, else None."""
        pool = self._openrtc_pool
        return pool if isinstance(pool, CoroutineJobPool) else None

    @property
    def host_pool(self) -> HostPool | None:
        """The session-host pool while jobs run in session hosts, else None."""
        pool = self._openrtc_pool
        return pool if isinstance(pool, HostPool) else None

    def _count_registration(self, *_: Any) -> None:
        self._openrtc_registrations += 1

    async def _connection_task(self) -> None:
        """livekit's connection loop, one connection at a time, retried on openrtc's terms.

        Built with `max_retry=0`, livekit's loop raises RuntimeError at its first failed
        connection, whether it never registered or a registered connection broke, with that
        attempt's own error as the RuntimeError's context (it raises `from None` inside its
        handler); it returns only when the server is closing. Each failure is reported, then
        retried after `retry_delay`: before the first registration until the server is closed
        (the caller bounds that), afterwards up to `reconnect_attempts` times in a row.
        """
        failures = 0
        while True:
            registrations = self._openrtc_registrations
            try:
                await _livekit_connection_loop(self)
                return
            except RuntimeError as gave_up:
                error = gave_up.__context__
            # livekit's health check answers 503 once its loop has given up; this one has not
            self._connection_failed = False
            if self._openrtc_registrations > registrations:
                failures = 0  # it registered on this connection, which then broke
            failures += 1
            cause, status = describe_error(error)
            reconnecting = self._openrtc_registrations > 0
            if reconnecting and failures > self._openrtc_reconnect_attempts:
                self._connection_failed = True
                tried = self._openrtc_reconnect_attempts
                raise ConnectionLostError(
                    f"lost the connection to LiveKit at {self._openrtc_url} and "
                    f"{tried} {'reconnection' if tried == 1 else 'reconnections'} failed "
                    f"(last: {cause})"
                ) from error
            delay = retry_delay(failures)
            self._report_connection_failed(
                ConnectionFailed(
                    url=self._openrtc_url,
                    cause=cause,
                    http_status=status,
                    attempt=failures,
                    retry_in=delay,
                    reconnecting=reconnecting,
                    give_up_after=self._openrtc_reconnect_attempts if reconnecting else None,
                )
            )
            await asyncio.sleep(delay)

    def _report_connection_failed(self, failure: ConnectionFailed) -> None:
        if self._openrtc_on_connection_failed is None:
            logger.warning(
                "cannot connect to LiveKit at %s (%s); retrying in %g s (attempt %d)",
                failure.url,
                failure.cause,
                failure.retry_in,
                failure.attempt,
            )
            return
        try:
            self._openrtc_on_connection_failed(failure)
        except Exception:  # logged: the connection must still be retried
            logger.exception("on_connection_failed callback failed")

    def _report_job_ended(self, executor: JobExecutor) -> None:
        info = executor.running_job
        if info is None or self._openrtc_on_job_ended is None:
            return
        # livekit's verdict on the executor: FAILED when the job had to be killed (process)
        # or cancelled (task) because it would not shut down in time, or its runner crashed;
        # a job process that called `report_job_failure()` exits non-zero and so fails too.
        # An entrypoint that raised and shut down cleanly is a success here: the kernel
        # remembers those itself.
        decision = decision_from_attributes(info.accept_arguments.attributes or {})
        event = JobEnded(
            job_id=info.job.id,
            room_name=info.job.room.name,
            agent=decision.agent if decision else None,
            succeeded=executor.status != JobStatus.FAILED,
        )
        try:
            self._openrtc_on_job_ended(event)
        except Exception:  # logged: the pool must keep reporting the other jobs' ends
            logger.exception("on_job_ended callback failed for job %s", info.job.id)


def build_server(options: ServerOptions) -> AgentServer:
    """An AgentServer with one rtc_session registered, ready for `run()` or livekit's CLI."""
    jobs = options.jobs
    in_processes = isinstance(jobs, JobsInProcesses)
    kwargs: dict[str, Any] = {
        "job_executor_type": JobExecutorType.PROCESS if in_processes else JobExecutorType.THREAD,
        "drain_timeout": options.drain_timeout,
        "shutdown_process_timeout": options.shutdown_timeout,
        "ws_url": options.ws_url,
        "api_key": options.api_key,
        "api_secret": options.api_secret,
        "host": options.http_host,
        "port": options.http_port,
        "setup_fnc": options.setup_fnc,
        "load_fnc": options.load_fnc,
    }
    if isinstance(jobs, JobsInProcesses):
        kwargs["job_memory_limit_mb"] = jobs.memory_limit_mb
        kwargs["initialize_process_timeout"] = jobs.initialize_timeout
        if jobs.preload_modules:
            kwargs["preload_modules"] = list(jobs.preload_modules)
    if options.load_threshold is not None:
        kwargs["load_threshold"] = options.load_threshold
    if options.num_idle_processes is not None:
        # tasks spawn no process, but AgentServer also sizes its load estimate for job
        # requests not yet launched from this number
        kwargs["num_idle_processes"] = options.num_idle_processes

    server = _OpenRTCAgentServer(
        jobs=jobs,
        on_job_ended=options.on_job_ended,
        job_failed=options.job_failed,
        apply_code=options.apply_code,
        probes=options.probes,
        on_connection_failed=options.on_connection_failed,
        reconnect_attempts=options.reconnect_attempts,
        **kwargs,
    )
    server.rtc_session(
        options.entrypoint_fnc,
        agent_name=options.agent_name,
        on_request=options.request_fnc,
        on_session_end=options.session_end_fnc,
    )
    return server


def _probe_handler(answer: Callable[[], Any]) -> Callable[[web.Request], Awaitable[web.Response]]:
    async def handle(_: web.Request) -> web.Response:
        found = answer()
        return web.json_response(dict(found.body), status=found.status)

    return handle


def accept_attributes(ctx: JobContext) -> dict[str, str]:
    """The attributes the request function passed to `JobRequest.accept(attributes=...)`.

    In the worker process (coroutine isolation) they are read from the job's RunningJobInfo.
    livekit's process executor does not copy them into the job process (its StartJobRequest
    drops them), so there they are read from the job's join token, where the server put them
    as the agent participant's attributes; the `lk.` keys LiveKit adds itself are left out.
    """
    attributes = ctx._info.accept_arguments.attributes
    if attributes is not None:
        return dict(attributes)
    if ctx.is_fake_job():
        return {}
    claimed = ctx.token_claims().attributes or {}
    return {key: value for key, value in claimed.items() if not key.startswith(LIVEKIT_PREFIX)}
