"""The OpenRTC metric families, and how events and snapshots move them.

Events increment counters; snapshots set gauges. Labels are bounded sets only (registered agent
names, outcomes, rule and router names, job label values such as tenants): room names and job
ids would make a new series per call, so they are never labels. Nothing here reads settings,
so no secret can reach a metric.
"""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, Info

from openrtc.plugin import events

from .labelled import LabelledMetrics
from .turns import TurnHistograms

OUTCOMES: tuple[events.Outcome, ...] = ("succeeded", "failed", "cancelled")
DURATION_BUCKETS = (1.0, 5.0, 15.0, 30.0, 60.0, 120.0, 300.0, 600.0, 1800.0, 3600.0)
"""Session lengths from a dropped call to an hour-long conversation."""


class WorkerMetrics:
    """Every OpenRTC metric, registered on ``registry`` (never the process-wide default)."""

    def __init__(self, registry: CollectorRegistry) -> None:
        self.registry = registry
        self.sessions_started = Counter(
            "openrtc_sessions_started",
            "Sessions the worker accepted, by agent.",
            ["agent"],
            registry=registry,
        )
        self.sessions_ended = Counter(
            "openrtc_sessions_ended",
            "Sessions that ended, by agent and outcome (succeeded, failed, cancelled).",
            ["agent", "outcome"],
            registry=registry,
        )
        self.session_duration = Histogram(
            "openrtc_session_duration_seconds",
            "How long sessions lasted, from acceptance to end, by agent.",
            ["agent"],
            buckets=DURATION_BUCKETS,
            registry=registry,
        )
        self.jobs_routed = Counter(
            "openrtc_jobs_routed",
            "Jobs routed to an agent, by agent and the router that decided.",
            ["agent", "router"],
            registry=registry,
        )
        self.admission_rejected = Counter(
            "openrtc_admission_rejected",
            "Jobs declined before acceptance, by agent (empty when routing failed) and rule.",
            ["agent", "rule"],
            registry=registry,
        )
        self.drains = Counter(
            "openrtc_drains", "Times the worker started draining.", registry=registry
        )
        self.sessions_lost = Counter(
            "openrtc_sessions_lost",
            "Calls that were live in workers of this host found dead (SIGKILL) at start-up.",
            registry=registry,
        )
        self.reloads = Counter(
            "openrtc_reloads",
            "Saved agent files reloaded, by outcome (applied, or failed: the code is unchanged).",
            ["outcome"],
            registry=registry,
        )
        self.active_sessions = Gauge(
            "openrtc_active_sessions",
            "Live sessions by agent, as of the last snapshot.",
            ["agent"],
            registry=registry,
        )
        self.max_concurrent_sessions = Gauge(
            "openrtc_max_concurrent_sessions",
            "Sessions the worker runs at once before LiveKit sees it as full.",
            registry=registry,
        )
        self.consecutive_failures = Gauge(
            "openrtc_consecutive_failures",
            "Sessions failed in a row (the supervisor drains at consecutive_failure_limit).",
            registry=registry,
        )
        self.draining = Gauge(
            "openrtc_draining", "1 while the worker drains, else 0.", registry=registry
        )
        self.uptime = Gauge(
            "openrtc_uptime_seconds", "Seconds since the pool was built.", registry=registry
        )
        self.resident_memory = Gauge(
            "openrtc_resident_memory_bytes",
            "Resident memory of the worker process.",
            registry=registry,
        )
        self.health: HealthGauges | None = None
        self.labelled = LabelledMetrics(registry)
        self.turns = TurnHistograms(registry)
        self.worker = Info(
            "openrtc_worker", "The worker's isolation mode and deployment.", registry=registry
        )

    def observe_event(self, event: events.MetricsEvent) -> None:
        self.labelled.observe_event(event)
        if isinstance(event, events.SessionStarted):
            self.sessions_started.labels(agent=event.agent).inc()
        elif isinstance(event, events.SessionEnded):
            agent = event.agent or ""
            self.sessions_ended.labels(agent=agent, outcome=event.outcome).inc()
            if event.duration_s is not None:
                self.session_duration.labels(agent=agent).observe(event.duration_s)
        elif isinstance(event, events.JobRouted):
            self.jobs_routed.labels(agent=event.agent, router=event.router).inc()
        elif isinstance(event, events.AdmissionRejected):
            self.admission_rejected.labels(agent=event.agent or "", rule=event.rule).inc()
        elif isinstance(event, events.DrainStarted):
            self.drains.inc()
        elif isinstance(event, events.WorkerLost):
            self.sessions_lost.inc(event.active_sessions)
        elif isinstance(event, events.TurnMeasured):
            self.turns.observe(event)
        elif isinstance(event, events.ReplyStalled):
            self.turns.observe_stall(event)
        elif isinstance(event, events.ProviderError):
            self.turns.observe_provider_error(event)
        elif isinstance(event, events.AgentReloaded):
            self.reloads.labels(outcome=event.outcome).inc()
        elif isinstance(event, events.WorkerRegistered):
            self._declare_agents(event.agents)

    def _declare_agents(self, agents: tuple[str, ...]) -> None:
        # series that exist at 0 before the first call make rate() and increase() exact
        for agent in agents:
            self.sessions_started.labels(agent=agent)
            self.active_sessions.labels(agent=agent)
            for outcome in OUTCOMES:
                self.sessions_ended.labels(agent=agent, outcome=outcome)

    def observe_snapshot(self, snapshot: events.RuntimeSnapshot) -> None:
        self.labelled.observe_snapshot(snapshot)
        for agent, stats in snapshot.per_agent.items():
            self.active_sessions.labels(agent=agent).set(stats.active)
        self.max_concurrent_sessions.set(snapshot.max_concurrent_sessions)
        self.consecutive_failures.set(snapshot.consecutive_failures)
        self.draining.set(1 if snapshot.draining else 0)
        self.uptime.set(snapshot.uptime_s)
        if snapshot.rss_bytes is not None:
            self.resident_memory.set(snapshot.rss_bytes)
        if snapshot.health is not None:
            self._observe_health(snapshot.health)
        self.worker.info({"isolation": snapshot.isolation, "deployment": snapshot.deployment or ""})

    def _observe_health(self, health: events.WorkerHealth) -> None:
        if self.health is None:
            self.health = HealthGauges(self.registry)
        self.health.observe(self.registry, health)


class HealthGauges:
    """The worker's loop lag and CPU. Registered with the first snapshot that carries them, so
    a worker that is not serving yet (or a host without /proc/stat) shows no series rather
    than a zero that was never measured."""

    def __init__(self, registry: CollectorRegistry) -> None:
        self.loop_lag = Gauge(
            "openrtc_loop_lag_seconds",
            "How late the worker's event loop ran over the last window: quantile 0.5, 0.95, "
            "0.99 and max (a stall counts for as long as it lasted).",
            ["quantile"],
            registry=registry,
        )
        self.loop_stall_max = Gauge(
            "openrtc_loop_stall_max_seconds",
            "The longest event-loop stall since the worker started.",
            registry=registry,
        )
        self.loop_busy = Gauge(
            "openrtc_loop_busy_ratio",
            "CPU seconds per second the event loop's thread used lately (1: never idle).",
            registry=registry,
        )
        self.host_cpu: Gauge | None = None
        self.loop_cpu_wait: Gauge | None = None

    def observe(self, registry: CollectorRegistry, health: events.WorkerHealth) -> None:
        for quantile, value in (
            ("0.5", health.loop_lag_p50_s),
            ("0.95", health.loop_lag_p95_s),
            ("0.99", health.loop_lag_p99_s),
            ("max", health.loop_lag_max_s),
        ):
            self.loop_lag.labels(quantile=quantile).set(value)
        self.loop_stall_max.set(health.loop_stall_max_s)
        self.loop_busy.set(health.loop_busy)
        self.host_cpu = _measured(
            registry,
            self.host_cpu,
            "openrtc_host_cpu_ratio",
            "Share of all the host's cores busy lately.",
            health.host_cpu,
        )
        self.loop_cpu_wait = _measured(
            registry,
            self.loop_cpu_wait,
            "openrtc_loop_cpu_wait_ratio",
            "Seconds per second the event loop's thread waited for a core lately.",
            health.loop_cpu_wait,
        )


def _measured(
    registry: CollectorRegistry, gauge: Gauge | None, name: str, doc: str, value: float | None
) -> Gauge | None:
    """A gauge for a figure the host may not report: created with its first value, so a
    figure never measured has no series rather than a made-up zero."""
    if value is None:
        return gauge
    if gauge is None:
        gauge = Gauge(name, doc, registry=registry)
    gauge.set(value)
    return gauge
