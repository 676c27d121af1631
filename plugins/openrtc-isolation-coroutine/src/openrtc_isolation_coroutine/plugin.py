"""The default isolation mode: every session is an asyncio task in the worker's process, and
all of them share one prewarm (the VAD and turn models are loaded once per worker)."""

from __future__ import annotations

from openrtc.plugin import (
    IsolationMode,
    JobsAsTasks,
    Settings,
    WorkerServer,
    WorkerSpec,
    build_worker_server,
    hookimpl,
)


def build_coroutine_server(spec: WorkerSpec) -> WorkerServer:
    return build_worker_server(spec, JobsAsTasks())


@hookimpl
def openrtc_isolation_modes(settings: Settings) -> list[IsolationMode]:
    return [
        IsolationMode(
            name="coroutine",
            build_server=build_coroutine_server,
            summary="sessions are asyncio tasks in one process; prewarm runs once per worker",
        )
    ]
