"""SIGTERM reaches a worker whose event loop's self-pipe is full.

A coroutine worker with many live sessions receives one ``call_soon_threadsafe`` per audio frame
from livekit's FFI thread; each writes a byte to the loop's self-pipe, which fills while the loop
is busy. ``loop.add_signal_handler`` depends on that pipe, and lost SIGTERM this way at ten live
calls. Here a thread fills the pipe the same way while the loop is blocked, then the process
signals itself.
"""

from __future__ import annotations

import asyncio
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
