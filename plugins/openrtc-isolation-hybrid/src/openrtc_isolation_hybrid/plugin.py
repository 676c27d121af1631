"""Hybrid isolation: every core in one worker.

The worker runs prewarm once, then forks ``hybrid.hosts`` session-host processes (0: one per
CPU core) that share the loaded models copy-on-write. Each host runs its sessions as asyncio
tasks, as coroutine mode does; the worker keeps routing, admission, the counters and the one
LiveKit registration, and sends each job to the host with the fewest live sessions. A host
that dies fails only its own sessions and is replaced.
"""

from __future__ import annotations

from openrtc.plugin import (
    IsolationMode,
    JobsInHosts,
    Setting,
    Settings,
    WorkerServer,
    WorkerSpec,
    build_worker_server,
    hookimpl,
)

HOSTS = Setting(
    "hybrid.hosts",
    "int",
    0,
    "Session-host processes, each running many sessions as tasks (0 = one per CPU core).",
    minimum=0,
)
START_TIMEOUT = Setting(
    "hybrid.start_timeout",
    "float",
    60.0,
    "Seconds a new session host may take to start and report itself ready.",
    minimum=1,
)


def build_hybrid_server(spec: WorkerSpec) -> WorkerServer:
    jobs = JobsInHosts(
        hosts=spec.settings[HOSTS.name], start_timeout=spec.settings[START_TIMEOUT.name]
    )
    return build_worker_server(spec, jobs)


@hookimpl
def openrtc_settings() -> list[Setting]:
    return [HOSTS, START_TIMEOUT]


@hookimpl
def openrtc_isolation_modes(settings: Settings) -> list[IsolationMode]:
    return [
        IsolationMode(
            name="hybrid",
            build_server=build_hybrid_server,
            summary="session hosts (one per core) run sessions as tasks; prewarm runs once",
        )
    ]
