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
from collections.abc import Callable, Mapping
from typing import Any

import attrs

from openrtc import events

logger = logging.getLogger("openrtc.turns")


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
