"""Process isolation, for hard crash isolation and per-session memory caps.

Each session runs in its own OS process from livekit-agents' own process pool. The worker
keeps routing, admission and the counters; each job process receives a picklable blueprint of
the pool (``openrtc.blueprint``), rebuilds its own job handlers from it and runs prewarm itself,
so every session pays the model load. A job whose entrypoint fails exits non-zero, which is
how the worker counts it as failed.
"""

from __future__ import annotations

import pickle

from openrtc.plugin import (
    IsolationMode,
    JobsInProcesses,
    Setting,
    Settings,
    WorkerServer,
    WorkerSpec,
    build_worker_server,
    hookimpl,
)

JOB_MEMORY_LIMIT_MB = Setting(
    "process.job_memory_limit_mb",
    "float",
    0.0,
    "Memory cap of one session process in MB; livekit kills a job past it (0 = no cap).",
    minimum=0,
)
NUM_IDLE_PROCESSES = Setting(
    "process.num_idle_processes",
    "int",
    1,
    "Prewarmed session processes kept ready for the next job (each holds its own models).",
    minimum=0,
)
INITIALIZE_TIMEOUT = Setting(
    "process.initialize_timeout",
    "float",
    30.0,
    "Seconds a new session process may take to rebuild the pool and run prewarm.",
    minimum=1,
)


def check_shippable(spec: WorkerSpec) -> None:
    """livekit pickles the entrypoint and prewarm functions into every job process; pickle
    them once now, so a pool that cannot be sent fails at start in one line (a
    ``BlueprintError`` naming the part), not inside livekit at the first job."""
    pickle.dumps((spec.entrypoint, spec.prewarm), protocol=pickle.HIGHEST_PROTOCOL)


def build_process_server(spec: WorkerSpec) -> WorkerServer:
    check_shippable(spec)
    jobs = JobsInProcesses(
        warm_processes=spec.settings[NUM_IDLE_PROCESSES.name],
        memory_limit_mb=spec.settings[JOB_MEMORY_LIMIT_MB.name],
        initialize_timeout=spec.settings[INITIALIZE_TIMEOUT.name],
    )
    return build_worker_server(spec, jobs)


@hookimpl
def openrtc_settings() -> list[Setting]:
    return [JOB_MEMORY_LIMIT_MB, NUM_IDLE_PROCESSES, INITIALIZE_TIMEOUT]


@hookimpl
def openrtc_isolation_modes(settings: Settings) -> list[IsolationMode]:
    return [
        IsolationMode(
            name="process",
            build_server=build_process_server,
            summary="one OS process per session (livekit's executor); per-session memory cap",
            prewarm_per_session=True,
        )
    ]
