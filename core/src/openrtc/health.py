"""The worker watching itself: how late its event loop runs, how busy the loop's thread and
the host are, and how long the loop's thread waits for a core.

A ``LoopMonitor`` is a task on the worker's loop that asks to sleep ``TICK_S`` and notes how
late it woke. Every session of a coroutine worker shares that loop, so its lag is what every
caller waits on top of the models; in hybrid isolation each session host runs one on its own
loop and reports to the worker. The monitor only measures; what counts as overloaded is an
admission rule's and a load contribution's decision (``openrtc-overload-guard``), which read
the measurement from ``WorkerState.health``. It costs 20 short wake-ups a second.
"""

from __future__ import annotations

import asyncio
import contextlib
import math
import time
from collections import deque
from collections.abc import Callable, Iterable

import attrs

from openrtc.events import WorkerHealth

TICK_S = 0.05
WINDOW_S = 10.0
"""The reported lag percentiles are over this many seconds: long enough to show an operator a
trend between two scrapes."""
RECENT_WINDOW_S = 3.0
"""``loop_lag_recent_p95_s`` is over this many seconds, about one of livekit's status reports.
With it an admission rule can tell a stall that is over from one still going on, so a worker
whose loop stalled once (a burst of session starts, the first call's imports) takes calls
again a few seconds after it recovered, not ten. With one worker LiveKit drops every call
dispatched while the worker reports itself full."""
REFRESH_TICKS = 5
"""Figures are recomputed every this many ticks (4 times a second at the default tick)."""
BUSY_WINDOW_S = 3.0
"""CPU figures are over this many seconds: reacts to a burst of new calls within a few load
reports (livekit sends one every few seconds)."""


def _host_cpu_times() -> tuple[float, float] | None:
    """(busy, total) jiffies of all cores since boot, from /proc/stat."""
    try:
        with open("/proc/stat", "rb") as stat:
            fields = [float(v) for v in stat.readline().split()[1:]]
    except (OSError, ValueError):
        return None
    if len(fields) < 5:
        return None
    idle = fields[3] + fields[4]  # idle + iowait
    total = sum(fields[:8])  # guest time is already inside user and nice
    return total - idle, total


def _thread_cpu_wait() -> float | None:
    """Seconds the calling thread has spent ready to run but waiting for a core, from
    /proc/thread-self/schedstat (its second field, in ns); ``None`` where the kernel does not
    report it."""
    try:
        with open("/proc/thread-self/schedstat", "rb") as stat:
            return int(stat.read().split()[1]) / 1e9
    except (OSError, ValueError, IndexError):
        return None


def percentile(ordered: list[float], fraction: float) -> float:
    """Nearest-rank percentile of an already sorted list: a value that was really observed."""
    if not ordered:
        return 0.0
    rank = max(math.ceil(fraction * len(ordered)), 1)
    return ordered[rank - 1]


@attrs.frozen
class _CpuSample:
    at: float
    thread_cpu: float
    """CPU seconds the loop's thread has used."""
    host: tuple[float, float] | None
    """(busy, total) jiffies of the host's cores."""
    thread_wait: float | None
    """Seconds the loop's thread has waited for a core."""


class LoopMonitor:
    """Measures the running loop; ``health()`` reads the latest figures from any code on it."""

    def __init__(
        self,
        *,
        tick_s: float = TICK_S,
        window_s: float = WINDOW_S,
        recent_window_s: float = RECENT_WINDOW_S,
        clock: Callable[[], float] = time.monotonic,
        thread_clock: Callable[[], float] = time.thread_time,
        host_times: Callable[[], tuple[float, float] | None] = _host_cpu_times,
        thread_wait: Callable[[], float | None] = _thread_cpu_wait,
    ) -> None:
        self.tick_s = tick_s
        self.window_s = window_s
        self.recent_window_s = min(recent_window_s, window_s)
        self._clock = clock
        self._thread_clock = thread_clock
        self._host_times = host_times
        self._thread_wait = thread_wait
        self._lags: deque[tuple[float, float]] = deque()
        self._cpu: deque[_CpuSample] = deque()
        self._stall_max = 0.0
        self._task: asyncio.Task[None] | None = None
        self._latest = self._measure()

    def health(self) -> WorkerHealth:
        """The figures as of the last refresh (a few times a second). Safe from any thread:
        livekit asks for the load from an executor thread."""
        return self._latest

    def start(self) -> None:
        """Start measuring on the running loop (call it from a coroutine on that loop)."""
        if self._task is None:
            self._sample_cpu(self._clock())
            self._task = asyncio.get_running_loop().create_task(
                self._run(), name="openrtc-loop-monitor"
            )

    async def stop(self) -> None:
        task, self._task = self._task, None
        if task is not None:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task

    async def _run(self) -> None:
        ticks = 0
        while True:
            asked = self._clock()
            await asyncio.sleep(self.tick_s)
            now = self._clock()
            self.record_lag(now, max(now - asked - self.tick_s, 0.0))
            ticks += 1
            if ticks % REFRESH_TICKS == 0:
                self._sample_cpu(now)
                self.refresh()

    def refresh(self) -> None:
        """Recompute the figures ``health()`` returns (the monitor does it on its own)."""
        self._latest = self._measure()

    def record_lag(self, at: float, lag: float) -> None:
        """One wake-up ``lag`` seconds late at ``at``.

        A late wake-up stands for every tick that could not happen while the loop was stuck
        (lag, lag - tick, ... down to one tick): without them one 2 s stall among 200 prompt
        ticks would not move even the 99th percentile.
        """
        self._stall_max = max(self._stall_max, lag)
        self._lags.append((at, lag))
        missed = lag - self.tick_s
        while missed > 0:
            self._lags.append((at, missed))
            missed -= self.tick_s
        horizon = at - self.window_s
        while self._lags and self._lags[0][0] < horizon:
            self._lags.popleft()

    def _sample_cpu(self, now: float) -> None:
        # on the loop's thread: the thread clock and the wait are that thread's
        self._cpu.append(
            _CpuSample(now, self._thread_clock(), self._host_times(), self._thread_wait())
        )
        # keep one sample older than the window, so the figure always spans all of it
        while len(self._cpu) > 2 and self._cpu[1].at <= now - BUSY_WINDOW_S:
            self._cpu.popleft()

    def _measure(self) -> WorkerHealth:
        lags = self._padded((lag for _, lag in self._lags), self.window_s)
        recent_from = self._lags[-1][0] - self.recent_window_s if self._lags else 0.0
        recent = self._padded(
            (lag for at, lag in self._lags if at > recent_from), self.recent_window_s
        )
        return WorkerHealth(
            window_s=self.window_s,
            loop_lag_p50_s=round(percentile(lags, 0.50), 4),
            loop_lag_p95_s=round(percentile(lags, 0.95), 4),
            loop_lag_p99_s=round(percentile(lags, 0.99), 4),
            loop_lag_max_s=round(lags[-1] if lags else 0.0, 4),
            loop_stall_max_s=round(self._stall_max, 4),
            loop_busy=round(self._loop_busy(), 4),
            host_cpu=self._host_cpu(),
            loop_cpu_wait=self._loop_cpu_wait(),
            recent_window_s=self.recent_window_s,
            loop_lag_recent_p95_s=round(percentile(recent, 0.95), 4),
        )

    def _padded(self, lags: Iterable[float], window_s: float) -> list[float]:
        """``lags`` sorted, with the ticks of ``window_s`` the monitor has not seen as prompt.

        Until the monitor has run a whole window, a percentile over a few dozen samples would
        let one stall of a fresh worker (its first calls connecting) read as a loop falling
        behind, and refuse the calls right behind them; no call waited on the loop before
        the monitor started."""
        ordered = sorted(lags)
        unseen = round(window_s / self.tick_s) - len(ordered)
        return [0.0] * unseen + ordered if unseen > 0 else ordered

    def _loop_busy(self) -> float:
        if len(self._cpu) < 2:
            return 0.0
        first, last = self._cpu[0], self._cpu[-1]
        span = last.at - first.at
        return (last.thread_cpu - first.thread_cpu) / span if span > 0 else 0.0

    def _host_cpu(self) -> float | None:
        if len(self._cpu) < 2:
            return None
        first, last = self._cpu[0].host, self._cpu[-1].host
        if first is None or last is None or last[1] <= first[1]:
            return None
        return round((last[0] - first[0]) / (last[1] - first[1]), 4)

    def _loop_cpu_wait(self) -> float | None:
        if len(self._cpu) < 2:
            return None
        first, last = self._cpu[0], self._cpu[-1]
        if first.thread_wait is None or last.thread_wait is None or last.at <= first.at:
            return None
        return round((last.thread_wait - first.thread_wait) / (last.at - first.at), 4)


def with_session_host(worker: WorkerHealth, host: WorkerHealth, host_sessions: int) -> WorkerHealth:
    """The figures that decide whether a worker whose sessions run in session hosts takes one
    more call: the worse of its own loop and the loop of the host that call would go to.

    Lag and the wait for a core are the larger of the two: a late host loop delays its
    callers, a late worker loop delays every host's inference and every dispatch.
    ``loop_busy`` is the busier thread's, with the sessions it runs (``loop_sessions``), so a
    rule pricing one more session divides by the sessions on that loop, not by every session
    of the worker.
    """
    if worker.loop_busy > host.loop_busy:
        busy, sessions = worker.loop_busy, worker.loop_sessions
    else:
        busy, sessions = host.loop_busy, host_sessions
    return attrs.evolve(
        worker,
        loop_lag_p50_s=max(worker.loop_lag_p50_s, host.loop_lag_p50_s),
        loop_lag_p95_s=max(worker.loop_lag_p95_s, host.loop_lag_p95_s),
        loop_lag_p99_s=max(worker.loop_lag_p99_s, host.loop_lag_p99_s),
        loop_lag_max_s=max(worker.loop_lag_max_s, host.loop_lag_max_s),
        loop_lag_recent_p95_s=max(worker.loop_lag_recent_p95_s, host.loop_lag_recent_p95_s),
        loop_cpu_wait=_worse(worker.loop_cpu_wait, host.loop_cpu_wait),
        loop_stall_max_s=max(worker.loop_stall_max_s, host.loop_stall_max_s),
        loop_busy=busy,
        loop_sessions=sessions,
    )


def _worse(first: float | None, second: float | None) -> float | None:
    if first is None or second is None:
        return first if second is None else second
    return max(first, second)


def serving_health(
    monitor: LoopMonitor, session_host: Callable[[], tuple[WorkerHealth, int] | None] | None
) -> Callable[[], WorkerHealth]:
    """What ``WorkerState.health`` reads while the worker serves: its own loop's figures, with
    those of the session host the next call would go to where sessions run in hosts
    (``session_host`` returns that host's latest figures and live sessions, ``None`` until
    one reported)."""
    if session_host is None:
        return monitor.health

    def read() -> WorkerHealth:
        worker = monitor.health()
        host = session_host()
        return worker if host is None else with_session_host(worker, *host)

    return read
