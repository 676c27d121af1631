"""OpenRTC: many LiveKit voice agents in one worker.

The public API is what this module exports; plugin authors import what they need from
``openrtc.plugin`` and nothing else from the kernel.
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
