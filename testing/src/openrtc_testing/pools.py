"""Pools for tests: one with the offline providers, and the counters admission rules read."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from openrtc_providers_offline import Rule, offline_providers

from openrtc import AgentPool
from openrtc.strategies import WorkerState


def offline_pool(*, rules: Sequence[Rule] = (), **pool_kwargs: Any) -> AgentPool:
    """An ``AgentPool`` whose default STT, LLM and TTS run on this machine with no network.

    ``rules`` are the offline LLM's pattern -> reply table; every other keyword goes to
    ``AgentPool`` unchanged (``dispatch_name``, ``isolation``, settings...).
    """
    stt, llm, tts = offline_providers(rules=rules)
    return AgentPool(default_stt=stt, default_llm=llm, default_tts=tts, **pool_kwargs)


def worker_state(
    live: Mapping[str, int] | None = None,
    *,
    max_concurrent_sessions: int = 50,
    draining: bool = False,
) -> WorkerState:
    """Counters as an admission rule sees them, with ``live`` sessions per agent.

    Pass it to ``AgentPool.check_job(..., state=...)`` to ask whether a job would be admitted
    with those calls already live.
    """
    by_agent = dict(live or {})
    return WorkerState(
        active_sessions=sum(by_agent.values()),
        active_by_agent=by_agent,
        max_concurrent_sessions=max_concurrent_sessions,
        draining=draining,
    )
