from __future__ import annotations

from openrtc.plugin import Router, Setting, Settings, hookimpl
from openrtc_router_prefix.router import prefix_router

PRIORITY = 200

SEPARATOR = Setting(
    "router_prefix.separator",
    "str",
    "-",
    "Text between the agent name and the rest of a room name.",
    validator=lambda value: None if value else "the separator cannot be empty",
)


@hookimpl
def openrtc_settings() -> list[Setting]:
    return [SEPARATOR]


@hookimpl
def openrtc_routers(settings: Settings) -> list[Router]:
    separator = settings[SEPARATOR.name]
    return [
        Router(
            name="prefix",
            priority=PRIORITY,
            route=prefix_router(separator),
            summary=f"room '<agent>{separator}...' goes to <agent>, longest name first",
        )
    ]
