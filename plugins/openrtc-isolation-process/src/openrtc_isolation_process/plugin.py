"""Process isolation, for hard crash isolation and per-session memory caps. Prewarm runs in
every job process, so each session pays the model load itself."""

from __future__ import annotations

from typing import Any

from openrtc.hookspecs import hookimpl
from openrtc.settings import Setting, Settings
from openrtc.strategies import IsolationMode, WorkerSpec

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
    "Warm processes kept ready for the next job.",
    minimum=0,
)


class ProcessIsolationUnavailable(RuntimeError):
    """The pool cannot be sent to livekit's job processes."""


def check_picklable(spec: WorkerSpec) -> None:
    """livekit starts job processes from a forkserver and pickles the entrypoint and prewarm
    functions into them; refuse early, in one line, instead of failing inside livekit."""
    import pickle

    try:
        pickle.dumps((spec.entrypoint, spec.prewarm))
    except (TypeError, AttributeError, pickle.PicklingError) as exc:
        raise ProcessIsolationUnavailable(
            f"process isolation cannot ship this pool to job processes ({exc}); "
            "run with isolation='coroutine' (--isolation coroutine)"
        ) from None


def build_process_server(spec: WorkerSpec) -> Any:
    check_picklable(spec)
    from openrtc.jobs import job_end_reporter
    from openrtc.livekit_adapter import ServerOptions, build_server

    return build_server(
        ServerOptions(
            isolation="process",
            entrypoint_fnc=spec.entrypoint,
            request_fnc=spec.request_handler,
            setup_fnc=spec.prewarm,
            load_fnc=spec.load,
            on_job_ended=job_end_reporter(spec.on_job_ended),
            agent_name=spec.settings["dispatch_name"],
            ws_url=spec.ws_url,
            api_key=spec.api_key,
            api_secret=spec.api_secret,
            drain_timeout=int(spec.settings["drain_timeout"]),
            job_memory_limit_mb=spec.settings[JOB_MEMORY_LIMIT_MB.name],
            num_idle_processes=spec.settings[NUM_IDLE_PROCESSES.name],
            http_port=spec.http_port,
            load_threshold=1.0,
        )
    )


@hookimpl
def openrtc_settings() -> list[Setting]:
    return [JOB_MEMORY_LIMIT_MB, NUM_IDLE_PROCESSES]


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
