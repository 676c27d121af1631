"""The OpenRTC worker the density benchmark measures: two agents, offline providers.

Shared models come from the default prewarm plugin (local Silero VAD and the local
end-of-turn model unless ``OPENRTC_PREWARM_*`` says otherwise). The benchmark starts it as
``python density_worker.py start --url ... --isolation coroutine|process``, exactly like a
user's ``app.py``; an in-process plugin reports registration, sessions and loop stalls.
"""

from __future__ import annotations

import os

import density_probe
from density_agents import AGENT_CLASSES, DISPATCH_NAME, GREETINGS, providers

from openrtc import AgentPool
from openrtc.events import (
    AdmissionRejected,
    MetricsEvent,
    RuntimeSnapshot,
    SessionEnded,
    SessionStarted,
    WorkerRegistered,
)
from openrtc.hookspecs import hookimpl
from openrtc.settings import Settings
from openrtc.strategies import MetricsExporter


class ProbeExporter:
    name = "density-probe"

    def export_event(self, event: MetricsEvent) -> None:
        if isinstance(event, WorkerRegistered):
            density_probe.on_registered()
        elif isinstance(event, SessionStarted):
            density_probe.report("session_started", room=event.room)
        elif isinstance(event, SessionEnded):
            density_probe.report("session_ended", room=event.room, outcome=str(event.outcome))
        elif isinstance(event, AdmissionRejected):
            density_probe.report("refused", room=event.room, rule=event.rule, reason=event.reason)

    def export_snapshot(self, snapshot: RuntimeSnapshot) -> None:
        health = snapshot.health
        if health is not None:
            density_probe.report(
                "health",
                active=snapshot.active,
                loop_busy=health.loop_busy,
                loop_cpu_wait=health.loop_cpu_wait,
                host_cpu=health.host_cpu,
                loop_lag_p50_s=health.loop_lag_p50_s,
                loop_lag_p99_s=health.loop_lag_p99_s,
                loop_lag_max_s=health.loop_lag_max_s,
            )

    def close(self) -> None:
        return None


class ProbePlugin:
    @hookimpl
    def openrtc_metrics_exporters(self, settings: Settings) -> list[MetricsExporter]:
        return [ProbeExporter()]


def build_pool() -> AgentPool:
    stt, llm, tts = providers(os.environ.get("DENSITY_PROVIDERS", "offline"))
    pool = AgentPool(
        default_stt=stt,
        default_llm=llm,
        default_tts=tts,
        dispatch_name=DISPATCH_NAME,
        metrics_interval=1.0,
        plugins={"density-probe": ProbePlugin()},
    )
    for name, agent_cls in AGENT_CLASSES.items():
        pool.add(name, agent_cls, greeting=GREETINGS[name])
    return pool


pool = build_pool()

if __name__ == "__main__":
    if os.environ.get("DENSITY_LOOP") == "uvloop":
        # an event loop built for many sockets and callbacks (needs `uv run --with uvloop`)
        import uvloop

        uvloop.install()
    pool.run()
