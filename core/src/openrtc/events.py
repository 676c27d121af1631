"""Typed metrics events and the runtime snapshot that exporters receive.

Every event has a stable ``kind`` and serialises with ``as_record()`` into the flat JSON shape
documented in docs/metrics.md (schema ``SCHEMA_VERSION``). Secrets never enter an event: events
carry names and counters only.
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from typing import Any, ClassVar, Literal

import attrs

SCHEMA_VERSION = 1

Outcome = Literal["succeeded", "failed", "cancelled"]


def _now() -> float:
    return time.time()


@attrs.frozen(kw_only=True)
class MetricsEvent:
    kind: ClassVar[str] = "event"
    timestamp: float = attrs.field(factory=_now)

    def as_record(self) -> dict[str, Any]:
        record: dict[str, Any] = {"schema": SCHEMA_VERSION, "kind": self.kind}
        record.update(attrs.asdict(self, recurse=True))
        return record


@attrs.frozen(kw_only=True)
class WorkerRegistered(MetricsEvent):
    kind: ClassVar[str] = "worker_registered"
    isolation: str
    agents: tuple[str, ...]


@attrs.frozen(kw_only=True)
class JobRouted(MetricsEvent):
    kind: ClassVar[str] = "job_routed"
    job_id: str
    room: str
    agent: str
    router: str


@attrs.frozen(kw_only=True)
class AdmissionRejected(MetricsEvent):
    kind: ClassVar[str] = "admission_rejected"
    job_id: str
    room: str
    agent: str | None
    rule: str
    reason: str


@attrs.frozen(kw_only=True)
class SessionStarted(MetricsEvent):
    kind: ClassVar[str] = "session_started"
    job_id: str
    room: str
    agent: str


@attrs.frozen(kw_only=True)
class SessionEnded(MetricsEvent):
    kind: ClassVar[str] = "session_ended"
    job_id: str
    room: str
    agent: str | None
    outcome: Outcome
    duration_s: float | None


@attrs.frozen(kw_only=True)
class DrainStarted(MetricsEvent):
    kind: ClassVar[str] = "drain_started"
    reason: str
    active_sessions: int


@attrs.frozen(kw_only=True)
class AgentStats:
    active: int = 0
    started: int = 0
    succeeded: int = 0
    failed: int = 0


@attrs.frozen(kw_only=True)
class RuntimeSnapshot:
    """A point-in-time view of the worker, safe to print or export."""

    kind: ClassVar[str] = "snapshot"
    timestamp: float = attrs.field(factory=_now)
    uptime_s: float
    isolation: str
    active: int
    started: int
    succeeded: int
    failed: int
    rejected: int
    draining: bool
    max_concurrent_sessions: int
    consecutive_failures: int
    rss_bytes: int | None
    per_agent: Mapping[str, AgentStats]
    deployment: str | None = None
    peak_active: int = 0
    """The most sessions live at once since the worker started."""

    def as_record(self) -> dict[str, Any]:
        record: dict[str, Any] = {"schema": SCHEMA_VERSION, "kind": self.kind}
        record.update(attrs.asdict(self, recurse=True))
        return record
