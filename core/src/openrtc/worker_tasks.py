"""Tasks that belong to the worker rather than to the job whose code happened to start them."""

from __future__ import annotations

import asyncio
import contextvars
from collections.abc import Coroutine
from typing import Any


def worker_task(coro: Coroutine[Any, Any, None], name: str) -> asyncio.Task[None]:
    """Start a task that belongs to the worker, not to whichever job is running now.

    Callers can run inside a job's context: a session's failure reaches the supervisor from
    its job, and a signal handler interrupts whatever task the loop was running. A task created
    there inherits that context, so the job task tracker counts it as the job's own and cancels
    it when the job ends: the drain would be cancelled by the very job whose end it awaits.
    """
    return asyncio.get_running_loop().create_task(coro, name=name, context=contextvars.Context())
