"""Opening the job tracers' traces around a session, where the session runs.

The job tracers (``openrtc_job_tracers``) are the kernel's only tracing seam: it knows nothing
of OpenTelemetry. Each tracer's ``start`` runs in the job's own task so that what it makes
current (a span) is inherited by the session it is about to start; its end runs as a job
shutdown callback, which livekit calls after the session has closed. A tracer that fails is
logged once per job and left out: a trace is never worth a call.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from typing import Any

from openrtc.routing import VERSION_ATTRIBUTE
from openrtc.strategies import JobTracer, RouteDecision, TracedJob

logger = logging.getLogger("openrtc.job_traces")


def traced_job(
    ctx: Any,
    decision: RouteDecision,
    *,
    attributes: Mapping[str, str],
    version: str,
    isolation: str,
    admitted_by: tuple[str, ...],
) -> TracedJob:
    """What the tracers learn about a job: its route and labels, and the version that took it
    (the accept attributes', which a job process reads back; else this process's own)."""
    return TracedJob(
        job_id=ctx.job.id,
        room=ctx.job.room.name,
        agent=decision.agent,
        router=decision.router,
        labels=dict(decision.labels),
        version=attributes.get(VERSION_ATTRIBUTE) or version,
        isolation=isolation,
        admitted_by=admitted_by,
    )


def open_job_traces(ctx: Any, tracers: Mapping[str, JobTracer], job: TracedJob) -> None:
    """Start every tracer for ``job`` in the calling task and end each when the job shuts
    down."""
    ends: list[tuple[str, Callable[[str], None]]] = []
    for name, tracer in tracers.items():
        try:
            ends.append((name, tracer.start(job)))
        except Exception:  # a plugin's bug of any kind: a trace is never worth the call
            logger.exception("job tracer '%s' failed to start job %s; not traced", name, job.job_id)
    if not ends:
        return

    async def end_traces(reason: str) -> None:
        for name, end in ends:
            try:
                end(reason)
            except Exception:  # as above: the job ends whatever its tracer does
                logger.exception("job tracer '%s' failed to end job %s", name, job.job_id)

    ctx.add_shutdown_callback(end_traces)
