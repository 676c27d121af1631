"""Owns the worker loop for the command line: serve, first signal drains, second forces."""

from __future__ import annotations

import asyncio
import contextvars
import logging
import signal
from collections.abc import Callable
from types import FrameType
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from openrtc.pool import AgentPool
    from openrtc.room_join import RoomJoin

logger = logging.getLogger("openrtc.worker")

STOP_SIGNALS = (signal.SIGINT, signal.SIGTERM)


def bridge_signals(
    loop: asyncio.AbstractEventLoop, on_signal: Callable[[str], None]
) -> Callable[[], None]:
    """Deliver SIGINT/SIGTERM to ``on_signal`` on ``loop``; returns a function that restores
    the previous handlers.

    ``loop.add_signal_handler`` learns of a signal through a byte written to the loop's
    self-pipe, and that pipe is also written once per ``call_soon_threadsafe``. livekit's FFI
    thread makes that call for every audio frame, so with ten live sessions on a busy loop the
    pipe is full, the signal's byte is dropped, and the worker never hears SIGTERM. A Python
    handler runs in the main thread from the interpreter's own pending-signal flag instead, so
    it cannot be lost; it only hands the work to the loop.
    """

    def handler(signum: int, frame: FrameType | None) -> None:
        # a fresh context: the handler interrupts whatever task was running, possibly a job's,
        # and the work it hands off belongs to the worker
        loop.call_soon_threadsafe(
            on_signal, signal.Signals(signum).name, context=contextvars.Context()
        )

    previous = {sig: signal.signal(sig, handler) for sig in STOP_SIGNALS}

    def restore() -> None:
        for sig, old in previous.items():
            signal.signal(sig, old)

    return restore


async def serve_until_signalled(
    pool: AgentPool,
    *,
    url: str | None,
    api_key: str | None,
    api_secret: str | None,
    devmode: bool,
    join: RoomJoin | None = None,
) -> None:
    from openrtc.worker_tasks import worker_task

    loop = asyncio.get_running_loop()
    serving = asyncio.create_task(
        pool.serve(url=url, api_key=api_key, api_secret=api_secret, devmode=devmode, join=join)
    )
    received: list[str] = []
    background: set[asyncio.Task[None]] = set()

    def on_signal(name: str) -> None:
        received.append(name)
        if len(received) == 1:
            logger.info("%s received: draining; send it again to stop now", name)
            task = worker_task(pool.drain(f"{name} received"), "openrtc-drain")
            background.add(task)
            task.add_done_callback(background.discard)
        else:
            logger.warning("%s received again: stopping now, live sessions are cancelled", name)
            serving.cancel()

    restore = bridge_signals(loop, on_signal)
    try:
        await serving
    finally:
        restore()


def run_worker(
    pool: AgentPool,
    *,
    url: str | None,
    api_key: str | None,
    api_secret: str | None,
    devmode: bool,
    join: RoomJoin | None = None,
) -> int:
    """Run until drained or stopped; the exit code is 0 after a clean drain."""
    from openrtc.config import ConfigurationError
    from openrtc.registration import LiveKitConnectionError
    from openrtc.room_join import RoomJoinError
    from openrtc.worker_control import TakeoverError

    try:
        asyncio.run(
            serve_until_signalled(
                pool, url=url, api_key=api_key, api_secret=api_secret, devmode=devmode, join=join
            )
        )
    except ConfigurationError as exc:
        logger.error("%s", exc)
        return 2
    except (LiveKitConnectionError, TakeoverError) as exc:
        logger.error("%s", exc)
        return 1
    except RoomJoinError:
        return 1  # already logged where it happened
    except asyncio.CancelledError:
        return 1
    return 0
