"""``prewarm.vad_inference``: the local VAD scored in the session's task gives the same result
as livekit's thread per session, without the thread."""

from __future__ import annotations

import asyncio
import concurrent.futures
import threading
from typing import Any

import numpy as np
import pytest
from openrtc_prewarm_livekit.loop_executor import SHARED, LoopExecutor

FRAME = 160  # 10 ms at 16 kHz, what a room track delivers


async def every_window(vad: Any, pcm: np.ndarray) -> tuple[list[tuple[Any, ...]], set[str]]:
    """Each window's verdict (event type, sample, probability, speaking) and the names of the
    threads alive while the stream ran."""
    from livekit import rtc

    stream = vad.stream()
    padded = np.concatenate([pcm, np.zeros(16000, dtype=np.int16)])
    for start in range(0, len(padded) - FRAME + 1, FRAME):
        chunk = padded[start : start + FRAME]
        stream.push_frame(rtc.AudioFrame(chunk.tobytes(), 16000, 1, FRAME))
    stream.end_input()
    verdicts, threads = [], set()
    async for event in stream:
        verdicts.append(
            (event.type, event.samples_index, round(event.probability, 6), event.speaking)
        )
        threads.update(thread.name for thread in threading.enumerate())
    await stream.aclose()
    return verdicts, threads


@pytest.mark.asyncio
async def test_loop_and_thread_score_every_window_alike(
    prewarmed: Any, speech_pcm: np.ndarray
) -> None:
    from livekit.agents.vad import VADEventType

    _, on_loop = prewarmed(**{"prewarm.vad_inference": "loop"})
    _, on_thread = prewarmed(**{"prewarm.vad_inference": "thread"})
    loop_verdicts, loop_threads = await every_window(on_loop()["vad"], speech_pcm)
    thread_verdicts, thread_threads = await every_window(on_thread()["vad"], speech_pcm)

    windows = [v for v in loop_verdicts if v[0] == VADEventType.INFERENCE_DONE]
    assert len(windows) > 100  # 4.4 s of audio in 32 ms windows
    assert loop_verdicts == thread_verdicts
    starts = [v for v in loop_verdicts if v[0] == VADEventType.START_OF_SPEECH]
    assert len(starts) == 1
    assert not any(name.startswith("inference.vad") for name in loop_threads)
    assert any(name.startswith("inference.vad") for name in thread_threads)


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
