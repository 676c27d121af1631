"""The plugin machinery: discovery (``discovery``), the per-pool manager (``host``), loading
and settings resolution (``loading``) and choosing strategies by name (``selection``).

Plugin authors never import this package: their API is ``openrtc.plugin``.
"""

from openrtc.plugins.discovery import ENTRY_POINT_GROUP, PluginCandidate, find_candidates
from openrtc.plugins.host import PluginError, PluginHost, PluginRecord, Status
from openrtc.plugins.loading import (
    LoadedPlugins,
    check_blocked_names,
    load_and_resolve,
    load_plugins,
)
from openrtc.plugins.selection import UnknownStrategyError, select

__all__ = [
    "ENTRY_POINT_GROUP",
    "LoadedPlugins",
    "PluginCandidate",
    "PluginError",
    "PluginHost",
    "PluginRecord",
    "Status",
    "UnknownStrategyError",
    "check_blocked_names",
    "find_candidates",
    "load_and_resolve",
    "load_plugins",
    "select",
]
