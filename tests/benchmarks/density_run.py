"""One measured run: a fresh worker, its idle memory, N concurrent calls, its peak memory.

A fresh worker per run keeps one run's allocations (the allocator rarely returns memory to the
system) out of the next run's baseline. Idle is the tree's RSS once it has settled after
registering, before the first dispatch; peak is the highest sample from the first dispatch
until the calls are released. The marginal cost of a session is (peak - idle) / N.
"""

from __future__ import annotations

import asyncio
import math
import os
import secrets
import statistics
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import psutil
from density_driver import CallDriver
from density_sampler import Sample, TreeSampler, breakdown, thread_cores, thread_cpu
from density_worker_process import WorkerLaunch, WorkerProcess, WorkerStartFailed
from openrtc_testing.dispatch import ServerAddress

MiB = 2**20
SETTLE_WINDOW_S = 3.0
SETTLE_TOLERANCE = 0.02


@dataclass(frozen=True)
class RunConfig:
    sessions: int
    turns: int
    timeout_s: float
    dispatch_interval_s: float
    settle_s: float
    hold_s: float
    register_timeout_s: float
    max_rss_bytes: int
    sample_interval_s: float


def percentile(values: list[float], q: float) -> float | None:
    """Nearest-rank percentile: a value that was really observed."""
    if not values:
        return None
    ordered = sorted(values)
    return ordered[max(0, math.ceil(q * len(ordered)) - 1)]


def _mib(value: float | None) -> float | None:
    return None if value is None else value / MiB


async def _settled_idle(sampler: TreeSampler, min_s: float, max_s: float) -> list[Sample]:
    """Wait until the tree's RSS holds still (idle job processes finish prewarming)."""
    began = time.monotonic()
    while True:
        await asyncio.sleep(0.5)
        now = time.monotonic()
        window = sampler.between(now - SETTLE_WINDOW_S, now)
        if now - began >= min_s and len(window) >= 3:
            low, high = min(s.rss for s in window), max(s.rss for s in window)
            if high - low <= SETTLE_TOLERANCE * high or now - began >= max_s:
                return window


async def _guard(sampler: TreeSampler, worker: WorkerProcess, limit: int) -> str:
    """Return why the calls must stop: the memory guard tripped or the worker died."""
    while True:
        await asyncio.sleep(0.5)
        latest = sampler.latest
        if latest is not None and latest.rss > limit:
            return f"worker tree RSS {latest.rss / MiB:.0f} MiB passed the --max-rss-gb guard"
        if worker.exited:
            return f"worker exited during the calls: {worker.last_error()}"


LOG_SIGNS = {
    "log_vad_slower_than_realtime": "VAD inference is slower than realtime",
    "log_event_loop_blocked": "event loop blocked",
    # livekit's own verdict: its load reached load_threshold, so it refused dispatches
    "log_worker_marked_full": "worker is at full capacity",
    # the worker accepted a job but the server's assignment came too late (a stalled loop)
    "log_assignment_timeouts": "AssignmentTimeoutError",
}


def log_counts(lines: list[str]) -> dict[str, int]:
    """How often the worker's log shows each sign of overload."""
    return {key: sum(sign in line for line in lines) for key, sign in LOG_SIGNS.items()}


def _summarize_calls(calls: dict[int, dict[str, Any]], count: int) -> dict[str, Any]:
    results = [
        calls.get(i) or {"served": False, "error": "never reported by the caller process"}
        for i in range(count)
    ]
    greetings = [r["greeting_s"] for r in results if r.get("greeting_s") is not None]
    replies = [s for r in results for s in r.get("reply_s", [])]
    return {
        "served": sum(bool(r["served"]) for r in results),
        "dropped": sum(not r["served"] for r in results),
        "greeted": len(greetings),
        "agent_present_at_release": sum(bool(r.get("agent_present_at_release")) for r in results),
        "greeting_median_s": statistics.median(greetings) if greetings else None,
        "greeting_p95_s": percentile(greetings, 0.95),
        "reply_median_s": statistics.median(replies) if replies else None,
        "reply_p95_s": percentile(replies, 0.95),
        "calls": results,
    }


def _cores(samples: list[Sample]) -> float | None:
    """Cores the worker tree used between the first and the last sample."""
    if len(samples) < 2 or samples[-1].at <= samples[0].at:
        return None
    return max(0.0, samples[-1].cpu_s - samples[0].cpu_s) / (samples[-1].at - samples[0].at)


def _summarize_memory(idle: list[Sample], busy: list[Sample], sessions: int) -> dict[str, Any]:
    idle_rss = statistics.median(s.rss for s in idle)
    idle_pss_values = [s.pss for s in idle if s.pss is not None]
    idle_pss = statistics.median(idle_pss_values) if idle_pss_values else None
    peak_rss = max(s.rss for s in busy)
    busy_pss = [s.pss for s in busy if s.pss is not None]
    peak_pss = max(busy_pss) if busy_pss else None
    span = busy[-1].at - busy[0].at
    return {
        "idle_rss_mib": _mib(idle_rss),
        "peak_rss_mib": _mib(peak_rss),
        "marginal_rss_mib": _mib((peak_rss - idle_rss) / sessions),
        "idle_pss_mib": _mib(idle_pss),
        "peak_pss_mib": _mib(peak_pss),
        "marginal_pss_mib": (
            _mib((peak_pss - idle_pss) / sessions)
            if peak_pss is not None and idle_pss is not None
            else None
        ),
        # the worker process alone: in coroutine mode, where the sessions live; short-lived
        # helpers (a TTS subprocess between fork and exec) cannot inflate it
        "idle_main_rss_mib": _mib(statistics.median(s.main_rss for s in idle)),
        "peak_main_rss_mib": _mib(max(s.main_rss for s in busy)),
        "processes_idle": idle[-1].processes,
        "processes_peak": max(s.processes for s in busy),
        # an average over the call phase; job processes that ended take their CPU time along
        "worker_cpu_cores": _cores(busy),
        "call_phase_s": span,
    }


async def measure_run(
    launch: WorkerLaunch,
    server: ServerAddress,
    speech_path: Path,
    config: RunConfig,
    workdir: Path,
) -> dict[str, Any]:
    label = f"{launch.implementation}-{launch.mode}-{config.sessions}"
    result: dict[str, Any] = {
        "implementation": launch.implementation,
        "mode": launch.mode,
        "sessions": config.sessions,
        "status": "ok",
        "worker_log": str(workdir / f"{label}.log"),
    }
    worker = WorkerProcess(launch, workdir / f"{label}.log")
    await worker.start()
    sampler = TreeSampler(worker.pid, config.sample_interval_s).start()
    driver: CallDriver | None = None
    try:
        try:
            result["worker_start_s"] = await worker.wait_registered(config.register_timeout_s)
        except WorkerStartFailed as exc:
            result.update(status="start-failed", error=str(exc))
            return result
        idle = await _settled_idle(sampler, config.settle_s, config.settle_s + 60)
        result["idle_processes"] = breakdown(worker.pid)
        spec = {
            "server": {
                "url": server.url,
                "api_key": server.api_key,
                "api_secret": server.api_secret,
            },
            "speech_path": str(speech_path),
            "turns": config.turns,
            "timeout_s": config.timeout_s,
            "dispatch_interval_s": config.dispatch_interval_s,
            "run_id": secrets.token_hex(3),
            "count": config.sessions,
        }
        driver = CallDriver(spec, workdir / f"{label}.callers.log")
        # other work on the host competes for the same cores: say how busy it already was
        result["host_load_1m_before_calls"] = os.getloadavg()[0]
        host_cpu_before = psutil.cpu_times()
        busy_from = time.monotonic()
        stall_mark = len(worker.seen("stall"))
        await driver.start()
        guard = asyncio.create_task(_guard(sampler, worker, config.max_rss_bytes))
        finished = asyncio.create_task(driver.finished.wait())
        await asyncio.wait({guard, finished}, return_when=asyncio.FIRST_COMPLETED)
        aborted = guard.done()
        if aborted:
            result.update(status="aborted", error=guard.result())
        held_from = time.monotonic()
        threads_before = thread_cpu(worker.pid)
        if not aborted and not driver.exited:
            await asyncio.sleep(config.hold_s)  # every session live at once, sampled
        busy_until = time.monotonic()
        held = thread_cores(threads_before, thread_cpu(worker.pid), busy_until - held_from)
        guard.cancel()
        finished.cancel()
        failure = await driver.hang_up(abort=aborted)
        if failure is not None and not aborted:
            result.update(status="callers-died", error=failure)
        result["host_cpu_percent"] = _host_cpu_percent(host_cpu_before)
        if driver.cpu_s is not None:
            result["callers_cpu_s"] = driver.cpu_s
        busy = sampler.between(busy_from, busy_until) or [s for s in [sampler.latest] if s]
        result.update(_summarize_memory(idle, busy, config.sessions))
        result["worker_cpu_cores_held"] = _cores(sampler.between(held_from, busy_until))
        # where the held CPU goes, per accepted call: ms per second of each thread name
        result["held_thread_ms_per_session"] = _per_session_ms(held, worker)
        stalls = [e["seconds"] for e in worker.seen("stall")[stall_mark:]]
        result.update(_summarize_health(worker))
        result.update(
            loop_stalls=len(stalls),
            loop_stall_max_s=max(stalls, default=0.0),
            loop_stall_total_s=sum(stalls),
        )
        result.update(log_counts(worker.lines))
    finally:
        if driver is not None:
            driver.kill()
            result.update(_summarize_calls(driver.calls, config.sessions))
            accepted = set(result.get("accepted_rooms", []))
            result["accepted"] = len(accepted)
            result["refused"] = len(result.get("refused_rooms", []))
            result["accepted_unserved"] = sum(
                1
                for call in result["calls"]
                if call.get("room") in accepted and call.get("greeting_s") is None
            )
        result["worker_exit_code"] = await worker.stop()
        sampler.stop()
    return result


def _summarize_health(worker: WorkerProcess) -> dict[str, Any]:
    """What the worker's own monitor saw during the calls (OpenRTC workers only), and which
    calls it accepted or refused at dispatch."""
    health = worker.seen("health")
    accepted = {e["room"] for e in worker.seen("session_started")}
    refused = {e["room"] for e in worker.seen("refused")}
    reasons: dict[str, int] = {}
    for event in worker.seen("refused"):
        reasons[event["rule"]] = reasons.get(event["rule"], 0) + 1
    busy = [e["loop_busy"] for e in health if e["active"] > 0]
    # steady state: snapshots with every accepted session live, the ramp's 3 s CPU window past
    peak = max((e["active"] for e in health), default=0)
    steady = [e for e in health if peak and e["active"] == peak][3:]
    return {
        "accepted_rooms": sorted(accepted),
        "refused_rooms": sorted(refused - accepted),
        "refused_by_rule": reasons,
        "monitor_loop_busy_max": max(busy, default=None),
        "monitor_loop_busy_per_session": (
            statistics.median(e["loop_busy"] / e["active"] for e in steady) if steady else None
        ),
        "monitor_lag_p99_steady_s": (
            statistics.median(e["loop_lag_p99_s"] for e in steady) if steady else None
        ),
        "monitor_lag_p99_max_s": max((e["loop_lag_p99_s"] for e in health), default=None),
        # seconds per second the loop's thread waited for a core: what the host's other work
        # (other threads, the callers, the server) took from it
        "monitor_loop_cpu_wait_steady": _median_of(steady, "loop_cpu_wait"),
        "monitor_loop_cpu_wait_max": max(
            (e["loop_cpu_wait"] for e in health if e.get("loop_cpu_wait") is not None),
            default=None,
        ),
        "monitor_lag_max_s": max((e["loop_lag_max_s"] for e in health), default=None),
    }


def _per_session_ms(cores: dict[str, float], worker: WorkerProcess) -> dict[str, float]:
    live = len({e["room"] for e in worker.seen("session_started")}) or 1
    return {name: round(1000 * used / live, 1) for name, used in cores.items() if used > 0.0005}


def _median_of(snapshots: list[dict[str, Any]], key: str) -> float | None:
    values = [e[key] for e in snapshots if e.get(key) is not None]
    return statistics.median(values) if values else None


def _host_cpu_percent(before: Any) -> float:
    after = psutil.cpu_times()
    busy = sum(after) - sum(before) - (after.idle - before.idle) - (after.iowait - before.iowait)
    total = sum(after) - sum(before)
    return 100.0 * busy / total if total > 0 else 0.0
