"""Metrics per job label (per tenant): one family set per label key, made on first sight.

A job labeler (the tenancy plugin's ``tenant``) puts labels on every job; each key becomes a
Prometheus label of its own name, so a tenant's calls read as
``openrtc_tenant_sessions_ended_total{tenant="acme",outcome="failed"}``. There are as many
series as label values: tenants, not calls. Admission rules that change how they treat a
subject (a tenant's circuit breaker) show as ``openrtc_admission_state``.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import get_args

from prometheus_client import CollectorRegistry, Counter, Gauge

from openrtc.plugin import events

OUTCOMES: tuple[str, ...] = get_args(events.Outcome)


def metric_part(key: str) -> str:
    """A label key as it may appear in a metric and label name."""
    cleaned = re.sub(r"[^a-zA-Z0-9_]", "_", key)
    return cleaned if re.match(r"[a-zA-Z_]", cleaned) else f"_{cleaned}"


class LabelFamilies:
    """The counters and gauges of one label key."""

    def __init__(self, registry: CollectorRegistry, key: str) -> None:
        part = metric_part(key)
        self.key = part
        self.started = Counter(
            f"openrtc_{part}_sessions_started",
            f"Sessions the worker accepted, by {key}.",
            [part],
            registry=registry,
        )
        self.ended = Counter(
            f"openrtc_{part}_sessions_ended",
            f"Sessions that ended, by {key} and outcome.",
            [part, "outcome"],
            registry=registry,
        )
        self.rejected = Counter(
            f"openrtc_{part}_admission_rejected",
            f"Jobs declined before acceptance, by {key} and rule.",
            [part, "rule"],
            registry=registry,
        )
        self.active = Gauge(
            f"openrtc_{part}_active_sessions",
            f"Live sessions by {key}, as of the last snapshot.",
            [part],
            registry=registry,
        )

    def declare(self, value: str) -> None:
        self.started.labels(value)
        self.active.labels(value)
        for outcome in OUTCOMES:
            self.ended.labels(value, outcome)


class LabelledMetrics:
    def __init__(self, registry: CollectorRegistry) -> None:
        self.registry = registry
        self._families: dict[str, LabelFamilies] = {}
        self._states: dict[tuple[str, str], set[str]] = {}
        self.admission_state = Gauge(
            "openrtc_admission_state",
            "1 for the state an admission rule is in for a subject (a tenant's circuit "
            "breaker: open, half_open, closed), 0 for the states it left.",
            ["rule", "subject", "state"],
            registry=registry,
        )

    def _families_of(self, key: str, value: str) -> LabelFamilies:
        families = self._families.get(key)
        if families is None:
            families = self._families[key] = LabelFamilies(self.registry, key)
        # series that exist at 0 before the first failure make rate() and increase() exact
        families.declare(value)
        return families

    def _each(self, labels: Mapping[str, str]) -> list[tuple[LabelFamilies, str]]:
        return [(self._families_of(key, value), value) for key, value in labels.items()]

    def observe_event(self, event: events.MetricsEvent) -> None:
        if isinstance(event, events.SessionStarted):
            for families, value in self._each(event.labels):
                families.started.labels(value).inc()
        elif isinstance(event, events.SessionEnded):
            for families, value in self._each(event.labels):
                families.ended.labels(value, event.outcome).inc()
        elif isinstance(event, events.AdmissionRejected):
            for families, value in self._each(event.labels):
                families.rejected.labels(value, event.rule).inc()
        elif isinstance(event, events.AdmissionStateChanged):
            seen = self._states.setdefault((event.rule, event.subject), set())
            seen.add(event.state)
            for state in seen:
                self.admission_state.labels(event.rule, event.subject, state).set(
                    1 if state == event.state else 0
                )

    def observe_snapshot(self, snapshot: events.RuntimeSnapshot) -> None:
        for key, values in snapshot.per_label.items():
            for value, stats in values.items():
                self._families_of(key, value).active.labels(value).set(stats.active)
