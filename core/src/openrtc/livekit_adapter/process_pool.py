"""Process isolation on livekit's own ProcPool, with two adjustments the worker needs.

A failed job must reach the worker. livekit's job process shuts an entrypoint that raised down
cleanly and exits 0, and its executor turns exit code 0 into SUCCESS, so the worker cannot
tell. The job process is the only place that knows, and its exit code is the one thing livekit
reads back: `report_job_failure()` marks the process, and the process target that wraps
livekit's own exits with `JOB_FAILED_EXIT_CODE` once livekit's shutdown sequence has run. The
executor then reports FAILED, to `on_job_ended` and to the server alike. Nothing changes for
jobs that never call it, which is what keeps livekit's own lifecycle unchanged.

AgentServer sizes two different things from one `num_idle_processes`: the processes the pool
keeps warm, and the load it assumes for a job it accepted but has not launched yet
(`load_threshold / num_idle_processes`). A capacity-sized value keeps simultaneous dispatches
from being refused, but would prewarm that many processes; `adopt_process_pool` gives the pool
its own, smaller, warm count after AgentServer built it.

A job process runs the agent code the worker had when the process started. After hot reload
changed that code, `retire_stale_processes` closes the warm processes started before (and
any that finish starting later); the pool starts fresh ones, which run the new code.
"""

from __future__ import annotations

import asyncio
import logging
import os
import sys
from collections.abc import Callable
from typing import Any

from livekit.agents.ipc.proc_pool import ProcPool

from openrtc.orphan_exit import end_when_worker_gone

logger = logging.getLogger("openrtc.livekit_adapter")

JOB_FAILED_EXIT_CODE = 3
"""Exit code of a job process whose job reported a failure (not a signal, not Python's 1)."""

_job_failed = False


def report_job_failure() -> None:
    """Mark this job process's job as failed. Call it in the job process, where the entrypoint
    runs; each livekit job process runs exactly one job, so the mark never outlives it."""
    global _job_failed
    _job_failed = True


def job_failure_reported() -> bool:
    return _job_failed


def run_job_process(worker_pid: int, target: Callable[..., object], *args: object) -> None:
    """The job process's target: livekit's own main, then the exit code of the job. The
    process ends itself if it outlives the worker that started it (``openrtc.orphan_exit``)."""
    end_when_worker_gone(worker_pid)
    target(*args)
    if _job_failed:
        # SystemExit is how multiprocessing's bootstrap takes an exit code from a target
        sys.exit(JOB_FAILED_EXIT_CODE)


class _ExitCodeContext:
    """A multiprocessing context whose processes run their target through `run_job_process`.

    The target must stay a module-level function: the forkserver pickles it by reference.
    """

    def __init__(self, inner: Any) -> None:
        self._inner = inner

    def Process(  # the multiprocessing context's own method name
        self, *, target: Callable[..., object], args: tuple[object, ...] = (), **kwargs: Any
    ) -> Any:
        # created in the worker: its pid is the one the job process must not outlive
        job_args = (os.getpid(), target, *args)
        return self._inner.Process(target=run_job_process, args=job_args, **kwargs)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._inner, name)


class _CodeGenerations:
    """Which agent code each of a pool's processes started with (a counter per reload)."""

    def __init__(self, pool: ProcPool) -> None:
        self.pool = pool
        self.current = 0
        self.started_with: dict[int, int] = {}  # id(executor) -> generation
        self.closing: set[asyncio.Task[None]] = set()
        pool.on("process_created", self._created)
        pool.on("process_ready", self._ready)
        pool.on("process_closed", lambda proc: self.started_with.pop(id(proc), None))

    def _created(self, proc: Any) -> None:
        # the process is created with the blueprint of the code in force now
        self.started_with[id(proc)] = self.current

    def _ready(self, proc: Any) -> None:
        if self.started_with.get(id(proc), self.current) < self.current:
            self._retire(proc)  # it began starting before the reload

    def retire_stale(self) -> int:
        self.current += 1
        queue = self.pool._warmed_proc_queue
        idle = [queue.get_nowait() for _ in range(queue.qsize())]
        for proc in idle:
            queue.put_nowait(proc)
        stale = [p for p in idle if self.started_with.get(id(p), -1) < self.current]
        for proc in stale:
            self._retire(proc)
        return len(stale)

    def _retire(self, proc: Any) -> None:
        # out of the queue first, so no job is handed to it; the pool's main task sees the
        # warm count short and starts a replacement
        self.pool._remove_from_warmed_queue(proc)
        task = asyncio.get_running_loop().create_task(proc.aclose())
        self.closing.add(task)
        task.add_done_callback(self.closing.discard)


def retire_stale_processes(pool: ProcPool) -> int:
    """Replace the warm processes that run agent code older than the worker's; returns how
    many were retired. Processes running a job keep it to its end."""
    generations: _CodeGenerations = pool._openrtc_generations  # type: ignore[attr-defined]
    retired = generations.retire_stale()
    logger.debug("retired %d warm job process(es) started with the old agent code", retired)
    return retired


def adopt_process_pool(pool: ProcPool, *, warm_processes: int | None) -> ProcPool:
    """Prepare the ProcPool AgentServer.run() built, before it starts."""
    pool._openrtc_generations = _CodeGenerations(pool)  # type: ignore[attr-defined]
    pool._mp_ctx = _ExitCodeContext(pool._mp_ctx)  # type: ignore[assignment]
    if warm_processes is not None:
        # the pool keeps this many prewarmed processes; the server's own num_idle_processes
        # stays whatever was passed, for its load estimate of accepted jobs
        pool._default_num_idle_processes = warm_processes
        pool.set_target_idle_processes(warm_processes)
    return pool
