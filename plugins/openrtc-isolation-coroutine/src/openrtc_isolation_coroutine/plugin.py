"""The default isolation mode. Sessions share one process and one prewarm; LiveKit sees the
worker as full at ``max_concurrent_sessions`` because the reported load is active/max and the
threshold is 1.0 (livekit's own default of 0.7 would mark it full at 70% of the cap)."""

from __future__ import annotations

from typing import Any

from openrtc.hookspecs import hookimpl
from openrtc.settings import Settings
from openrtc.strategies import IsolationMode, JobEnded, WorkerSpec


def build_coroutine_server(spec: WorkerSpec) -> Any:
    # livekit-agents is imported only when a worker is really built
    from openrtc.jobs import decision_from_attributes
    from openrtc.livekit_adapter import JobEnded as LiveKitJobEnded
    from openrtc.livekit_adapter import ServerOptions, build_server

    def on_job_ended(ended: LiveKitJobEnded) -> None:
        decision = decision_from_attributes(ended.attributes)
        spec.on_job_ended(
            JobEnded(
                job_id=ended.job_id,
                room_name=ended.room_name,
                agent=decision.agent if decision else None,
                succeeded=ended.status == "success",
            )
        )

    return build_server(
        ServerOptions(
            isolation="coroutine",
            entrypoint_fnc=spec.entrypoint,
            request_fnc=spec.request_handler,
            setup_fnc=spec.prewarm,
            load_fnc=spec.load,
            on_job_ended=on_job_ended,
            ws_url=spec.ws_url,
            api_key=spec.api_key,
            api_secret=spec.api_secret,
            drain_timeout=int(spec.settings["drain_timeout"]),
            http_port=spec.http_port,
            load_threshold=1.0,
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
