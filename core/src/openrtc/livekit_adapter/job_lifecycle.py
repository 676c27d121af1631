"""One job's lifecycle, run as a task on the worker's event loop.

It follows the sequence livekit-agents' job process main runs for a job, step for step, so a
job behaves the same whether it runs in its own process or as a coroutine:

    room + JobContext -> context var bound -> entrypoint task
    wait for a shutdown cause (room disconnected, ctx.shutdown(), entrypoint crashed,
    the worker or server terminating the job)
    give the entrypoint time to return -> close the primary AgentSession -> session_end_fnc
    -> session report -> (now "shutting down") -> room.disconnect() -> shutdown callbacks
    -> cancel pending tasks -> context cleanup -> close the job's http session
"""

from __future__ import annotations

import asyncio
import contextvars
import logging
from collections.abc import Awaitable, Callable, Coroutine
from dataclasses import dataclass
from typing import Any, cast

from livekit import rtc
from livekit.agents.ipc import job_proc_lazy_main
from livekit.agents.ipc.inference_executor import InferenceExecutor
from livekit.agents.ipc.mock_room import create_mock_room
from livekit.agents.job import JobContext, JobProcess, RunningJobInfo, _JobContextVar
from livekit.agents.telemetry import trace_types, tracer
from livekit.agents.telemetry import utils as trace_utils
from livekit.agents.utils import aio, http_context
from opentelemetry import trace

from .task_tracking import JobTaskTracker

logger = logging.getLogger("openrtc.livekit_adapter")

# livekit's job process waits this long (a literal in its source) for the entrypoint to
# return once shutdown has begun, then cancels it
ENTRYPOINT_EXIT_GRACE_S = 15.0
SESSION_ACLOSE_TIMEOUT_S: float = job_proc_lazy_main._SESSION_ACLOSE_TIMEOUT
NOT_CONNECTED_WARNING_S = 10.0

REASON_ROOM_DISCONNECTED = "room disconnected"
REASON_JOB_CRASHED = "job crashed"
REASON_USER_REQUESTED = "user requested"
REASON_TERMINATED = "parent process shutdown"


@dataclass(frozen=True)
class ShutdownCause:
    reason: str
    user_initiated: bool


class _NoInferenceExecutor:
    """Stands in when the worker runs no inference process; fails the way livekit's job
    process does when its parent has none."""

    async def do_inference(self, method: str, data: bytes) -> bytes | None:
        raise RuntimeError(f"inference of {method} failed: no inference executor")


def callback_name(fnc: object) -> str:
    name = getattr(fnc, "__qualname__", None) or getattr(fnc, "__name__", None)
    return str(name or repr(fnc))


def _registered_by_livekit(fnc: object) -> bool:
    module = getattr(fnc, "__module__", None) or ""
    return module == "livekit.agents" or module.startswith("livekit.agents.")


class JobLifecycle:
    """Drives one job from launch to cleanup; `run()` is the body of the job's task."""

    def __init__(
        self,
        *,
        info: RunningJobInfo,
        job_process: JobProcess,
        entrypoint_fnc: Callable[[JobContext], Awaitable[None]],
        session_end_fnc: Callable[[JobContext], Awaitable[None]] | None,
        simulation_end_fnc: Callable[[Any], Any] | None,
        inference_executor: InferenceExecutor | None,
        session_end_timeout: float,
        tracker: JobTaskTracker,
    ) -> None:
        self._info = info
        self._job_process = job_process
        self._entrypoint_fnc = entrypoint_fnc
        self._session_end_fnc = session_end_fnc
        self._simulation_end_fnc = simulation_end_fnc
        self._inference_executor: InferenceExecutor = (
            inference_executor if inference_executor is not None else _NoInferenceExecutor()
        )
        self._session_end_timeout = session_end_timeout
        self._tracker = tracker
        self._shutdown_fut: asyncio.Future[ShutdownCause] = asyncio.Future()
        self.shutting_down = asyncio.Event()
        self._connect_called = False
        self._shutdown_called = False

    @property
    def job_id(self) -> str:
        return self._info.job.id

    def request_shutdown(self, reason: str, *, user_initiated: bool) -> None:
        """Record the first cause of shutdown; later causes are ignored, as in livekit."""
        if not self._shutdown_fut.done():
            self._shutdown_fut.set_result(ShutdownCause(reason, user_initiated))

    def _on_ctx_connect(self) -> None:
        self._connect_called = True

    def _on_ctx_shutdown(self, reason: str) -> None:
        self._shutdown_called = True
        self.request_shutdown(reason or REASON_USER_REQUESTED, user_initiated=True)

    def _make_context(self) -> tuple[JobContext, rtc.Room]:
        # a fake job (console, simulate_job) gets livekit's mock room, as in its job process
        room = cast(rtc.Room, create_mock_room()) if self._info.fake_job else rtc.Room()

        def on_disconnected(*_: Any) -> None:
            self.request_shutdown(REASON_ROOM_DISCONNECTED, user_initiated=False)

        room.on("disconnected", on_disconnected)
        room._info.name = self._info.job.room.name
        ctx = JobContext(
            proc=self._job_process,
            info=self._info,
            room=room,
            on_connect=self._on_ctx_connect,
            on_shutdown=self._on_ctx_shutdown,
            inference_executor=self._inference_executor,
        )
        ctx._simulation_end_fnc = self._simulation_end_fnc
        return ctx, room

    async def run(self) -> None:
        ctx, room = self._make_context()
        ctx._on_setup()
        ctx._start_log_buffering()
        ctx._prepare_telemetry()
        ctx_token = _JobContextVar.set(ctx)
        http_context._new_session_ctx()
        job_span = job_proc_lazy_main._start_job_span(ctx)
        span_context = trace.set_span_in_context(job_span)
        self._tracker.begin(ctx)

        entry_task = asyncio.create_task(
            self._traced_entrypoint(ctx, job_span), name=f"job_user_entrypoint:{self.job_id}"
        )
        warn_task = asyncio.create_task(self._warn_if_never_connected(ctx))
        entry_task.add_done_callback(lambda _: warn_task.cancel())
        entry_task.add_done_callback(self._on_entrypoint_done)
        try:
            cause = await self._shutdown_fut
            with tracer.start_as_current_span(
                "job_shutdown",
                context=span_context,
                attributes={
                    trace_types.ATTR_SHUTDOWN_REASON: cause.reason,
                    trace_types.ATTR_SHUTDOWN_USER_INITIATED: cause.user_initiated,
                },
            ):
                await self._shut_down(ctx, room, entry_task, cause)
        finally:
            job_span.end()
            if pending := list(ctx._pending_tasks):
                await aio.cancel_and_wait(*pending)
            await ctx._on_cleanup()
            await http_context._close_http_ctx()
            _JobContextVar.reset(ctx_token)
            await self._tracker.end(ctx, self.job_id)

    async def _traced_entrypoint(self, ctx: JobContext, job_span: trace.Span) -> None:
        with tracer.use_span(
            job_span, end_on_exit=False, record_exception=False, set_status_on_exception=False
        ):
            try:
                await self._entrypoint_fnc(ctx)
            except asyncio.CancelledError:
                job_span.add_event("entrypoint_cancelled")
                raise
            except Exception as exc:
                trace_utils.record_exception(job_span, exc)
                raise
            job_span.add_event("entrypoint_returned")

    def _on_entrypoint_done(self, task: asyncio.Task[None]) -> None:
        if not task.cancelled() and (exc := task.exception()) is not None:
            logger.error(
                "entrypoint of job %s raised; shutting the job down",
                self.job_id,
                exc_info=exc,
                extra={"job_id": self.job_id},
            )
            # before ctx.connect() nothing else would ever end the job
            self.request_shutdown(REASON_JOB_CRASHED, user_initiated=False)
        elif not self._connect_called and not self._shutdown_called and not self._info.fake_job:
            logger.warning(
                "entrypoint of job %s returned without ctx.connect() or ctx.shutdown(); "
                "call one of them so the job is finalized",
                self.job_id,
                extra={"job_id": self.job_id},
            )

    async def _warn_if_never_connected(self, ctx: JobContext) -> None:
        if ctx.is_fake_job():
            return
        await asyncio.sleep(NOT_CONNECTED_WARNING_S)
        if not self._connect_called and not self._shutdown_called:
            logger.warning(
                "job %s has not connected to its room %.0f s after its entrypoint started; "
                "call ctx.connect() or start an AgentSession with room input",
                self.job_id,
                NOT_CONNECTED_WARNING_S,
                extra={"job_id": self.job_id},
            )

    async def _shut_down(
        self,
        ctx: JobContext,
        room: rtc.Room,
        entry_task: asyncio.Task[None],
        cause: ShutdownCause,
    ) -> None:
        if not entry_task.done():
            # asyncio.wait neither cancels the entrypoint nor raises its exception (which
            # _on_entrypoint_done has logged already)
            finished, _ = await asyncio.wait([entry_task], timeout=ENTRYPOINT_EXIT_GRACE_S)
            if not finished:
                logger.warning(
                    "entrypoint of job %s did not return within %.0f s of shutdown; cancelling it",
                    self.job_id,
                    ENTRYPOINT_EXIT_GRACE_S,
                    extra={"job_id": self.job_id},
                )
                await aio.cancel_and_wait(entry_task)

        if session := ctx._primary_agent_session:
            try:
                await asyncio.wait_for(session.aclose(), timeout=SESSION_ACLOSE_TIMEOUT_S)
            except TimeoutError:
                logger.error(
                    "AgentSession.aclose() of job %s took over %.0f s; continuing shutdown",
                    self.job_id,
                    SESSION_ACLOSE_TIMEOUT_S,
                )

        if self._session_end_fnc is not None:
            await self._run_session_end_fnc(ctx, self._session_end_fnc)

        with tracer.start_as_current_span("session_end_upload") as span:
            try:
                await ctx._on_session_end()
            except Exception as exc:
                trace_utils.record_exception(span, exc)
                logger.exception("writing the session report of job %s failed", self.job_id)

        self.shutting_down.set()
        logger.info(
            "job %s exiting: %s",
            self.job_id,
            cause.reason,
            extra={
                "job_id": self.job_id,
                "reason": cause.reason,
                "user_initiated": cause.user_initiated,
            },
        )
        with tracer.start_as_current_span("room_disconnect"):
            await room.disconnect()

        callbacks = [
            asyncio.create_task(self._run_shutdown_callback(cb, cause.reason))
            for cb in ctx._shutdown_callbacks
        ]
        for outcome in await asyncio.gather(*callbacks, return_exceptions=True):
            if isinstance(outcome, Exception):
                logger.error("a shutdown callback of job %s failed", self.job_id, exc_info=outcome)

    async def _run_session_end_fnc(
        self, ctx: JobContext, fnc: Callable[[JobContext], Awaitable[None]]
    ) -> None:
        with tracer.start_as_current_span(
            "on_session_end", attributes={trace_types.ATTR_CALLBACK_NAME: callback_name(fnc)}
        ) as span:
            try:
                await asyncio.wait_for(fnc(ctx), timeout=self._session_end_timeout)
            except TimeoutError as exc:
                trace_utils.record_exception(span, exc)
                logger.error(
                    "on_session_end of job %s took over %.0f s; continuing shutdown",
                    self.job_id,
                    self._session_end_timeout,
                )
            except Exception as exc:
                trace_utils.record_exception(span, exc)
                logger.exception("on_session_end of job %s raised", self.job_id)

    async def _run_shutdown_callback(
        self, callback: Callable[[str], Coroutine[None, None, None]], reason: str
    ) -> None:
        if _registered_by_livekit(callback):
            await callback(reason)
            return
        attributes = {trace_types.ATTR_CALLBACK_NAME: callback_name(callback)}
        with tracer.start_as_current_span("shutdown_callback", attributes=attributes):
            await callback(reason)


def new_job_context() -> contextvars.Context:
    """A job task starts from an empty context, as it would in a fresh process, so nothing
    the worker's own tasks bound leaks into it."""
    return contextvars.Context()
