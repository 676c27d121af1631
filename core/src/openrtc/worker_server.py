"""The worker server every isolation mode builds: one place for what modes share.

A mode chooses how jobs run (``job_runners``); everything else is the same for every mode and
is decided here once: the pool's callbacks, the connection, the dispatch name, the drain
timeout and the load policy.
"""

from __future__ import annotations

from typing import cast

import attrs

from openrtc.job_runners import JobRunner, JobsInProcesses
from openrtc.strategies import WorkerServer, WorkerSpec

KERNEL_PRELOAD = ("openrtc.blueprint", "openrtc.livekit_adapter")
"""Imported once in the process that forks job processes, so each starts with the kernel."""


def build_worker_server(spec: WorkerSpec, jobs: JobRunner) -> WorkerServer:
    """A livekit worker server for ``spec`` that runs its jobs as ``jobs`` says.

    Load policy, the same whatever runs the jobs: the worker reports itself full at exactly
    ``max_concurrent_sessions``. The load the pool reports is live sessions over the cap and
    the threshold is 1.0 (livekit's own 0.7 would call it full at 70% of the cap). livekit's
    own estimate for accepted jobs not launched yet is switched off in the adapter
    (``livekit_adapter/availability.py``): the pool counts them as live from admission on.
    ``num_idle_processes`` stays the cap: livekit bounds its idle-process target by it.
    """
    # livekit-agents is imported only when a worker is really built
    from openrtc.livekit_adapter import ServerOptions, build_server

    if isinstance(jobs, JobsInProcesses):
        preload = (*KERNEL_PRELOAD, *(m for m in jobs.preload_modules if m not in KERNEL_PRELOAD))
        jobs = attrs.evolve(jobs, preload_modules=preload)
    # AgentServer types its event names as a Literal; it is a WorkerServer all the same
    server = build_server(
        ServerOptions(
            jobs=jobs,
            entrypoint_fnc=spec.entrypoint,
            request_fnc=spec.request_handler,
            setup_fnc=spec.prewarm,
            load_fnc=spec.load,
            on_job_ended=spec.on_job_ended,
            job_failed=spec.job_failed,
            apply_code=spec.apply_code,
            probes=spec.probes,
            on_connection_failed=spec.on_connection_failed,
            agent_name=spec.settings["dispatch_name"],
            ws_url=spec.ws_url,
            api_key=spec.api_key,
            api_secret=spec.api_secret,
            drain_timeout=int(spec.settings["drain_timeout"]),
            http_port=spec.http_port,
            load_threshold=1.0,
            num_idle_processes=spec.settings["max_concurrent_sessions"],
        )
    )
    return cast(WorkerServer, server)
