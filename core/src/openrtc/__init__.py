"""OpenRTC: many LiveKit voice agents in one worker.

The public API is what this module exports; plugin authors also use ``openrtc.hookspecs``,
``openrtc.strategies``, ``openrtc.settings`` and ``openrtc.events``.
"""

import openrtc._earlier_openrtc  # noqa: F401  (refuses to run beside the earlier OpenRTC)
from openrtc.config import AgentConfig, AgentDiscoveryConfig, ProviderValue, agent_config
from openrtc.hookspecs import hookimpl
from openrtc.pool import AgentPool

__all__ = [
    "AgentConfig",
    "AgentDiscoveryConfig",
    "AgentPool",
    "ProviderValue",
    "agent_config",
    "hookimpl",
]

__version__ = "0.21.0"
