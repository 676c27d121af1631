from __future__ import annotations

from openrtc.plugin import Router, Settings, hookimpl
from openrtc_router_metadata.router import route_by_metadata

PRIORITY = 100


@hookimpl
def openrtc_routers(settings: Settings) -> list[Router]:
    return [
        Router(
            name="metadata",
            priority=PRIORITY,
            route=route_by_metadata,
            summary="job metadata 'agent'/'demo', then room metadata 'agent'/'demo'",
        )
    ]
