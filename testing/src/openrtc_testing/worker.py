"""Run a pool's worker inside a test, against a server such as the ``livekit_server`` fixture."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from openrtc.pool import AgentPool
    from openrtc_testing.dispatch import ServerAddress


@contextlib.asynccontextmanager
async def running_worker(
    pool: AgentPool, server: ServerAddress, *, register_timeout: float = 30.0
) -> AsyncIterator[asyncio.Task[None]]:
    """Serve ``pool`` on ``server`` until the block ends, then drain it and wait for the exit.

    Yields the serving task; the worker is registered with LiveKit when the block starts.
    """
    serving = asyncio.create_task(
        pool.serve(url=server.url, api_key=server.api_key, api_secret=server.api_secret)
    )
    registered = asyncio.create_task(pool.wait_registered())
    done, _ = await asyncio.wait(
        {serving, registered}, timeout=register_timeout, return_when=asyncio.FIRST_COMPLETED
    )
    if registered not in done:
        registered.cancel()
        if serving in done:
            serving.result()  # the worker failed to start: raise its error here
        serving.cancel()
        raise TimeoutError(f"worker did not register within {register_timeout}s")
    try:
        yield serving
    finally:
        if not serving.done():
            await pool.drain("test finished")
            await asyncio.wait_for(serving, timeout=pool.drain_timeout + 30)
