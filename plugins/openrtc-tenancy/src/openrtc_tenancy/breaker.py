"""One circuit breaker per tenant, fed by the outcome of every session the tenant ran.

Closed: every session's end is kept for ``window_s``; once at least ``min_sessions`` ended in
the window and ``failure_ratio`` of them failed, the breaker opens. Open: the tenant's new
calls are declined, for ``cooldown_s``. Then one probe call is let through (half-open): if it
ends well the breaker closes with a clean window, if it fails the breaker opens again. A
failure is a session that ended ``failed``: its entrypoint raised, its session closed on an
error mid-call (an STT, LLM or TTS that kept failing), its process or session host died.
"""

from __future__ import annotations

import time
from collections import deque
from collections.abc import Callable
from typing import Literal

import attrs

State = Literal["closed", "open", "half_open"]

PROBE_START_S = 15.0
"""A probe let through but never started (another rule declined it, the dispatch failed)
frees the half-open slot after this long."""


@attrs.frozen
class BreakerSettings:
    window_s: float = 60.0
    min_sessions: int = 5
    failure_ratio: float = 0.5
    cooldown_s: float = 30.0


@attrs.frozen
class Transition:
    """A change of state, with why (for the log line and the event)."""

    state: State
    reason: str


class Breaker:
    def __init__(
        self, settings: BreakerSettings, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self.settings = settings
        self._clock = clock
        self.state: State = "closed"
        self._ends: deque[tuple[float, bool]] = deque()
        self._opened_at = 0.0
        self._probe_let_at: float | None = None
        self._probe_job: str | None = None
        self.failures_total = 0
        self.sessions_total = 0

    def _trim(self, now: float) -> None:
        horizon = now - self.settings.window_s
        while self._ends and self._ends[0][0] < horizon:
            self._ends.popleft()

    def window(self) -> tuple[int, int]:
        """(sessions, failures) that ended in the window."""
        self._trim(self._clock())
        return len(self._ends), sum(failed for _, failed in self._ends)

    def refusal(self) -> str | None:
        """Why the tenant's next call is declined now, or ``None`` to let it through (a call
        let through while half-open is the probe)."""
        now = self._clock()
        if self.state == "closed":
            return None
        if self.state == "open":
            wait = self._opened_at + self.settings.cooldown_s - now
            if wait > 0:
                return f"circuit breaker open, next probe call in {wait:.0f} s"
            self.state = "half_open"
        # half-open: one probe at a time
        if self._probe_job is not None:
            return "circuit breaker half-open, waiting on its probe call"
        if self._probe_let_at is not None and now - self._probe_let_at < PROBE_START_S:
            return "circuit breaker half-open, a probe call is starting"
        self._probe_let_at = now
        return None

    def started(self, job_id: str) -> Transition | None:
        """A session of the tenant started; while half-open it is the probe."""
        if self.state != "half_open" or self._probe_job is not None:
            return None
        self._probe_job = job_id
        return Transition("half_open", f"cooldown over; job {job_id} is the probe call")

    def ended(self, job_id: str, failed: bool) -> Transition | None:
        """A session of the tenant ended; returns the change of state it caused, if any."""
        now = self._clock()
        self.sessions_total += 1
        self.failures_total += failed
        if self.state == "half_open" and job_id == self._probe_job:
            self._probe_job = self._probe_let_at = None
            self._ends.clear()
            if failed:
                self._open(now)
                return Transition("open", f"probe call {job_id} failed")
            self.state = "closed"
            return Transition("closed", f"probe call {job_id} succeeded")
        if self.state != "closed":
            return None  # a call from before the breaker opened: it already counted
        self._ends.append((now, failed))
        sessions, failures = self.window()
        s = self.settings
        if sessions >= s.min_sessions and failures >= s.failure_ratio * sessions:
            self._open(now)
            return Transition(
                "open",
                f"{failures} of the last {sessions} sessions failed within {s.window_s:g} s "
                f"(tenancy.breaker_failure_ratio={s.failure_ratio:g}, "
                f"tenancy.breaker_min_sessions={s.min_sessions})",
            )
        return None

    def _open(self, now: float) -> None:
        self.state = "open"
        self._opened_at = now
        self._ends.clear()

    def report(self) -> dict[str, object]:
        sessions, failures = self.window()
        return {
            "state": self.state,
            "window_sessions": sessions,
            "window_failures": failures,
            "sessions": self.sessions_total,
            "failures": self.failures_total,
        }
