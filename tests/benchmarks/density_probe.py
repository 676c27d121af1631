"""What a density worker tells the benchmark: when it registered, and when its loop stalled.

Lines go to stderr as ``DENSITY {json}``; the benchmark reads the worker's stderr anyway.
The stall probe sleeps a short tick on the worker's event loop and reports every wake-up
that came much later than asked: sessions of a coroutine worker share that loop, so a stall
there is a stall of every call. Imports nothing from OpenRTC, so both implementations use it.
"""

from __future__ import annotations

import asyncio
import json
import sys
import time
from typing import Any

PREFIX = "DENSITY "
TICK_S = 0.1
STALL_S = 0.5

_tasks: set[asyncio.Task[None]] = set()


def report(event: str, **fields: Any) -> None:
    line = json.dumps({"event": event, "at": time.time(), **fields})
    print(PREFIX + line, file=sys.stderr, flush=True)


async def _watch_loop() -> None:
    while True:
        asked = time.monotonic()
        await asyncio.sleep(TICK_S)
        late = time.monotonic() - asked - TICK_S
        if late >= STALL_S:
            report("stall", seconds=round(late, 3))


def on_registered() -> None:
    """Call on the worker's loop once it is registered with LiveKit."""
    report("registered")
    if not _tasks:
        task = asyncio.get_running_loop().create_task(_watch_loop(), name="density-stall-probe")
        _tasks.add(task)
