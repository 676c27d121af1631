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
    version: str = ""
    """The deployment version (``deployment_version``)."""


@attrs.frozen(kw_only=True)
class JobRouted(MetricsEvent):
    kind: ClassVar[str] = "job_routed"
    job_id: str
    room: str
    agent: str
    router: str
    labels: Mapping[str, str] = attrs.field(factory=dict)
    """The job's labels (``JobLabeler``): ``{"tenant": "acme"}``."""


@attrs.frozen(kw_only=True)
class AdmissionRejected(MetricsEvent):
    kind: ClassVar[str] = "admission_rejected"
    job_id: str
    room: str
    agent: str | None
    rule: str
    reason: str
    labels: Mapping[str, str] = attrs.field(factory=dict)
    """The job's labels (``JobLabeler``): ``{"tenant": "acme"}``."""


@attrs.frozen(kw_only=True)
class SessionStarted(MetricsEvent):
    kind: ClassVar[str] = "session_started"
    job_id: str
    room: str
    agent: str
    labels: Mapping[str, str] = attrs.field(factory=dict)
    """The job's labels (``JobLabeler``): ``{"tenant": "acme"}``."""


@attrs.frozen(kw_only=True)
class SessionEnded(MetricsEvent):
    kind: ClassVar[str] = "session_ended"
    job_id: str
    room: str
    agent: str | None
    outcome: Outcome
    duration_s: float | None
    labels: Mapping[str, str] = attrs.field(factory=dict)
    """The job's labels (``JobLabeler``): ``{"tenant": "acme"}``."""


@attrs.frozen(kw_only=True)
class TurnMeasured(MetricsEvent):
    """One exchange of a session: the caller finished speaking and the agent replied (or
    began to and was cut off). Seconds, from livekit's own per-message metrics; a part
    livekit did not measure (a reply that never reached audio, an STT it does not time) is
    None. The greeting, which answers no one, is not a turn."""

    kind: ClassVar[str] = "turn"
    job_id: str
    room: str
    agent: str
    turn: int
    """1 for the session's first reply, then 2, 3..."""
    latency_s: float | None
    """The caller stopped speaking -> the first audio of the reply (livekit's
    ``e2e_latency``): what the caller waits."""
    end_of_turn_delay_s: float | None
    """The caller stopped speaking -> the end of their turn was decided (VAD silence and
    the end-of-turn model)."""
    transcription_delay_s: float | None
    """The caller stopped speaking -> their final transcript."""
    llm_ttft_s: float | None
    """The LLM's first token, from the moment it was asked."""
    tts_ttfb_s: float | None
    """The TTS's first audio, from the moment it got the first text."""
    interrupted: bool
    """The caller spoke over the reply and cut it off."""
    labels: Mapping[str, str] = attrs.field(factory=dict)
    """The job's labels (``JobLabeler``): ``{"tenant": "acme"}``."""


@attrs.frozen(kw_only=True)
class AdmissionStateChanged(MetricsEvent):
    """An admission rule changed how it treats a subject: a tenant's circuit breaker opened
    (``state`` ``open``), let one probe call through (``half_open``) or closed again."""

    kind: ClassVar[str] = "admission_state_changed"
    rule: str
    subject: str
    """What the state is about, for example ``tenant=acme``."""
    state: str
    reason: str


@attrs.frozen(kw_only=True)
class DeploymentStarted(MetricsEvent):
    """The worker of this version started serving: it is connecting to LiveKit."""

    kind: ClassVar[str] = "deployment_started"
    version: str
    pid: int
    isolation: str


@attrs.frozen(kw_only=True)
class DeploymentReady(MetricsEvent):
    """The worker registered with LiveKit for the first time: it takes calls from now on."""

    kind: ClassVar[str] = "deployment_ready"
    version: str
    pid: int
    worker_id: str
    startup_s: float
    """From ``deployment_started`` to registration (prewarm, connecting)."""


@attrs.frozen(kw_only=True)
class DrainStarted(MetricsEvent):
    kind: ClassVar[str] = "drain_started"
    reason: str
    active_sessions: int
    version: str = ""
    pid: int = 0


@attrs.frozen(kw_only=True)
class DrainCompleted(MetricsEvent):
    """The drain ended: every live session finished, or ``drain_timeout`` passed."""

    kind: ClassVar[str] = "drain_completed"
    reason: str
    version: str
    pid: int
    drained_s: float
    sessions_left: int
    """Sessions still live when it ended (cancelled next); 0 unless drain_timeout passed."""
    sessions_served: int
    """Sessions this worker started since it began."""


@attrs.frozen(kw_only=True)
class DeploymentRolledBack(MetricsEvent):
    """A new version started to take over from this worker failed before it registered; this
    worker, of ``version``, keeps serving."""

    kind: ClassVar[str] = "deployment_rolled_back"
    version: str
    pid: int
    failed_version: str
    """The version that failed; empty when it failed before it knew its version (an agent
    that did not import)."""
    failed_pid: int
    reason: str
    active_sessions: int


@attrs.frozen(kw_only=True)
class WorkerLost(MetricsEvent):
    """A worker on this host ended without stopping (SIGKILL, the OOM killer), found by this
    one when it started (``openrtc.lost_workers``). LiveKit does not dispatch its calls again."""

    kind: ClassVar[str] = "worker_lost"
    pid: int
    """The lost worker's."""
    version: str
    """The lost worker's deployment version."""
    active_sessions: int
    """Sessions live at its last snapshot: the calls its callers lost."""
    per_agent: dict[str, int]
    snapshot_at: float
    """When that snapshot was taken; calls started or ended after it are not counted."""
    found_by: int
    """This worker's pid."""


@attrs.frozen(kw_only=True)
class AgentReloaded(MetricsEvent):
    """A saved agent file was reloaded (``outcome`` applied) or left as it was (failed)."""

    kind: ClassVar[str] = "agent_reloaded"
    file: str
    agents: tuple[str, ...]
    outcome: Literal["applied", "failed"]
    error: str | None
    """One line naming the file, the line and the error, when the outcome is failed."""
    added: tuple[str, ...] = ()
    """Agents the saved discovered module now defines, registered by the reload."""
    removed: tuple[str, ...] = ()
    """Agents it no longer defines, unregistered (their live calls go on)."""
    sessions_moving: int
    """Live sessions of these agents that move to the new code at their next turn."""
    sessions_kept: int
    """Live sessions that keep the code they started with (pinned, handed off to another
    agent, or the reload failed)."""
    duration_s: float


@attrs.frozen(kw_only=True)
class AgentStats:
    active: int = 0
    started: int = 0
    succeeded: int = 0
    failed: int = 0


@attrs.define(kw_only=True)
class LabelStats:
    """Sessions of the jobs that carry one label value (a tenant)."""

    active: int = 0
    started: int = 0
    succeeded: int = 0
    failed: int = 0
    rejected: int = 0
    rejected_by_rule: dict[str, int] = attrs.field(factory=dict)


@attrs.frozen(kw_only=True)
class WorkerHealth:
    """How the worker's own process is coping, measured on its event loop (``openrtc.health``).

    Lag is how late the loop woke a task that asked to sleep: every session of a coroutine
    worker shares that loop, so lag is added to every caller's wait. Percentiles are over the
    last ``window_s`` seconds and count a stall for the whole time it lasted (a 2 s stall weighs
    as 2 s of late wake-ups, not as one late sample).

    In hybrid isolation sessions run on the session hosts' loops: the figures are then the
    worse of the worker's loop (it relays every host's inference) and the loop of the host
    the next call would go to (``openrtc.health.with_session_host``).
    """

    window_s: float
    loop_lag_p50_s: float
    loop_lag_p95_s: float
    loop_lag_p99_s: float
    loop_lag_max_s: float
    """The longest lag in the window."""
    loop_stall_max_s: float
    """The longest lag since the worker started."""
    loop_busy: float
    """CPU seconds per second the loop's thread used lately (1.0: it never waits)."""
    host_cpu: float | None
    """Fraction of all the host's cores busy lately; ``None`` where /proc/stat is missing."""
    loop_sessions: int | None = None
    """Live sessions on the loop ``loop_busy`` measures when that is not every session of the
    worker: in hybrid isolation, the session host the next call would go to. ``None``: the
    worker's own loop, which runs every session."""
    recent_window_s: float = 3.0
    loop_lag_recent_p95_s: float = 0.0
    """Lag p95 over only the last ``recent_window_s`` seconds: whether the loop is behind now,
    rather than whether it was at some point in ``window_s``. The overload guard refuses while
    both this and ``loop_lag_p95_s`` pass its limit."""
    loop_cpu_wait: float | None = None
    """Seconds per second the loop's thread was ready to run but waited for a core, over the
    same few seconds as ``loop_busy``: how much the host's other work (other threads of the
    worker, other processes) holds the loop back. ``None`` where the kernel does not report it
    (/proc/thread-self/schedstat)."""


@attrs.frozen(kw_only=True)
class ReplyStalled(MetricsEvent):
    """A reply was dropped after ``reply_timeout`` seconds of preparation without audio: a
    provider or tool that never answered (``openrtc.stalled_replies``)."""

    kind: ClassVar[str] = "reply_stalled"
    job_id: str
    room: str
    agent: str
    waited_s: float
    labels: Mapping[str, str] = attrs.field(factory=dict)


@attrs.frozen(kw_only=True)
class ProviderError(MetricsEvent):
    """An STT, LLM or TTS of a live session reported an error (livekit's session ``error``
    event, ``openrtc.provider_errors``). ``recoverable``: livekit retries, or the session
    goes on without that reply; an unrecoverable one counts toward livekit's
    ``max_unrecoverable_errors``, past which it closes the session (the job then ends,
    failed)."""

    kind: ClassVar[str] = "provider_error"
    job_id: str
    room: str
    agent: str
    component: str
    """``stt``, ``llm``, ``tts`` or ``realtime``."""
    provider: str
    """livekit's label for the provider (its class)."""
    recoverable: bool
    error: str
    """The exception's type and message, cut at 200 characters."""
    labels: Mapping[str, str] = attrs.field(factory=dict)


@attrs.frozen(kw_only=True)
class TurnStats:
    """One agent's replies over the snapshot's turn window (``turn_window_s``)."""

    turns: int
    latency_p50_s: float
    latency_p95_s: float
    """Nearest-rank percentiles of ``TurnMeasured.latency_s``: a wait a caller really had."""


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
    """The deployment version the worker runs (``deployment_version``)."""
    peak_active: int = 0
    """The most sessions live at once since the worker started."""
    health: WorkerHealth | None = None
    """Loop lag, loop-thread and host CPU; ``None`` while the worker is not serving."""
    rejected_by_rule: Mapping[str, int] = attrs.field(factory=dict)
    """Jobs declined before acceptance, by the admission rule (or ``routing``) that did it."""
    per_label: Mapping[str, Mapping[str, LabelStats]] = attrs.field(factory=dict)
    """Counters by label key, then value: ``{"tenant": {"acme": {...}}}``."""
    admission: Mapping[str, Mapping[str, Any]] = attrs.field(factory=dict)
    """The state admission rules report, by rule (a tenant breaker's state and counts)."""
    cancelled: int = 0
    """Sessions still live when the worker was stopped at once (a second SIGTERM): neither
    succeeded nor failed. ``started`` = ``succeeded`` + ``failed`` + ``cancelled`` +
    ``active``."""
    turns: Mapping[str, TurnStats] = attrs.field(factory=dict)
    """By agent, the replies of the last ``turn_window_s`` seconds: how long callers waited.
    An agent with no reply in the window is absent."""
    turn_window_s: float = 0.0

    def as_record(self) -> dict[str, Any]:
        record: dict[str, Any] = {"schema": SCHEMA_VERSION, "kind": self.kind}
        record.update(attrs.asdict(self, recurse=True))
        return record
