"""``prewarm.vad_inference``: the loop executor and the default that uses it (the same verdicts
on real speech either way: test_real_models.py)."""

from __future__ import annotations

import asyncio
import concurrent.futures
from typing import Any

import pytest
from openrtc_prewarm_livekit.loop_executor import SHARED, LoopExecutor


@pytest.mark.asyncio
async def test_loop_inference_is_the_default(prewarmed: Any) -> None:
    _, defaults = prewarmed()
    stream = defaults()["vad"].stream()
    try:
        assert stream._executor is SHARED  # the one private name read here, to say which
    finally:
        await stream.aclose()


@pytest.mark.asyncio
async def test_on_a_loop_submit_returns_a_finished_asyncio_future() -> None:
    loop = asyncio.get_running_loop()
    scored = loop.run_in_executor(LoopExecutor(), lambda x: x * 2, 21)
    assert isinstance(scored, asyncio.Future) and scored.done()
    assert await scored == 42

    def broken() -> None:
        raise ValueError("bad window")

    with pytest.raises(ValueError, match="bad window"):
        await loop.run_in_executor(LoopExecutor(), broken)


def test_off_a_loop_submit_returns_a_finished_concurrent_future() -> None:
    future = LoopExecutor().submit(pow, 2, 10)
    assert isinstance(future, concurrent.futures.Future)
    assert future.result(timeout=0) == 1024
