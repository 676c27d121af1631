"""One trace per job: OpenRTC's ``openrtc.job`` span, with livekit's session spans under it.

livekit-agents opens the job's root span (``job_entrypoint``) before OpenRTC's entrypoint runs
and its session spans (``agent_session`` and everything under it) in whatever context is
current when the session starts. The job tracer opens ``openrtc.job`` in the job's task,
under livekit's root, and makes it current there, so the session's spans are its children:

    job_entrypoint (livekit) > openrtc.job (routing, admission, agent, tenant, version)
        > agent_session (livekit) > user_turn, agent_turn, llm_node, tts_node, ...

Each process that runs sessions (the worker, a job process, a session host) has its own
tracer provider, installed in prewarm and handed to livekit (``set_tracer_provider``), which
batches spans to the collector on a thread of its own. A process that ends with its job (a
job process, a session host) sends what is left as it exits.
"""

from __future__ import annotations

import logging
import multiprocessing
import multiprocessing.util
import os
from collections.abc import Callable
from typing import TYPE_CHECKING

from openrtc.plugin import JobTracer, TracedJob

if TYPE_CHECKING:
    from opentelemetry.sdk.trace import TracerProvider

logger = logging.getLogger("openrtc.exporter.otel")

JOB_SPAN = "openrtc.job"
"""The name of OpenRTC's span per job."""
TRACER_NAME = "openrtc"
SPAN_BATCH_DELAY_MS = 1000
"""How long finished spans wait to be batched: a trace reaches the collector about a second
after its job, at one request per batch however many calls end."""
EXIT_FLUSH_TIMEOUT_MS = 5000

_provider: TracerProvider | None = None
_provider_pid = 0


def install_tracing(endpoint: str, service_name: str) -> TracerProvider:
    """This process's tracer provider, made on the first call and handed to livekit-agents.

    A session host forked from the worker inherits the worker's provider; the SDK restarts
    its batching thread in the child, and the flush at exit is armed there too."""
    global _provider, _provider_pid
    if _provider is not None:
        return _provider
    from livekit.agents.telemetry import set_tracer_provider
    from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
    from opentelemetry.sdk.resources import Resource
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import BatchSpanProcessor

    provider = TracerProvider(resource=Resource.create({"service.name": service_name}))
    provider.add_span_processor(
        BatchSpanProcessor(
            OTLPSpanExporter(endpoint=f"{endpoint}/v1/traces"),
            schedule_delay_millis=SPAN_BATCH_DELAY_MS,
        )
    )
    set_tracer_provider(provider)
    _provider, _provider_pid = provider, os.getpid()
    _flush_at_exit(provider)
    multiprocessing.util.register_after_fork(provider, _flush_at_exit)
    logger.info("traces go to %s/v1/traces", endpoint)
    return provider


def _flush_at_exit(provider: TracerProvider) -> None:
    # The worker's interpreter exits normally and the provider's own atexit hook sends what
    # is left. A job process or session host ends through multiprocessing, which skips
    # atexit: its finalizers are what run there.
    if multiprocessing.parent_process() is None:
        return
    multiprocessing.util.Finalize(
        None, _send_remaining, args=(provider,), exitpriority=EXIT_PRIORITY
    )


EXIT_PRIORITY = 100
"""Before other finalizers: the exporter still needs sockets and threads."""


def _send_remaining(provider: TracerProvider) -> None:
    provider.force_flush(EXIT_FLUSH_TIMEOUT_MS)


def flush_traces() -> None:
    """Send this process's finished spans now (the worker's exporter does, when it closes)."""
    if _provider is not None and _provider_pid == os.getpid():
        _provider.force_flush(EXIT_FLUSH_TIMEOUT_MS)


def _span_attributes(job: TracedJob) -> dict[str, str | tuple[str, ...]]:
    attributes: dict[str, str | tuple[str, ...]] = {
        "openrtc.job_id": job.job_id,
        "openrtc.room": job.room,
        "openrtc.agent": job.agent,
        "openrtc.router": job.router,
        "openrtc.version": job.version,
        "openrtc.isolation": job.isolation,
        "openrtc.admitted_by": job.admitted_by,
    }
    for key, value in job.labels.items():
        attributes[f"openrtc.label.{key}"] = value
    return attributes


def start_job_span(job: TracedJob) -> Callable[[str], None]:
    """Open ``openrtc.job`` under the current span and make it current in the calling task;
    the function returned ends it with the job's shutdown reason."""
    from opentelemetry import context, trace

    if _provider is None:
        # no prewarm ran in this process (a job without one): nothing would be exported
        return _nothing
    span = _provider.get_tracer(TRACER_NAME).start_span(JOB_SPAN, attributes=_span_attributes(job))
    # attached for the rest of this task's life and never detached: the task ends with the
    # job, and everything the session starts from here inherits the span
    context.attach(trace.set_span_in_context(span))

    def end(reason: str) -> None:
        span.set_attribute("openrtc.shutdown_reason", reason)
        span.end()

    return end


def _nothing(reason: str) -> None:
    return None


def job_tracer() -> JobTracer:
    return JobTracer(
        name="otel",
        start=start_job_span,
        summary="an openrtc.job span per job, livekit's session spans under it (OTLP/HTTP)",
    )
