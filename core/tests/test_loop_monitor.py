"""The loop monitor measures the loop it runs on: real stalls, real CPU, on a real loop."""

from __future__ import annotations

import asyncio
import os
import sys
import time

import attrs

from openrtc.events import WorkerHealth
from openrtc.health import LoopMonitor, serving_health, with_session_host


def test_a_stall_weighs_for_as_long_as_it_lasted() -> None:
    clock = [0.0]
    monitor = LoopMonitor(tick_s=0.05, window_s=10.0, clock=lambda: clock[0])
    for i in range(180):
        monitor.record_lag(i * 0.05, 0.001)
    monitor.record_lag(9.0, 1.0)  # one late wake-up after the loop was stuck for a second
    monitor.refresh()
    health = monitor.health()
    # one sample among 181 would not reach p95; the ticks the stall swallowed do
    assert health.loop_lag_p95_s >= 0.5
    assert health.loop_lag_max_s == health.loop_stall_max_s == 1.0
    assert health.loop_lag_p50_s == 0.001


def test_lag_ages_out_of_the_window_but_the_longest_stall_is_kept() -> None:
    monitor = LoopMonitor(tick_s=0.05, window_s=10.0)
    monitor.record_lag(0.0, 2.0)
    for i in range(1, 240):
        monitor.record_lag(10.0 + i * 0.05, 0.002)
    monitor.refresh()
    health = monitor.health()
    assert health.loop_lag_max_s == 0.002
    assert health.loop_lag_p99_s == 0.002
    assert health.loop_stall_max_s == 2.0


def test_a_fresh_monitor_does_not_read_its_first_stall_as_a_trend() -> None:
    # two seconds after registration the first calls connecting stalled the loop once for
    # 0.3 s: over the 40 ticks seen so far that is the p95, over the window it is not
    monitor = LoopMonitor(tick_s=0.05, window_s=10.0)
    for i in range(40):
        monitor.record_lag(i * 0.05, 0.002)
    monitor.record_lag(2.0, 0.3)
    monitor.refresh()
    health = monitor.health()
    assert health.loop_lag_p95_s == 0.002
    assert health.loop_lag_max_s == health.loop_stall_max_s == 0.3
    # a loop that stays stuck is still seen as lagging, however young the monitor
    for i in range(30):
        monitor.record_lag(2.5 + i * 0.5, 0.45)
    monitor.refresh()
    assert monitor.health().loop_lag_p95_s >= 0.1


def test_the_recent_figure_covers_only_the_last_seconds() -> None:
    monitor = LoopMonitor(tick_s=0.05, window_s=10.0, recent_window_s=3.0)
    for i in range(100):
        monitor.record_lag(i * 0.05, 0.001)
    monitor.record_lag(5.0, 0.6)
    monitor.refresh()
    stalled = monitor.health()
    assert stalled.recent_window_s == 3.0
    assert stalled.loop_lag_recent_p95_s >= 0.4  # 0.6 s of 3 s late: far past 5 %
    assert stalled.loop_lag_p95_s < stalled.loop_lag_recent_p95_s
    for i in range(1, 61):
        monitor.record_lag(5.0 + i * 0.05, 0.001)
    monitor.refresh()
    later = monitor.health()
    assert later.loop_lag_recent_p95_s == 0.001
    assert later.loop_lag_max_s == 0.6  # still in the 10 s the snapshot reports


async def test_measures_a_loop_blocked_by_sleep_and_one_kept_busy() -> None:
    monitor = LoopMonitor(tick_s=0.02, window_s=1.0)
    monitor.start()
    try:
        await asyncio.sleep(0.3)
        quiet = monitor.health()
        time.sleep(0.4)  # noqa: ASYNC251  blocking the loop, without using CPU, is the point
        await asyncio.sleep(0.2)
        stalled = monitor.health()
        until = time.monotonic() + 1.0
        while time.monotonic() < until:  # keeps the loop's thread on the CPU
            if time.monotonic() % 0.1 < 0.002:
                await asyncio.sleep(0)
        await asyncio.sleep(0.15)
        busy = monitor.health()
    finally:
        await monitor.stop()
    assert quiet.loop_stall_max_s < 0.3
    assert stalled.loop_stall_max_s >= 0.35
    assert stalled.loop_lag_p95_s >= 0.1
    assert busy.loop_busy > 0.4 > quiet.loop_busy


async def _busy_loop_health(monitor: LoopMonitor, seconds: float) -> WorkerHealth:
    """Keep the loop's thread wanting the CPU for ``seconds`` (yielding to the monitor now
    and then), then read the monitor."""
    until = time.monotonic() + seconds
    while time.monotonic() < until:
        if time.monotonic() % 0.05 < 0.002:
            await asyncio.sleep(0)
    await asyncio.sleep(0.3)
    return monitor.health()


async def test_measures_how_long_the_loops_thread_waits_for_a_core() -> None:
    # the worker's process and a busy process share one core: the loop's thread, always
    # ready to run, gets about half of it and waits the other half
    core = min(os.sched_getaffinity(0))
    allowed = os.sched_getaffinity(0)
    monitor = LoopMonitor(tick_s=0.02, window_s=1.0)
    os.sched_setaffinity(0, {core})
    monitor.start()
    try:
        alone = await _busy_loop_health(monitor, 3.5)
        rival = await asyncio.create_subprocess_exec(sys.executable, "-c", "while True: pass")
        try:
            os.sched_setaffinity(rival.pid, {core})
            shared = await _busy_loop_health(monitor, 3.5)
        finally:
            rival.kill()
            await rival.wait()
    finally:
        await monitor.stop()
        os.sched_setaffinity(0, allowed)
    assert alone.loop_cpu_wait is not None and shared.loop_cpu_wait is not None
    assert alone.loop_cpu_wait < 0.15
    assert shared.loop_cpu_wait > 0.3


def _figures(lag: float, busy: float, sessions: int | None = None) -> WorkerHealth:
    return WorkerHealth(
        window_s=10.0,
        loop_lag_p50_s=lag / 10,
        loop_lag_p95_s=lag,
        loop_lag_p99_s=lag,
        loop_lag_max_s=lag,
        loop_stall_max_s=lag,
        loop_busy=busy,
        host_cpu=0.5,
        loop_sessions=sessions,
    )


def test_a_hybrid_worker_reads_the_worse_of_its_loop_and_the_next_hosts() -> None:
    idle_worker = _figures(lag=0.002, busy=0.05)
    # a session host running 12 sessions, lagging: the worker is only as free as that host
    combined = with_session_host(idle_worker, _figures(lag=0.3, busy=0.6), host_sessions=12)
    assert combined.loop_lag_p95_s == 0.3
    assert (combined.loop_busy, combined.loop_sessions) == (0.6, 12)
    # the worker's own loop late (it relays every host's inference): that counts too
    late_worker = _figures(lag=0.4, busy=0.8)
    combined = with_session_host(late_worker, _figures(lag=0.01, busy=0.2), host_sessions=3)
    assert combined.loop_lag_p95_s == 0.4
    assert (combined.loop_busy, combined.loop_sessions) == (0.8, None)
    # the wait for a core: the longer of the two, and a figure where only one reports it
    starved_host = attrs.evolve(_figures(lag=0.01, busy=0.2), loop_cpu_wait=0.4)
    combined = with_session_host(
        attrs.evolve(idle_worker, loop_cpu_wait=0.1), starved_host, host_sessions=3
    )
    assert combined.loop_cpu_wait == 0.4
    assert with_session_host(idle_worker, starved_host, host_sessions=3).loop_cpu_wait == 0.4


def test_the_served_figures_include_a_host_once_it_reports() -> None:
    monitor = LoopMonitor()
    reported: list[tuple[WorkerHealth, int]] = []
    read = serving_health(monitor, lambda: reported[-1] if reported else None)
    assert read() == monitor.health()
    reported.append((_figures(lag=0.5, busy=0.3), 4))
    assert read().loop_lag_p95_s == 0.5
    assert serving_health(monitor, None)() == monitor.health()
