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
"""

from __future__ import annotations

import sys
from collections.abc import Callable
from typing import Any

from livekit.agents.ipc.proc_pool import ProcPool

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


def run_job_process(target: Callable[..., object], *args: object) -> None:
    """The job process's target: livekit's own main, then the exit code of the job."""
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
        return self._inner.Process(target=run_job_process, args=(target, *args), **kwargs)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._inner, name)


def adopt_process_pool(pool: ProcPool, *, warm_processes: int | None) -> ProcPool:
    """Prepare the ProcPool AgentServer.run() built, before it starts."""
    pool._mp_ctx = _ExitCodeContext(pool._mp_ctx)  # type: ignore[assignment]
    if warm_processes is not None:
        # the pool keeps this many prewarmed processes; the server's own num_idle_processes
        # stays whatever was passed, for its load estimate of accepted jobs
        pool._default_num_idle_processes = warm_processes
        pool.set_target_idle_processes(warm_processes)
    return pool
