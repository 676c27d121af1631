"""Strategies that ship with the kernel, registered through the ``openrtc.plugins`` group like
any other plugin (entry point ``openrtc-core``): the fallback router, the capacity rule and the
``metrics_json_file`` snapshot file."""

from __future__ import annotations

from openrtc.hookspecs import hookimpl
from openrtc.settings import Settings
from openrtc.snapshot_file import exporters_for
from openrtc.strategies import (
    AdmissionRequest,
    AdmissionRule,
    MetricsExporter,
    Router,
    RouteRequest,
)

FALLBACK_PRIORITY = 1000


def _first_registered(request: RouteRequest) -> str | None:
    return request.agents[0] if request.agents else None


def _capacity(request: AdmissionRequest) -> str | None:
    state = request.state
    if state.active_sessions >= state.max_concurrent_sessions:
        return (
            f"at capacity: {state.active_sessions}/{state.max_concurrent_sessions} sessions "
            "(raise max_concurrent_sessions or add workers)"
        )
    return None


@hookimpl
def openrtc_routers(settings: Settings) -> list[Router]:
    return [
        Router(
            name="fallback",
            priority=FALLBACK_PRIORITY,
            route=_first_registered,
            summary="the first registered agent, when no other router chose one",
        )
    ]


@hookimpl
def openrtc_admission_rules(settings: Settings) -> list[AdmissionRule]:
    return [
        AdmissionRule(
            name="capacity",
            check=_capacity,
            summary="reject when max_concurrent_sessions are live",
        )
    ]


@hookimpl
def openrtc_metrics_exporters(settings: Settings) -> list[MetricsExporter]:
    return list(exporters_for(settings))
