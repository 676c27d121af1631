"""The deployment audit trail: one record at each step of a worker version's life.

``deployment_started`` when the worker begins serving, ``deployment_ready`` at its first
registration, ``drain_started`` and ``drain_completed`` around its drain,
``deployment_rolled_back`` when a new version that was to take over from it failed to start,
and ``worker_lost`` when it finds a worker on its host that died with calls (SIGKILL), each
with the version, the pid and the counts, sent to every exporter like any other event.
An operator reading them in order sees when a version took calls and when it let go of the
last one.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable

from openrtc import events
from openrtc.lost_workers import LostWorker
from openrtc.runtime import RuntimeState


class DeploymentAudit:
    def __init__(self, emit: Callable[[events.MetricsEvent], None], state: RuntimeState) -> None:
        self._emit = emit
        self._state = state
        self.version = ""
        self._started_at: float | None = None
        self._ready = False
        self._drain_started_at: float | None = None
        self._drain_reason = ""

    def started(self, version: str, isolation: str) -> None:
        self.version = version
        self._started_at = time.monotonic()
        self._emit(events.DeploymentStarted(version=version, pid=os.getpid(), isolation=isolation))

    def registered(self, worker_id: str) -> None:
        """Every registration; the first one is the version's ``deployment_ready``."""
        if self._ready:
            return
        self._ready = True
        since = time.monotonic() - (self._started_at or time.monotonic())
        self._emit(
            events.DeploymentReady(
                version=self.version,
                pid=os.getpid(),
                worker_id=worker_id,
                startup_s=round(since, 3),
            )
        )

    def drain_started(self, reason: str) -> None:
        self._drain_started_at = time.monotonic()
        self._drain_reason = reason
        self._emit(
            events.DrainStarted(
                reason=reason,
                active_sessions=self._state.active,
                version=self.version,
                pid=os.getpid(),
            )
        )

    def drain_completed(self) -> None:
        if self._drain_started_at is None:
            return
        self._emit(
            events.DrainCompleted(
                reason=self._drain_reason,
                version=self.version,
                pid=os.getpid(),
                drained_s=round(time.monotonic() - self._drain_started_at, 3),
                sessions_left=self._state.active,
                sessions_served=self._state.started,
            )
        )
        self._drain_started_at = None

    def rolled_back(self, *, failed_version: str, failed_pid: int, reason: str) -> None:
        """A worker that was to take over from this one failed before it registered."""
        self._emit(
            events.DeploymentRolledBack(
                version=self.version,
                pid=os.getpid(),
                failed_version=failed_version,
                failed_pid=failed_pid,
                reason=reason,
                active_sessions=self._state.active,
            )
        )

    def worker_lost(self, lost: LostWorker) -> None:
        """A worker that ended without stopping, found when this one started."""
        self._emit(
            events.WorkerLost(
                pid=lost.pid,
                version=lost.version,
                active_sessions=lost.active,
                per_agent=dict(lost.per_agent),
                snapshot_at=lost.snapshot_at,
                found_by=os.getpid(),
            )
        )
