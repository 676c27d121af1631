"""Hooks of the overload guard: its settings, the ``overload`` admission rule and its share of
the worker's reported load."""

from __future__ import annotations

from openrtc.plugin import AdmissionRequest, AdmissionRule, Setting, Settings, WorkerState, hookimpl
from openrtc_overload_guard.guard import Limits, load, overload_reason

LOOP_LAG_MS = Setting(
    "overload.loop_lag_ms",
    "float",
    100.0,
    "Refuse new calls while the event loop's lag p95 over the last 3 s passes this many "
    "milliseconds (0: off). Lag adds to every live caller's wait; a stall counts for as long "
    "as it lasted, so a stall of about 0.25 s trips the default for 3 s.",
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
    0.0,
    "Refuse new calls while this share of all the host's cores is busy (0: off, the default: "
    "on a shared host other work would refuse calls the worker could carry).",
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


@hookimpl
def openrtc_worker_load(state: WorkerState, settings: Settings) -> float | None:
    return load(state, Limits.from_settings(settings))
