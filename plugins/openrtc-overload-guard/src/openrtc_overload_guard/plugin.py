"""Hooks of the overload guard: its settings, the ``overload`` admission rule and its share of
the worker's reported load."""

from __future__ import annotations

import logging
import threading

from openrtc.plugin import AdmissionRequest, AdmissionRule, Setting, Settings, WorkerState, hookimpl
from openrtc_overload_guard.guard import Limits, load, overload_reason

LOOP_LAG_MS = Setting(
    "overload.loop_lag_ms",
    "float",
    100.0,
    "Refuse new calls while the event loop's lag p95 passes this many milliseconds both over "
    "the last 10 s and over the last 3 s (0: off). Lag adds to every live caller's wait; a "
    "stall counts for as long as it lasted, so one stall must last about 0.55 s to trip the "
    "default, which then refuses calls for 3 s.",
    minimum=0,
)
LOOP_BUSY = Setting(
    "overload.loop_busy",
    "float",
    0.7,
    "Refuse a call that would take the event loop's thread past this share of one core "
    "(0: off). The loop is the one thing a worker cannot spread over cores.",
    minimum=0,
)
HOST_CPU = Setting(
    "overload.host_cpu",
    "float",
    0.85,
    "Refuse new calls while this share of all the host's cores is busy over the last 3 s "
    "(0: off). A session's media threads run beside the event loop, on the other cores, and "
    "those run out first. The figure is the whole host's (in a container, the node's): on a "
    "host shared with other work, set it to 0 or higher.",
    minimum=0,
)


@hookimpl
def openrtc_settings() -> list[Setting]:
    return [LOOP_LAG_MS, LOOP_BUSY, HOST_CPU]


@hookimpl
def openrtc_admission_rules(settings: Settings) -> list[AdmissionRule]:
    limits = Limits.from_settings(settings)

    def check(request: AdmissionRequest) -> str | None:
        return overload_reason(request.state, limits)

    return [
        AdmissionRule(
            name="overload",
            check=check,
            summary="refuse while the event loop lags, or one more call would overload it",
        )
    ]


logger = logging.getLogger("openrtc.overload")


class FullReports:
    """Logs when the guard starts and stops reporting the worker full, with the reason: the
    load reaches LiveKit every few seconds with no why, and while a worker reports itself
    full LiveKit drops the calls it cannot place elsewhere."""

    def __init__(self) -> None:
        self._lock = threading.Lock()  # livekit asks for the load from executor threads
        self._reason: str | None = None

    def note(self, reason: str | None) -> None:
        with self._lock:
            was, self._reason = self._reason, reason
        if reason is not None and was is None:
            logger.info("reporting the worker full: %s", reason)
        elif reason is None and was is not None:
            logger.info("reporting the worker free again")


_reports = FullReports()


@hookimpl
def openrtc_worker_load(state: WorkerState, settings: Settings) -> float | None:
    limits = Limits.from_settings(settings)
    _reports.note(overload_reason(state, limits) if state.health is not None else None)
    return load(state, limits)
