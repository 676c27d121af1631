"""The job task tracker ends a job's leftover tasks, and a task that ignores its cancellation
cannot hold the job (and a draining worker) open."""

from __future__ import annotations

import asyncio
import contextvars
import logging
from typing import Any

import pytest
from livekit.agents.job import _JobContextVar

from openrtc.livekit_adapter import task_tracking
from openrtc.livekit_adapter.task_tracking import JobTaskTracker
from openrtc.worker_tasks import worker_task


class _Job:
    """Stands in for a JobContext: the tracker only keys on it (weakly) and reads the var."""


async def _stubborn(stop: asyncio.Event) -> None:
    while not stop.is_set():
        try:
            await asyncio.sleep(3600)
        except asyncio.CancelledError:
            continue  # swallows every cancellation, like a careless retry loop


async def test_leftover_tasks_are_cancelled_and_a_stubborn_one_does_not_block(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    monkeypatch.setattr(task_tracking, "LEFTOVER_CANCEL_TIMEOUT_S", 0.2)
    monkeypatch.setattr(task_tracking, "LEFTOVER_GRACE_S", 0.05)
    loop = asyncio.get_running_loop()
    tracker = JobTaskTracker(loop)
    tracker.install()
    job: Any = _Job()
    stop = asyncio.Event()
    try:
        tracker.begin(job)
        context = contextvars.copy_context()
        context.run(_JobContextVar.set, job)
        polite = loop.create_task(asyncio.sleep(3600), name="polite", context=context)
        stubborn = loop.create_task(_stubborn(stop), name="stubborn", context=context)
        outside = loop.create_task(asyncio.sleep(3600), name="outside")  # no job context
        await asyncio.sleep(0)
        assert {t.get_name() for t in tracker.pending(job)} == {"polite", "stubborn"}

        with caplog.at_level(logging.WARNING, logger="openrtc.livekit_adapter"):
            await asyncio.wait_for(tracker.end(job, "AJ_test"), timeout=5)

        assert polite.cancelled()
        assert not stubborn.done()
        assert not outside.done()
        messages = [r.getMessage() for r in caplog.records]
        assert any(
            "left 2 task(s)" in m and "polite (sleep)" in m and "stubborn (_stubborn)" in m
            for m in messages
        ), messages
        assert any("1 task(s) still running" in m and "stubborn" in m for m in messages), messages
    finally:
        tracker.uninstall()
        stop.set()
        for task in asyncio.all_tasks() - {asyncio.current_task()}:
            if task.get_name() in {"stubborn", "outside"}:
                task.cancel()
        await asyncio.sleep(0)


async def test_a_task_that_ends_on_its_own_within_the_grace_is_neither_cancelled_nor_reported(
    caplog: pytest.LogCaptureFixture,
) -> None:
    """Like livekit's Room._listen_task after the server closed the room: it ends once the
    end-of-stream event arrives, a moment after the job's shutdown returned."""
    loop = asyncio.get_running_loop()
    tracker = JobTaskTracker(loop)
    tracker.install()
    job: Any = _Job()
    try:
        tracker.begin(job)
        context = contextvars.copy_context()
        context.run(_JobContextVar.set, job)
        closing = loop.create_task(asyncio.sleep(0.1), name="closing", context=context)
        await asyncio.sleep(0)
        assert tracker.pending(job) == [closing]

        with caplog.at_level(logging.WARNING, logger="openrtc.livekit_adapter"):
            await tracker.end(job, "AJ_test")

        assert closing.done() and not closing.cancelled()
        assert not [r for r in caplog.records if "running after shutdown" in r.getMessage()]
    finally:
        tracker.uninstall()


async def test_a_worker_task_started_from_a_job_is_not_the_jobs() -> None:
    loop = asyncio.get_running_loop()
    tracker = JobTaskTracker(loop)
    tracker.install()
    job: Any = _Job()
    finished = asyncio.Event()

    async def drain() -> None:
        await finished.wait()

    async def failing_job() -> asyncio.Task[None]:
        # what the supervisor does when a job's failure reaches the limit
        return worker_task(drain(), "openrtc-drain")

    try:
        tracker.begin(job)
        context = contextvars.copy_context()
        context.run(_JobContextVar.set, job)
        drain_task = await loop.create_task(failing_job(), context=context)
        assert drain_task not in tracker.pending(job)
        await tracker.end(job, "AJ_test")
        assert not drain_task.done()  # the job ended; the worker's drain goes on
    finally:
        tracker.uninstall()
        finished.set()
    await drain_task
