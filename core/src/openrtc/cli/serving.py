"""Owns the worker loop for the command line: serve, first signal drains, second forces."""

from __future__ import annotations

import asyncio
import logging
import signal
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from openrtc.pool import AgentPool

logger = logging.getLogger("openrtc.worker")


async def serve_until_signalled(
    pool: AgentPool,
    *,
    url: str | None,
    api_key: str | None,
    api_secret: str | None,
    devmode: bool,
) -> None:
    loop = asyncio.get_running_loop()
    serving = asyncio.create_task(
        pool.serve(url=url, api_key=api_key, api_secret=api_secret, devmode=devmode)
    )
    received: list[str] = []
    background: set[asyncio.Task[None]] = set()

    def on_signal(name: str) -> None:
        received.append(name)
        if len(received) == 1:
            logger.info("%s received: draining; send it again to stop now", name)
            task = loop.create_task(pool.drain(f"{name} received"))
            background.add(task)
            task.add_done_callback(background.discard)
        else:
            logger.warning("%s received again: stopping now, live sessions are cancelled", name)
            serving.cancel()

    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, on_signal, sig.name)
    try:
        await serving
    finally:
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.remove_signal_handler(sig)


def run_worker(
    pool: AgentPool,
    *,
    url: str | None,
    api_key: str | None,
    api_secret: str | None,
    devmode: bool,
) -> int:
    """Run until drained or stopped; the exit code is 0 after a clean drain."""
    from openrtc.pool_runtime import ConfigurationError

    try:
        asyncio.run(
            serve_until_signalled(
                pool, url=url, api_key=api_key, api_secret=api_secret, devmode=devmode
            )
        )
    except ConfigurationError as exc:
        logger.error("%s", exc)
        return 2
    except asyncio.CancelledError:
        return 1
    return 0
