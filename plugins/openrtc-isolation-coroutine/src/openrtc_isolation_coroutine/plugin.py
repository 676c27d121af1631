"""The default isolation mode. Sessions share one process and one prewarm; LiveKit sees the
worker as full at ``max_concurrent_sessions`` because the reported load is active/max and the
threshold is 1.0 (livekit's own default of 0.7 would mark it full at 70% of the cap)."""

from __future__ import annotations

from typing import Any

from openrtc.hookspecs import hookimpl
from openrtc.settings import Settings
from openrtc.strategies import IsolationMode, WorkerSpec


def build_coroutine_server(spec: WorkerSpec) -> Any:
    # livekit-agents is imported only when a worker is really built
    from openrtc.jobs import job_end_reporter
    from openrtc.livekit_adapter import ServerOptions, build_server

    return build_server(
        ServerOptions(
            isolation="coroutine",
            entrypoint_fnc=spec.entrypoint,
            request_fnc=spec.request_handler,
            setup_fnc=spec.prewarm,
            load_fnc=spec.load,
            on_job_ended=job_end_reporter(spec.on_job_ended),
            on_connection_failed=spec.on_connection_failed,
            agent_name=spec.settings["dispatch_name"],
            ws_url=spec.ws_url,
            api_key=spec.api_key,
            api_secret=spec.api_secret,
            drain_timeout=int(spec.settings["drain_timeout"]),
            http_port=spec.http_port,
            load_threshold=1.0,
            # livekit estimates the load of an accepted job that has not launched yet as
            # load_threshold / num_idle_processes; with the cap here that is one session's share
            num_idle_processes=spec.settings["max_concurrent_sessions"],
        )
    )


@hookimpl
def openrtc_isolation_modes(settings: Settings) -> list[IsolationMode]:
    return [
        IsolationMode(
            name="coroutine",
            build_server=build_coroutine_server,
            summary="sessions are asyncio tasks in one process; prewarm runs once per worker",
        )
    ]
