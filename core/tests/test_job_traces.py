"""The job tracer seam: every tracer starts in the job's task and ends once, with livekit's
shutdown reason, when the job shuts down; a tracer that raises costs its trace, not the call.

The job context here is a stand-in with livekit's ``add_shutdown_callback`` contract (the
callback takes the reason); the real path, spans and all, is the OpenTelemetry exporter's
end-to-end test."""

from __future__ import annotations

import contextvars
import logging
from collections.abc import Awaitable, Callable
from types import SimpleNamespace
from typing import Any

import pytest

from openrtc.job_traces import open_job_traces, traced_job
from openrtc.routing import VERSION_ATTRIBUTE
from openrtc.strategies import JobTracer, RouteDecision, TracedJob

CURRENT: contextvars.ContextVar[str] = contextvars.ContextVar("current", default="")


class JobContext:
    def __init__(self) -> None:
        self.job = SimpleNamespace(id="AJ_1", room=SimpleNamespace(name="room-1"))
        self.callbacks: list[Callable[[str], Awaitable[None]]] = []

    def add_shutdown_callback(self, callback: Callable[[str], Awaitable[None]]) -> None:
        self.callbacks.append(callback)

    async def shut_down(self, reason: str) -> None:
        for callback in self.callbacks:
            await callback(reason)


def job() -> TracedJob:
    decision = RouteDecision(agent="dental", router="metadata", labels={"tenant": "acme"})
    return traced_job(
        JobContext(),
        decision,
        attributes={VERSION_ATTRIBUTE: "v7"},
        version="local",
        isolation="coroutine",
        admitted_by=("capacity", "overload"),
    )


def test_the_job_is_described_by_its_route_and_the_version_that_accepted_it() -> None:
    assert job() == TracedJob(
        job_id="AJ_1",
        room="room-1",
        agent="dental",
        router="metadata",
        labels={"tenant": "acme"},
        version="v7",
        isolation="coroutine",
        admitted_by=("capacity", "overload"),
    )
    console = traced_job(
        JobContext(),
        RouteDecision(agent="dental", router="named"),
        attributes={},
        version="local",
        isolation="coroutine",
        admitted_by=(),
    )
    assert console.version == "local"


async def test_tracers_start_in_the_task_and_end_once_with_the_reason(
    caplog: pytest.LogCaptureFixture,
) -> None:
    seen: list[tuple[str, Any]] = []

    def starting(name: str) -> Callable[[TracedJob], Callable[[str], None]]:
        def start(traced: TracedJob) -> Callable[[str], None]:
            CURRENT.set(name)  # what a span made current does: seen by what runs next here
            seen.append((f"{name} started", traced.job_id))
            return lambda reason: seen.append((f"{name} ended", reason))

        return start

    def broken(traced: TracedJob) -> Callable[[str], None]:
        raise RuntimeError("collector unreachable")

    def failing_end(traced: TracedJob) -> Callable[[str], None]:
        def end(reason: str) -> None:
            raise RuntimeError("export failed")

        return end

    tracers = {
        "first": JobTracer(name="first", start=starting("first")),
        "broken": JobTracer(name="broken", start=broken),
        "failing-end": JobTracer(name="failing-end", start=failing_end),
        "last": JobTracer(name="last", start=starting("last")),
    }
    ctx = JobContext()
    with caplog.at_level(logging.ERROR, logger="openrtc.job_traces"):
        open_job_traces(ctx, tracers, job())
        assert CURRENT.get() == "last"
        assert seen == [("first started", "AJ_1"), ("last started", "AJ_1")]
        await ctx.shut_down("session closed: participant_disconnected")
    assert seen[2:] == [
        ("first ended", "session closed: participant_disconnected"),
        ("last ended", "session closed: participant_disconnected"),
    ]
    messages = [r.getMessage() for r in caplog.records]
    assert messages == [
        "job tracer 'broken' failed to start job AJ_1; not traced",
        "job tracer 'failing-end' failed to end job AJ_1",
    ]


def test_no_tracer_adds_no_shutdown_callback() -> None:
    ctx = JobContext()
    open_job_traces(ctx, {}, job())
    assert ctx.callbacks == []
