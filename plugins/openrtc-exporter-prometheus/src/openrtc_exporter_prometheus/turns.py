"""Histograms of each turn's latency and its parts, by agent (``events.TurnMeasured``), the
replies dropped as stalled (``events.ReplyStalled``) and the providers' errors
(``events.ProviderError``)."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Histogram

from openrtc.plugin import events

LATENCY_BUCKETS = (0.25, 0.5, 0.75, 1.0, 1.25, 1.5, 2.0, 2.5, 3.0, 4.0, 5.0, 7.5, 10.0)
"""What a caller waits for a reply: good voice agents answer within a second, callers notice
past two."""
PART_BUCKETS = (0.025, 0.05, 0.1, 0.2, 0.3, 0.5, 0.75, 1.0, 1.5, 2.0, 3.0, 5.0)
"""One stage of a reply: tens of milliseconds for a fast model, seconds for a stuck one."""

PARTS = {
    "end_of_turn_delay_s": (
        "openrtc_turn_end_of_turn_delay_seconds",
        "The caller stopped speaking -> the end of their turn was decided, by agent.",
    ),
    "transcription_delay_s": (
        "openrtc_turn_transcription_delay_seconds",
        "The caller stopped speaking -> their final transcript, by agent.",
    ),
    "llm_ttft_s": (
        "openrtc_turn_llm_ttft_seconds",
        "The LLM's time to first token in a reply, by agent.",
    ),
    "tts_ttfb_s": (
        "openrtc_turn_tts_ttfb_seconds",
        "The TTS's time to first audio in a reply, by agent.",
    ),
}


class TurnHistograms:
    def __init__(self, registry: CollectorRegistry) -> None:
        self.latency = Histogram(
            "openrtc_turn_latency_seconds",
            "The caller stopped speaking -> the first audio of the agent's reply, by agent.",
            ["agent"],
            buckets=LATENCY_BUCKETS,
            registry=registry,
        )
        self.parts = {
            field: Histogram(name, help_text, ["agent"], buckets=PART_BUCKETS, registry=registry)
            for field, (name, help_text) in PARTS.items()
        }
        self.stalled = Counter(
            "openrtc_replies_stalled",
            "Replies dropped after reply_timeout without audio (a provider or tool that never "
            "answered), by agent.",
            ["agent"],
            registry=registry,
        )
        self.provider_errors = Counter(
            "openrtc_provider_errors",
            "STT, LLM and TTS errors of live sessions, by agent, component and whether "
            "livekit could go on (recoverable: retried, or the turn went without a reply).",
            ["agent", "component", "recoverable"],
            registry=registry,
        )
        self.interrupted = Counter(
            "openrtc_turns_interrupted",
            "Replies the caller cut off by speaking over them, by agent.",
            ["agent"],
            registry=registry,
        )

    def observe_provider_error(self, error: events.ProviderError) -> None:
        recoverable = "true" if error.recoverable else "false"
        labels = {"agent": error.agent, "component": error.component, "recoverable": recoverable}
        self.provider_errors.labels(**labels).inc()

    def observe_stall(self, stalled: events.ReplyStalled) -> None:
        self.stalled.labels(agent=stalled.agent).inc()

    def observe(self, turn: events.TurnMeasured) -> None:
        if turn.latency_s is not None:
            self.latency.labels(agent=turn.agent).observe(turn.latency_s)
        for field, histogram in self.parts.items():
            value = getattr(turn, field)
            if value is not None:
                histogram.labels(agent=turn.agent).observe(value)
        if turn.interrupted:
            self.interrupted.labels(agent=turn.agent).inc()
