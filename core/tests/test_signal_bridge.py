"""SIGTERM reaches a worker whose event loop's self-pipe is full.

A coroutine worker with many live sessions receives one ``call_soon_threadsafe`` per audio frame
from livekit's FFI thread; each writes a byte to the loop's self-pipe, which fills while the loop
is busy. ``loop.add_signal_handler`` depends on that pipe, and lost SIGTERM this way at ten live
calls. Here a thread fills the pipe the same way while the loop is blocked, then the process
signals itself.
"""

from __future__ import annotations

import asyncio
import contextvars
import os
import signal
import threading
import time

from openrtc.cli.serving import bridge_signals


def flood(loop: asyncio.AbstractEventLoop, stop: threading.Event) -> None:
    while not stop.is_set():
        loop.call_soon_threadsafe(lambda: None)


async def test_sigterm_is_delivered_while_the_self_pipe_is_full() -> None:
    loop = asyncio.get_running_loop()
    received: list[str] = []
    restore = bridge_signals(loop, received.append)
    stop = threading.Event()
    flooder = threading.Thread(target=flood, args=(loop, stop), daemon=True)
    try:
        flooder.start()
        time.sleep(0.5)  # noqa: ASYNC251 - blocks the loop on purpose so the pipe stays full
        os.kill(os.getpid(), signal.SIGTERM)
        for _ in range(200):
            if received:
                break
            await asyncio.sleep(0.01)
    finally:
        stop.set()
        flooder.join()
        restore()
    assert received == ["SIGTERM"]


async def test_restore_puts_back_the_previous_handlers() -> None:
    before = signal.getsignal(signal.SIGTERM)
    restore = bridge_signals(asyncio.get_running_loop(), lambda name: None)
    assert signal.getsignal(signal.SIGTERM) is not before
    restore()
    assert signal.getsignal(signal.SIGTERM) is before


_current_job: contextvars.ContextVar[str | None] = contextvars.ContextVar("job", default=None)


async def test_the_handed_off_work_does_not_run_in_the_interrupted_tasks_context() -> None:
    # the signal arrives while a job's task runs; what it starts (the drain) is the worker's,
    # and must not be taken for that job's own task (the job tracker would cancel it)
    loop = asyncio.get_running_loop()
    seen: list[str | None] = []
    restore = bridge_signals(loop, lambda name: seen.append(_current_job.get()))

    async def job() -> None:
        _current_job.set("AJ_interrupted")
        os.kill(os.getpid(), signal.SIGTERM)  # the handler runs here, inside this task
        await asyncio.sleep(0.05)

    try:
        await loop.create_task(job())
        for _ in range(100):
            if seen:
                break
            await asyncio.sleep(0.01)
    finally:
        restore()
    assert seen == [None]
