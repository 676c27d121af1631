"""How a worker runs its jobs: the mechanisms an isolation mode chooses between.

These are plain descriptions; ``livekit_adapter`` carries them out and
``worker_server.build_worker_server`` hands them to it. An isolation mode picks one and sets
its knobs, so a mode is written against this public description, never against the adapter.
"""

from __future__ import annotations

import attrs


@attrs.frozen
class JobsAsTasks:
    """Each job is an asyncio task on the worker's own event loop, in the worker's process.

    Prewarm runs once per worker and every session shares what it loaded.
    """


@attrs.frozen
class JobsInProcesses:
    """Each job runs in an OS process of its own, from livekit's process pool.

    Each process runs prewarm itself. ``warm_processes`` are kept started and prewarmed for
    the next jobs; ``memory_limit_mb`` (0: none) is the size past which livekit kills a job;
    ``initialize_timeout`` is how long a new process may take to start and prewarm;
    ``preload_modules`` are imported once in the process that forks the job processes.
    """

    warm_processes: int = 1
    memory_limit_mb: float = 0.0
    initialize_timeout: float = 10.0
    preload_modules: tuple[str, ...] = ()


JobRunner = JobsAsTasks | JobsInProcesses
"""Every way of running jobs the kernel's livekit seam knows."""
