"""Finds the tasks a job left running after its shutdown and ends them.

In livekit's process executor whatever a job started dies with its process. Coroutine jobs share
the worker's loop, so a forgotten background task would outlive its job (still bound to the dead
job's context). The tracker wraps the loop's task factory, remembers every task created while a
job's context is current, and cancels, with a warning naming them, those still pending when the
job's lifecycle is over.
"""

from __future__ import annotations

import asyncio
import contextvars
import logging
import weakref
from collections.abc import Coroutine, Generator, Iterable
from typing import Any

from livekit.agents.job import JobContext, _JobContextVar

logger = logging.getLogger("openrtc.livekit_adapter")

# how long a job's leftover tasks get to end on their own before they are cancelled
LEFTOVER_GRACE_S = 1.0
# how long cancelled leftovers get to finish before the job ends without them
LEFTOVER_CANCEL_TIMEOUT_S = 5.0

_TaskFactory = Any  # asyncio's own stub types the factory loosely; keep the same shape


class JobTaskTracker:
    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        self._loop = loop
        self._previous: _TaskFactory | None = None
        self._installed = False
        self._tasks: weakref.WeakKeyDictionary[JobContext, weakref.WeakSet[asyncio.Task[Any]]] = (
            weakref.WeakKeyDictionary()
        )

    def install(self) -> None:
        if self._installed:
            return
        self._previous = self._loop.get_task_factory()
        self._loop.set_task_factory(self._factory)
        self._installed = True

    def uninstall(self) -> None:
        # only undo our own wrapping: someone may have wrapped ours since
        if self._installed and self._loop.get_task_factory() == self._factory:
            self._loop.set_task_factory(self._previous)
        self._installed = False

    def _factory(
        self,
        loop: asyncio.AbstractEventLoop,
        coro: Coroutine[Any, Any, Any] | Generator[Any, None, Any],
        **kwargs: Any,
    ) -> asyncio.Future[Any]:
        if self._previous is not None:
            task: asyncio.Future[Any] = self._previous(loop, coro, **kwargs)
        else:
            task = asyncio.Task(coro, loop=loop, **kwargs)
        context: contextvars.Context | None = kwargs.get("context")
        job_ctx = context.get(_JobContextVar) if context is not None else _JobContextVar.get(None)
        if job_ctx is not None and isinstance(task, asyncio.Task):
            tasks = self._tasks.get(job_ctx)
            if tasks is not None:
                tasks.add(task)
        return task

    def begin(self, ctx: JobContext) -> None:
        self._tasks[ctx] = weakref.WeakSet()

    def pending(self, ctx: JobContext) -> list[asyncio.Task[Any]]:
        current = asyncio.current_task()
        tasks = self._tasks.get(ctx) or weakref.WeakSet()
        return [t for t in tasks if not t.done() and t is not current]

    async def end(self, ctx: JobContext, job_id: str) -> None:
        leftovers = self.pending(ctx)
        self._tasks.pop(ctx, None)
        if leftovers:
            # livekit's own teardown can still be finishing: when the server closed the room,
            # ``Room.disconnect()`` returns at once and the room's listen task ends only when
            # its end-of-stream event arrives, a moment later
            _, still = await asyncio.wait(leftovers, timeout=LEFTOVER_GRACE_S)
            leftovers = [t for t in leftovers if t in still]
        if not leftovers:
            return
        logger.warning(
            "job %s left %d task(s) running after shutdown (%s); cancelling them, as its "
            "process ending would under process isolation",
            job_id,
            len(leftovers),
            describe(leftovers),
            extra={"job_id": job_id},
        )
        for task in leftovers:
            task.cancel()
        # bounded: a task that swallows its cancellation must not keep the job (and so a
        # draining worker) alive forever; a job process would have been killed instead
        _, stuck = await asyncio.wait(leftovers, timeout=LEFTOVER_CANCEL_TIMEOUT_S)
        if stuck:
            logger.error(
                "job %s: %d task(s) still running %.0f s after being cancelled (%s); "
                "the job ends without them",
                job_id,
                len(stuck),
                LEFTOVER_CANCEL_TIMEOUT_S,
                describe(stuck),
                extra={"job_id": job_id},
            )


def describe(tasks: Iterable[asyncio.Task[Any]]) -> str:
    """Task names with the coroutine each runs, e.g. ``Task-12 (SessionHost._read_loop)``."""
    return ", ".join(
        sorted(f"{t.get_name()} ({getattr(t.get_coro(), '__qualname__', '?')})" for t in tasks)
    )
