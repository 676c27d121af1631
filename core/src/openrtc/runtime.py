"""Session counters of one worker, and the supervisor that drains it after repeated failures.

The counters live in the worker process in every isolation mode: the job start is counted when
the worker accepts a routed job, the end when the isolation mode reports the job's executor
finished. That keeps them right in process mode, where sessions run in child processes.
"""

from __future__ import annotations

import logging
import os
import time
from collections.abc import Callable, Mapping
from typing import Any

import attrs

from openrtc.events import (
    AgentStats,
    LabelStats,
    Outcome,
    RuntimeSnapshot,
    TurnMeasured,
    WorkerHealth,
)
from openrtc.strategies import WorkerState
from openrtc.turns import TurnWindow

logger = logging.getLogger("openrtc.runtime")

STARTING_S = 5.0
"""How long a session counts as starting: about the time to its greeting's first audio."""


def current_rss_bytes() -> int | None:
    """Resident set size of this process, from /proc where available."""
    try:
        with open("/proc/self/statm", "rb") as statm:
            pages = int(statm.read().split()[1])
    except (OSError, ValueError, IndexError):
        return None
    return pages * os.sysconf("SC_PAGE_SIZE")


@attrs.define
class _Live:
    agent: str
    room: str
    started_at: float
    labels: Mapping[str, str]
    turns: int = 0
    last_turn_latency_s: float | None = None


@attrs.frozen
class SessionEnd:
    """What the record knew of a session that ended (``None`` where its start was not seen)."""

    agent: str | None
    duration_s: float | None
    labels: Mapping[str, str]


class RuntimeState:
    """The one record of this worker's jobs: live, ended (and how), rejected.

    Everything else reads it through methods: admission and load (``worker_state``),
    snapshots, and the supervisor (``on_failure_limit``).
    """

    def __init__(
        self,
        *,
        isolation: str,
        max_concurrent_sessions: int,
        consecutive_failure_limit: int,
        on_failure_limit: Callable[[int], None] | None = None,
    ) -> None:
        self.isolation = isolation
        self.max_concurrent_sessions = max_concurrent_sessions
        self.consecutive_failure_limit = consecutive_failure_limit
        self._on_failure_limit = on_failure_limit
        self._created = time.monotonic()
        self._live: dict[str, _Live] = {}
        self._agents: dict[str, dict[str, int]] = {}
        self.started = self.succeeded = self.failed = self.rejected = self.cancelled = 0
        self._cancelled_jobs: set[str] = set()
        self.consecutive_failures = 0
        self.peak_active = 0
        """The most sessions that were ever live at once: the number to hold against the cap."""
        self.draining = False
        self._failed_in_job: set[str] = set()
        self._rejected_by: dict[str, int] = {}
        self._health: Callable[[], WorkerHealth | None] = lambda: None
        self.deployment: str | None = None
        """The deployment version, once the worker serves."""
        self._labels: dict[str, dict[str, LabelStats]] = {}
        self._admission: Callable[[], Mapping[str, Mapping[str, Any]]] = dict
        self.turns = TurnWindow()
        """Recent turn latencies by agent; the worker adds every turn it exports."""

    def measure_health(self, source: Callable[[], WorkerHealth | None]) -> None:
        """Read loop lag and CPU from ``source`` (the serving worker's ``LoopMonitor``)."""
        self._health = source

    def report_admission(self, source: Callable[[], Mapping[str, Mapping[str, Any]]]) -> None:
        """Read the admission rules' own state for snapshots from ``source``."""
        self._admission = source

    def _label_stats(self, labels: Mapping[str, str]) -> list[LabelStats]:
        return [
            self._labels.setdefault(key, {}).setdefault(value, LabelStats())
            for key, value in labels.items()
        ]

    @property
    def active(self) -> int:
        return len(self._live)

    def _agent(self, name: str) -> dict[str, int]:
        return self._agents.setdefault(name, {"started": 0, "succeeded": 0, "failed": 0})

    def session_started(
        self, job_id: str, agent: str, room: str, labels: Mapping[str, str] | None = None
    ) -> None:
        if job_id in self._live:
            return
        self._live[job_id] = _Live(agent, room, time.monotonic(), dict(labels or {}))
        self.peak_active = max(self.peak_active, len(self._live))
        self.started += 1
        self._agent(agent)["started"] += 1
        for stats in self._label_stats(labels or {}):
            stats.started += 1

    def turn_measured(self, turn: TurnMeasured) -> None:
        """Count a reply of a live session (from whichever process measured it)."""
        self.turns.add(turn)
        if (live := self._live.get(turn.job_id)) is not None:
            live.turns, live.last_turn_latency_s = turn.turn, turn.latency_s

    def live_sessions(self) -> list[dict[str, Any]]:
        """The sessions live now, oldest first: what ``openrtc top`` shows a row for."""
        now = time.monotonic()
        return [
            {
                "job_id": job_id,
                "room": live.room,
                "agent": live.agent,
                "labels": dict(live.labels),
                "age_s": round(now - live.started_at, 1),
                "turns": live.turns,
                "last_turn_latency_s": live.last_turn_latency_s,
            }
            for job_id, live in sorted(self._live.items(), key=lambda item: item[1].started_at)
        ]

    def session_ended(self, job_id: str, outcome: Outcome) -> SessionEnd:
        """Record an end; returns what was known of the session's start."""
        live = self._live.pop(job_id, None)
        agent = live.agent if live else None
        duration = time.monotonic() - live.started_at if live else None
        labels = live.labels if live else {}
        if outcome == "succeeded":
            self.succeeded += 1
            self.consecutive_failures = 0
        else:
            self.failed += 1
            self.consecutive_failures += 1
        if agent is not None:
            self._agent(agent)["succeeded" if outcome == "succeeded" else "failed"] += 1
        for stats in self._label_stats(labels):
            if outcome == "succeeded":
                stats.succeeded += 1
            else:
                stats.failed += 1
        if (
            outcome != "succeeded"
            and self.consecutive_failure_limit > 0
            and self.consecutive_failures == self.consecutive_failure_limit
            and self._on_failure_limit is not None
        ):
            logger.error(
                "%d sessions failed in a row (consecutive_failure_limit=%d); draining the worker "
                "so the platform restarts it",
                self.consecutive_failures,
                self.consecutive_failure_limit,
            )
            self._on_failure_limit(self.consecutive_failures)
        return SessionEnd(agent, duration, labels)

    def cancel_live(self) -> list[tuple[str, str, SessionEnd]]:
        """End every live session as cancelled (the worker stops now): ``(job id, room, what
        was known of it)`` for each. A later end reported for one of them is ignored
        (``was_cancelled``): its executor may report it after the worker let go."""
        ended = []
        for job_id, live in list(self._live.items()):
            del self._live[job_id]
            self._cancelled_jobs.add(job_id)
            self.cancelled += 1
            duration = time.monotonic() - live.started_at
            ended.append((job_id, live.room, SessionEnd(live.agent, duration, live.labels)))
        return ended

    def was_cancelled(self, job_id: str) -> bool:
        return job_id in self._cancelled_jobs

    def on_failure_limit(self, callback: Callable[[int], None]) -> None:
        """Call ``callback`` when ``consecutive_failure_limit`` sessions failed in a row."""
        self._on_failure_limit = callback

    def job_failed(self, job_id: str) -> None:
        """The job's session failed where its executor cannot tell: the entrypoint raised, or
        the session closed on an error mid-call. livekit still reports such a job as
        succeeded, since it shut down cleanly, so the failure is remembered here."""
        self._failed_in_job.add(job_id)

    def has_failed(self, job_id: str) -> bool:
        return job_id in self._failed_in_job

    def job_ended(self, job_id: str, *, executor_succeeded: bool) -> Outcome:
        """The outcome of a job whose executor finished; forgets its failure mark."""
        failed_inside = job_id in self._failed_in_job
        self._failed_in_job.discard(job_id)
        return "succeeded" if executor_succeeded and not failed_inside else "failed"

    def session_rejected(self, rule: str, labels: Mapping[str, str] | None = None) -> None:
        self.rejected += 1
        self._rejected_by[rule] = self._rejected_by.get(rule, 0) + 1
        for stats in self._label_stats(labels or {}):
            stats.rejected += 1
            stats.rejected_by_rule[rule] = stats.rejected_by_rule.get(rule, 0) + 1

    def worker_state(self) -> WorkerState:
        by_agent: dict[str, int] = {}
        by_label: dict[str, dict[str, int]] = {}
        recent = time.monotonic() - STARTING_S
        starting = 0
        # a copy: livekit asks for the load from an executor thread while jobs come and go
        for live in list(self._live.values()):
            by_agent[live.agent] = by_agent.get(live.agent, 0) + 1
            starting += live.started_at > recent
            for key, value in live.labels.items():
                values = by_label.setdefault(key, {})
                values[value] = values.get(value, 0) + 1
        return WorkerState(
            active_sessions=self.active,
            active_by_agent=by_agent,
            max_concurrent_sessions=self.max_concurrent_sessions,
            draining=self.draining,
            starting_sessions=starting,
            health=self._health(),
            active_by_label=by_label,
        )

    def snapshot(self) -> RuntimeSnapshot:
        state = self.worker_state()
        active = state.active_by_agent
        per_agent = {
            name: AgentStats(active=active.get(name, 0), **counts)
            for name, counts in sorted(self._agents.items())
        }
        per_label = {
            key: {
                value: attrs.evolve(
                    stats,
                    active=state.active_by_label.get(key, {}).get(value, 0),
                    rejected_by_rule=dict(stats.rejected_by_rule),
                )
                for value, stats in sorted(values.items())
            }
            for key, values in sorted(self._labels.items())
        }
        return RuntimeSnapshot(
            uptime_s=round(time.monotonic() - self._created, 3),
            isolation=self.isolation,
            active=self.active,
            peak_active=self.peak_active,
            started=self.started,
            succeeded=self.succeeded,
            failed=self.failed,
            rejected=self.rejected,
            draining=self.draining,
            max_concurrent_sessions=self.max_concurrent_sessions,
            consecutive_failures=self.consecutive_failures,
            rss_bytes=current_rss_bytes(),
            per_agent=per_agent,
            deployment=self.deployment,
            health=state.health,
            rejected_by_rule=dict(sorted(self._rejected_by.items())),
            per_label=per_label,
            admission=self._admission(),
            cancelled=self.cancelled,
            turns=self.turns.stats(),
            turn_window_s=self.turns.window_s,
        )
