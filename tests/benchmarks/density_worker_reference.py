"""The reference implementation's worker (PyPI ``openrtc`` 0.20.1) on the same agents and load.

It runs in its own virtualenv, where ``openrtc`` is the reference package, not ours. Its
defaults stand (Silero VAD from livekit-plugins-silero, one instance shared by every session)
except the end-of-turn model: its multilingual default cannot load offline, so sessions get
the local v1-mini model instead (see ``density_agents.LocalTurnDetectorPrewarm``).

``python density_worker_reference.py start`` is livekit's CLI, reading ``LIVEKIT_URL``,
``LIVEKIT_API_KEY`` and ``LIVEKIT_API_SECRET``; the isolation mode and the session cap come
from ``DENSITY_ISOLATION`` and ``DENSITY_MAX_SESSIONS``.
"""

from __future__ import annotations

import os

import density_probe
from density_agents import (
    AGENT_CLASSES,
    DISPATCH_NAME,
    GREETINGS,
    LocalTurnDetectorPrewarm,
    providers,
)

from openrtc import AgentPool  # the reference package in its own virtualenv


def build_pool() -> AgentPool:
    stt, llm, tts = providers(os.environ.get("DENSITY_PROVIDERS", "offline"))
    pool = AgentPool(
        default_stt=stt,
        default_llm=llm,
        default_tts=tts,
        agent_name=DISPATCH_NAME,
        isolation=os.environ.get("DENSITY_ISOLATION", "coroutine"),  # type: ignore[arg-type]
        max_concurrent_sessions=int(os.environ.get("DENSITY_MAX_SESSIONS", "50")),
    )
    for name, agent_cls in AGENT_CLASSES.items():
        pool.add(name, agent_cls, greeting=GREETINGS[name])
    pool.server.setup_fnc = LocalTurnDetectorPrewarm(pool.server.setup_fnc)
    pool.server.on("worker_registered", lambda *_: density_probe.on_registered())
    return pool


pool = build_pool()

if __name__ == "__main__":
    pool.run()
