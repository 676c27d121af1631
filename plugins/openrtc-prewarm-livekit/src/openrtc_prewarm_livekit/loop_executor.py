"""An executor that scores a VAD window where it is asked, for ``prewarm.vad_inference=loop``.

livekit's local VAD sends each 32 ms window to a one-thread executor per session
(``loop.run_in_executor``). The native inference takes about 16 us, but the hand-off costs the
event loop far more: a submit, a thread wake-up, the result posted back through the loop's
self-pipe, and a GIL hand-over each way, 31 times a second per session: with ten streams
on one loop a handed-off window cost the loop thread 125 us and the process 219 us, one
scored in place 63 us (``tests/benchmarks/vad_handoff.py``).

``submit`` called on a running event loop's thread returns an asyncio future that already
holds the result: ``run_in_executor`` passes an asyncio future through unwrapped
(``asyncio.wrap_future``), and awaiting a finished future does not yield, so the window is
scored in the session's task without a trip through the loop. Called from anywhere else, it
runs the call there and returns a finished ``concurrent.futures.Future``.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
from collections.abc import Callable
from typing import Any, TypeVar, cast

T = TypeVar("T")


class LoopExecutor(concurrent.futures.Executor):
    """Runs each call at once in the caller's thread. Stateless: one serves every session."""

    def submit(
        self, fn: Callable[..., T], /, *args: Any, **kwargs: Any
    ) -> concurrent.futures.Future[T]:
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:
            loop = None
        done: Any = loop.create_future() if loop is not None else concurrent.futures.Future()
        try:
            done.set_result(fn(*args, **kwargs))
        except Exception as exc:  # the awaiting task gets it, as it would from a thread
            done.set_exception(exc)
        return cast("concurrent.futures.Future[T]", done)


SHARED = LoopExecutor()
