"""How a worker runs its jobs: the mechanisms an isolation mode chooses between.

These are plain descriptions; ``livekit_adapter`` carries them out and
``worker_server.build_worker_server`` hands them to it. An isolation mode picks one and sets
its knobs, so a mode is written against this public description, never against the adapter.
"""

from __future__ import annotations

import os

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


@attrs.frozen
class JobsInHosts:
    """Jobs run as asyncio tasks in ``hosts`` session-host processes (0: one per CPU core).

    Prewarm runs once, in the worker, before the hosts start; each host is forked from the
    worker afterwards and shares the loaded models copy-on-write. A job goes to the host with
    the fewest live jobs. A host that dies fails only its own jobs and is replaced.
    ``start_timeout`` bounds how long a new host may take to report itself ready.
    """

    hosts: int = attrs.field(default=0, validator=attrs.validators.ge(0))
    start_timeout: float = 60.0

    @property
    def host_count(self) -> int:
        """The number of hosts to run: ``hosts``, or one per CPU core when it is 0."""
        return self.hosts or os.cpu_count() or 1


JobRunner = JobsAsTasks | JobsInProcesses | JobsInHosts
"""Every way of running jobs the kernel's livekit seam knows."""
