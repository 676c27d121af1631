"""The OpenRTC metrics as OpenTelemetry instruments, and how events and snapshots move them.

The same figures as the Prometheus exporter, named by OpenTelemetry's conventions (dotted,
units apart): events add to counters and record histograms as they happen; snapshots are read
by observable gauges when the reader collects. Attributes are bounded sets only (agent names,
outcomes, rule and router names, job label values such as tenants): never a room or a job id.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from typing import TYPE_CHECKING

from openrtc.plugin import events

if TYPE_CHECKING:
    from opentelemetry.metrics import CallbackOptions, Meter, Observation

LATENCY_BUCKETS = (0.25, 0.5, 0.75, 1.0, 1.25, 1.5, 2.0, 2.5, 3.0, 4.0, 5.0, 7.5, 10.0)
"""What a caller waits for a reply: good voice agents answer within a second."""
PART_BUCKETS = (0.025, 0.05, 0.1, 0.2, 0.3, 0.5, 0.75, 1.0, 1.5, 2.0, 3.0, 5.0)
"""One stage of a reply: tens of milliseconds for a fast model, seconds for a stuck one."""
DURATION_BUCKETS = (1.0, 5.0, 15.0, 30.0, 60.0, 120.0, 300.0, 600.0, 1800.0, 3600.0)
"""Session lengths from a dropped call to an hour-long conversation."""

TURN_PARTS = {
    "end_of_turn_delay_s": (
        "openrtc.turn.end_of_turn_delay",
        "The caller stopped speaking -> the end of their turn was decided.",
    ),
    "transcription_delay_s": (
        "openrtc.turn.transcription_delay",
        "The caller stopped speaking -> their final transcript.",
    ),
    "llm_ttft_s": ("openrtc.turn.llm_ttft", "The LLM's time to first token in a reply."),
    "tts_ttfb_s": ("openrtc.turn.tts_ttfb", "The TTS's time to first audio in a reply."),
}


def _with_labels(labels: Mapping[str, str], **attributes: str) -> dict[str, str]:
    return {**{f"openrtc.label.{k}": v for k, v in labels.items()}, **attributes}


class Instruments:
    """Every instrument on one meter; ``snapshot`` is what the gauges report."""

    def __init__(self, meter: Meter) -> None:
        self.snapshot: events.RuntimeSnapshot | None = None
        self.sessions_started = meter.create_counter(
            "openrtc.sessions.started", unit="{session}", description="Sessions accepted."
        )
        self.sessions_ended = meter.create_counter(
            "openrtc.sessions.ended",
            unit="{session}",
            description="Sessions ended, by outcome (succeeded, failed, cancelled).",
        )
        self.session_duration = meter.create_histogram(
            "openrtc.session.duration",
            unit="s",
            description="How long sessions lasted, from acceptance to end.",
            explicit_bucket_boundaries_advisory=DURATION_BUCKETS,
        )
        self.jobs_routed = meter.create_counter(
            "openrtc.jobs.routed", unit="{job}", description="Jobs routed, by the router."
        )
        self.admission_rejected = meter.create_counter(
            "openrtc.admission.rejected",
            unit="{job}",
            description="Jobs declined before acceptance, by rule.",
        )
        self.turn_latency = meter.create_histogram(
            "openrtc.turn.latency",
            unit="s",
            description="The caller stopped speaking -> the first audio of the agent's reply.",
            explicit_bucket_boundaries_advisory=LATENCY_BUCKETS,
        )
        self.turn_parts = {
            field: meter.create_histogram(
                name, unit="s", description=text, explicit_bucket_boundaries_advisory=PART_BUCKETS
            )
            for field, (name, text) in TURN_PARTS.items()
        }
        self.turns_interrupted = meter.create_counter(
            "openrtc.turns.interrupted",
            unit="{turn}",
            description="Replies the caller cut off by speaking over them.",
        )
        self.replies_stalled = meter.create_counter(
            "openrtc.replies.stalled",
            unit="{reply}",
            description="Replies dropped after reply_timeout without audio.",
        )
        self.provider_errors = meter.create_counter(
            "openrtc.provider.errors",
            unit="{error}",
            description="STT, LLM and TTS errors of live sessions, by component and whether "
            "livekit could go on.",
        )
        self.reloads = meter.create_counter(
            "openrtc.reloads", unit="{reload}", description="Saved agent files reloaded."
        )
        self.drains = meter.create_counter(
            "openrtc.drains", unit="{drain}", description="Times the worker started draining."
        )
        for name, (unit, description, read) in GAUGES.items():
            meter.create_observable_gauge(
                name, callbacks=[self._gauge(read)], unit=unit, description=description
            )

    def observe_event(self, event: events.MetricsEvent) -> None:
        if isinstance(event, events.SessionStarted):
            self.sessions_started.add(1, _with_labels(event.labels, agent=event.agent))
        elif isinstance(event, events.SessionEnded):
            agent = event.agent or ""
            self.sessions_ended.add(
                1, _with_labels(event.labels, agent=agent, outcome=event.outcome)
            )
            if event.duration_s is not None:
                self.session_duration.record(event.duration_s, {"agent": agent})
        elif isinstance(event, events.JobRouted):
            self.jobs_routed.add(1, {"agent": event.agent, "router": event.router})
        elif isinstance(event, events.AdmissionRejected):
            attributes = _with_labels(event.labels, agent=event.agent or "", rule=event.rule)
            self.admission_rejected.add(1, attributes)
        elif isinstance(event, events.TurnMeasured):
            self._observe_turn(event)
        elif isinstance(event, events.ReplyStalled):
            self.replies_stalled.add(1, {"agent": event.agent})
        elif isinstance(event, events.ProviderError):
            attributes = {"agent": event.agent, "component": event.component}
            self.provider_errors.add(1, {**attributes, "recoverable": event.recoverable})
        elif isinstance(event, events.AgentReloaded):
            self.reloads.add(1, {"outcome": event.outcome})
        elif isinstance(event, events.DrainStarted):
            self.drains.add(1)

    def _observe_turn(self, turn: events.TurnMeasured) -> None:
        attributes = {"agent": turn.agent}
        if turn.latency_s is not None:
            self.turn_latency.record(turn.latency_s, attributes)
        for field, histogram in self.turn_parts.items():
            value = getattr(turn, field)
            if value is not None:
                histogram.record(value, attributes)
        if turn.interrupted:
            self.turns_interrupted.add(1, attributes)

    def _gauge(self, read: Reader) -> Callable[[CallbackOptions], Iterable[Observation]]:
        """A gauge callback, run on the reader's thread: ``read`` of the last snapshot."""

        def observe(options: CallbackOptions) -> Iterable[Observation]:
            from opentelemetry.metrics import Observation

            snapshot = self.snapshot
            if snapshot is None:
                return []
            return [Observation(value, attributes) for value, attributes in read(snapshot)]

        return observe


Reader = Callable[[events.RuntimeSnapshot], list[tuple[float, dict[str, str]]]]


def _loop_lag(snapshot: events.RuntimeSnapshot) -> list[tuple[float, dict[str, str]]]:
    health = snapshot.health
    if health is None:
        return []
    return [
        (health.loop_lag_p50_s, {"quantile": "0.5"}),
        (health.loop_lag_p99_s, {"quantile": "0.99"}),
        (health.loop_lag_max_s, {"quantile": "max"}),
    ]


GAUGES: dict[str, tuple[str, str, Reader]] = {
    "openrtc.sessions.active": (
        "{session}",
        "Live sessions by agent, as of the last snapshot.",
        lambda s: [(stats.active, {"agent": agent}) for agent, stats in s.per_agent.items()],
    ),
    "openrtc.sessions.limit": (
        "{session}",
        "Sessions the worker runs at once before LiveKit sees it as full.",
        lambda s: [(s.max_concurrent_sessions, {})],
    ),
    "openrtc.worker.draining": (
        "",
        "1 while the worker drains, else 0.",
        lambda s: [(1 if s.draining else 0, {})],
    ),
    "openrtc.worker.memory.resident": (
        "By",
        "Resident memory of the worker process.",
        lambda s: [] if s.rss_bytes is None else [(s.rss_bytes, {})],
    ),
    "openrtc.worker.loop_lag": (
        "s",
        "How late the worker's event loop ran over the last window, by quantile (0.5, 0.99, max).",
        _loop_lag,
    ),
}
"""Gauge name -> (unit, description, what it reads from the last snapshot)."""
