"""Plugin module sources for discovery tests (each is written into a fake distribution)."""

from __future__ import annotations

GOOD_ROUTER = """
from openrtc.plugin import hookimpl
from openrtc.plugin import Router

@hookimpl
def openrtc_routers(settings):
    return [Router(name="always-second", priority=5,
                   route=lambda req: req.agents[1] if len(req.agents) > 1 else None)]
"""

BROKEN_IMPORT = """
import this_module_does_not_exist  # the plugin's own bug
"""

MISSPELLED_HOOK = """
from openrtc.plugin import hookimpl

@hookimpl
def openrtc_routrs(settings):
    return []
"""

IMPORT_MARKER = """
import os
os.environ["FAKE_BLOCKED_PLUGIN_IMPORTED"] = "1"
from openrtc.plugin import hookimpl

@hookimpl
def openrtc_routers(settings):
    return []
"""


def duplicate_router(name: str) -> str:
    return f"""
from openrtc.plugin import hookimpl
from openrtc.plugin import Router

@hookimpl
def openrtc_routers(settings):
    return [Router(name="{name}", priority=50, route=lambda req: None)]
"""
