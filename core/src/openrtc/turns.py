"""Per-turn latency of a session, from livekit's own per-message figures.

livekit-agents puts figures on each chat message it adds to a session's history, as it adds
it (``conversation_item_added``): the caller's message carries when they stopped speaking,
the end-of-turn and transcription delays; the agent's reply carries ``e2e_latency`` (the
caller stopped speaking -> the reply's first audio), the LLM's time to first token, the TTS's
time to first byte, and whether the caller cut it off. That is one event per message and no
per-frame work: a turn is the caller's message and the first reply after it.
"""

from __future__ import annotations

import logging
import time
from collections import deque
from collections.abc import Callable, Mapping
from typing import Any

import attrs

from openrtc import events
from openrtc.health import percentile

logger = logging.getLogger("openrtc.turns")

TURN_WINDOW_S = 60.0
"""The snapshot's turn percentiles are over this many seconds: a few turns of every live call
at the usual pace of a conversation, recent enough to show a slowdown within a minute."""


def _seconds(metrics: Mapping[str, Any], key: str) -> float | None:
    value = metrics.get(key)
    return float(value) if isinstance(value, int | float) else None


@attrs.define
class TurnRecorder:
    """Turns one session's messages into :class:`events.TurnMeasured`, in order."""

    job_id: str
    room: str
    agent: str
    emit: Callable[[events.MetricsEvent], None]
    labels: Mapping[str, str] = attrs.field(factory=dict)
    turns: int = 0
    _caller: Mapping[str, Any] | None = None
    """The figures of the caller's message still waiting for a reply."""

    def on_item_added(self, event: Any) -> None:
        """``conversation_item_added`` handler; never raises into livekit's session."""
        try:
            self._add(event.item)
        except Exception:  # a figure of an unexpected shape must not break the call
            logger.exception("could not measure a turn of job %s", self.job_id)

    def _add(self, item: Any) -> None:
        role = getattr(item, "role", None)
        metrics: Mapping[str, Any] = getattr(item, "metrics", None) or {}
        if role == "user":
            self._caller = metrics
        elif role == "assistant" and self._caller is not None:
            caller, self._caller = self._caller, None
            self.turns += 1
            self.emit(
                events.TurnMeasured(
                    job_id=self.job_id,
                    room=self.room,
                    agent=self.agent,
                    turn=self.turns,
                    latency_s=_seconds(metrics, "e2e_latency"),
                    end_of_turn_delay_s=_seconds(caller, "end_of_turn_delay"),
                    transcription_delay_s=_seconds(caller, "transcription_delay"),
                    llm_ttft_s=_seconds(metrics, "llm_node_ttft"),
                    tts_ttfb_s=_seconds(metrics, "tts_node_ttfb"),
                    interrupted=bool(getattr(item, "interrupted", False)),
                    labels=self.labels,
                )
            )


def record_turns(session: Any, recorder: TurnRecorder) -> None:
    """Measure every turn of ``session`` (a livekit ``AgentSession``) into ``recorder``."""
    session.on("conversation_item_added", recorder.on_item_added)


@attrs.define
class TurnWindow:
    """The turn latencies of the last ``window_s`` seconds by agent, for the snapshot; fed
    every turn the worker exports, from whichever process measured it."""

    window_s: float = TURN_WINDOW_S
    clock: Callable[[], float] = time.monotonic
    _by_agent: dict[str, deque[tuple[float, float]]] = attrs.field(factory=dict)

    def add(self, turn: events.TurnMeasured) -> None:
        if turn.latency_s is not None:
            self._by_agent.setdefault(turn.agent, deque()).append((self.clock(), turn.latency_s))

    def stats(self) -> dict[str, events.TurnStats]:
        horizon = self.clock() - self.window_s
        stats = {}
        for agent, turns in sorted(self._by_agent.items()):
            while turns and turns[0][0] < horizon:
                turns.popleft()
            if turns:
                ordered = sorted(latency for _, latency in turns)
                stats[agent] = events.TurnStats(
                    turns=len(ordered),
                    latency_p50_s=round(percentile(ordered, 0.5), 4),
                    latency_p95_s=round(percentile(ordered, 0.95), 4),
                )
        return stats
