"""When is a worker too busy for one more call, and what load it reports meanwhile.

Three signals, from ``WorkerState.health`` (the kernel's loop monitor):

* loop lag: the loop already runs late, so every live call waits longer; refuse while the
  lag p95 is over the limit both over the monitor's 10 s window and over the last 3 s
  (``lag_p95``). The monitor counts a stall for every tick it swallowed, so at the default
  limit one stall must last about 0.55 s to refuse calls, and refuses them for 3 s; a loop
  falling behind stalls again within them and stays refused. (On the 10 s figure alone, one
  1 s stall kept the worker full for 10 s after its loop had recovered, and LiveKit dropped
  every call meanwhile; on the 3 s figure alone, a 0.3 s stall refused calls.) The loop
  thread is starved of the CPU (other threads hold the GIL, other processes the cores) before
  it is busy itself, so this is the backstop for what the host CPU limit lets through;
* loop-thread CPU: the loop's thread is the one thing a coroutine worker cannot spread over
  cores. The rule adds what the call asked for, and every call accepted in the last few
  seconds (still greeting, so not fully in the figure yet), will cost at the measured cost per
  live session (``session_cost``), and refuses what would pass the limit. That counts a
  starting call partly twice, on purpose: a burst of dispatches arrives faster than its cost
  shows, and a call refused at dispatch can go to another worker, while one accepted and never
  greeted is lost.
  This is what makes the worker full before its loop falls behind, not after;
* host CPU: the host's cores nearly all busy, in every isolation mode. A session costs the
  worker nearly twice its loop-thread CPU in livekit's native threads (the Opus
  encoder, the Rust runtime, WebRTC), which run on the other cores; those cores run out
  before the loop thread does. Measured at twice what a 2-core host carries, a coroutine
  worker whose loop thread was at most 32 % busy accepted 22 calls with the host at 99.7 %,
  left 4 ungreeted and stalled for up to 2.1 s; with this limit it took 13 and greeted all
  (docs/benchmarks/density.md). In hybrid and process isolation the loops the guard watches
  are not even the ones the sessions run on.

A worker that is not serving has no health figures; then nothing here refuses.
"""

from __future__ import annotations

import attrs

from openrtc.plugin import Settings, WorkerState, events

PRIOR_SESSION_COST = 0.02
"""Loop-thread CPU seconds per second one session is assumed to cost until live sessions
show their own figure (the measured cost is used once it is higher)."""


@attrs.frozen
class Limits:
    loop_lag_s: float
    """Refuse while the loop's lag p95 passes this (0: off)."""
    loop_busy: float
    """Refuse a call that would take the loop's thread past this share of one core (0: off)."""
    host_cpu: float
    """Refuse while this share of all the host's cores is busy (0: off)."""

    @classmethod
    def from_settings(cls, settings: Settings) -> Limits:
        return cls(
            loop_lag_s=float(settings["overload.loop_lag_ms"]) / 1000.0,
            loop_busy=float(settings["overload.loop_busy"]),
            host_cpu=float(settings["overload.host_cpu"]),
        )


def lag_p95(health: events.WorkerHealth) -> float:
    """The lag the rule compares with its limit: the lower of the p95 over the monitor's
    window (10 s: was the lag substantial?) and over the last few seconds (is it still
    there?). A stall counts only while it is recent, and only if it lasted: one 1 s stall
    refuses calls for the 3 s after it, not the 10 s the longer window alone would; a
    0.3 s one (a new call's start on a busy machine) refuses none, as the recent window
    alone would for 3 s."""
    return min(health.loop_lag_p95_s, health.loop_lag_recent_p95_s)


def session_cost(state: WorkerState) -> float:
    """Loop-thread CPU one more session is expected to cost.

    The live sessions' share of the loop's CPU, once most of them are past their start: while
    most are still connecting, the figure is their one-off start (and on a fresh worker, the
    first call's imports), which would price the next call at many times its real cost and
    refuse calls a worker with one or two sessions can obviously carry. Where the loop runs
    only some of the worker's sessions (a session host), its cost is shared by those."""
    health = state.health
    settled = state.active_sessions - state.starting_sessions
    if health is None or state.active_sessions == 0 or settled < state.starting_sessions:
        return PRIOR_SESSION_COST
    on_loop = state.active_sessions if health.loop_sessions is None else health.loop_sessions
    return max(PRIOR_SESSION_COST, health.loop_busy / max(on_loop, 1))


def predicted_busy(state: WorkerState, extra: int) -> float:
    """Loop-thread CPU once the starting sessions, and ``extra`` more, are in the figure."""
    busy = state.health.loop_busy if state.health is not None else 0.0
    return busy + session_cost(state) * (state.starting_sessions + extra)


def overload_reason(state: WorkerState, limits: Limits) -> str | None:
    """Why one more call must be refused now, or ``None`` to let it in."""
    health = state.health
    if health is None:
        return None
    if limits.loop_lag_s > 0 and lag_p95(health) > limits.loop_lag_s:
        return (
            f"overloaded: event loop lag p95 {health.loop_lag_recent_p95_s * 1000:.0f} ms over "
            f"the last {health.recent_window_s:g} s, {health.loop_lag_p95_s * 1000:.0f} ms over "
            f"{health.window_s:g} s (limit overload.loop_lag_ms="
            f"{limits.loop_lag_s * 1000:g}); add workers or lower max_concurrent_sessions"
        )
    if limits.loop_busy > 0:
        after = predicted_busy(state, extra=1)
        if after > limits.loop_busy:
            return (
                f"overloaded: event loop thread {health.loop_busy:.0%} busy with "
                f"{state.active_sessions} sessions ({state.starting_sessions} still starting); "
                f"one more would take it to about {after:.0%} (limit overload.loop_busy="
                f"{limits.loop_busy:g}); add workers or lower max_concurrent_sessions"
            )
    if limits.host_cpu > 0 and health.host_cpu is not None and health.host_cpu > limits.host_cpu:
        return (
            f"overloaded: host CPU {health.host_cpu:.0%} busy (limit overload.host_cpu="
            f"{limits.host_cpu:g}); add hosts or lower max_concurrent_sessions"
        )
    return None


def load(state: WorkerState, limits: Limits) -> float | None:
    """The load to report: 1.0 (full) while a call would be refused, else the closest any
    signal is to its limit, so LiveKit prefers the workers with the most room."""
    health = state.health
    if health is None:
        return None
    if overload_reason(state, limits) is not None:
        return 1.0
    shares = [0.0]
    if limits.loop_lag_s > 0:
        shares.append(lag_p95(health) / limits.loop_lag_s)
    if limits.loop_busy > 0:
        shares.append(predicted_busy(state, extra=0) / limits.loop_busy)
    if limits.host_cpu > 0 and health.host_cpu is not None:
        shares.append(health.host_cpu / limits.host_cpu)
    return min(max(shares), 1.0)
