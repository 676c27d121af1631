"""Prewarm on a real JobProcess loads real models offline, and they do their job on real speech."""

from __future__ import annotations

import asyncio
import threading
from typing import Any

import numpy as np
import pytest
from openrtc_prewarm_livekit import USERDATA_KEY
from openrtc_prewarm_livekit.loading import SharedModels

from openrtc.session import deep_merge

FRAME = 160  # 10 ms at 16 kHz, what a room track delivers


def fed_stream(vad: Any, pcm: np.ndarray) -> Any:
    """A stream of ``vad`` given ``pcm`` and a second of silence in 10 ms frames, as a room
    track delivers them, its input ended."""
    from livekit import rtc

    stream = vad.stream()
    padded = np.concatenate([pcm, np.zeros(16000, dtype=np.int16)])
    for start in range(0, len(padded) - FRAME + 1, FRAME):
        chunk = padded[start : start + FRAME]
        stream.push_frame(rtc.AudioFrame(chunk.tobytes(), 16000, 1, FRAME))
    stream.end_input()
    return stream


async def vad_events(vad: Any, pcm: np.ndarray) -> list[Any]:
    from livekit.agents.vad import VADEventType

    stream = fed_stream(vad, pcm)
    events = [
        event
        async for event in stream
        if event.type in (VADEventType.START_OF_SPEECH, VADEventType.END_OF_SPEECH)
    ]
    await stream.aclose()
    return events


async def every_window(vad: Any, pcm: np.ndarray) -> tuple[list[tuple[Any, ...]], set[str]]:
    """Each window's verdict (event type, sample, probability, speaking) and the names of the
    threads alive while the stream ran."""
    stream = fed_stream(vad, pcm)
    verdicts, threads = [], set()
    async for event in stream:
        verdicts.append(
            (event.type, event.samples_index, round(event.probability, 6), event.speaking)
        )
        threads.update(thread.name for thread in threading.enumerate())
    await stream.aclose()
    return verdicts, threads


@pytest.mark.parametrize("vad_choice", ["local", "silero"])
@pytest.mark.asyncio
async def test_prewarmed_vad_finds_the_spoken_sentence(
    vad_choice: str, prewarmed: Any, speech_pcm: np.ndarray
) -> None:
    from livekit.agents.vad import VADEventType

    _, defaults = prewarmed(**{"prewarm.vad": vad_choice})
    vad = defaults()["vad"]
    events = await vad_events(vad, speech_pcm)
    assert [e.type for e in events] == [VADEventType.START_OF_SPEECH, VADEventType.END_OF_SPEECH]
    # the clip holds about 3.4 s of speech; a VAD that fires on noise or stops early fails here
    assert 2.5 < events[1].speech_duration < 4.5
    assert await vad_events(vad, np.zeros(32000, dtype=np.int16)) == []


@pytest.mark.asyncio
async def test_vad_on_the_loop_and_on_a_thread_score_every_window_alike(
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


def test_default_prewarm_loads_local_vad_and_end_of_turn_model(prewarmed: Any) -> None:
    from livekit.agents.inference import VAD, TurnDetector

    proc, defaults = prewarmed()
    models = proc.userdata[USERDATA_KEY]
    assert isinstance(models, SharedModels)
    assert (models.vad_choice, models.turn) == ("local", "local")
    assert isinstance(models.vad, VAD)
    assert [record.what for record in models.loads] == ["VAD local", "end-of-turn local"]

    session = defaults()
    assert isinstance(session["vad"], VAD)
    detector = session["turn_handling"]["turn_detection"]
    assert isinstance(detector, TurnDetector)
    assert detector.model == "turn-detector-v1-mini"
    assert session["turn_handling"]["interruption"] == {"mode": "vad"}


def test_each_session_gets_its_own_objects_over_shared_weights(prewarmed: Any) -> None:
    _, defaults = prewarmed()
    first, second = defaults(), defaults()
    assert first["vad"] is not second["vad"]
    assert first["turn_handling"]["turn_detection"] is not second["turn_handling"]["turn_detection"]


def test_silero_vad_is_shared_as_livekit_documents(prewarmed: Any) -> None:
    from livekit.plugins.silero import VAD as SileroVAD

    _, defaults = prewarmed(**{"prewarm.vad": "silero", "prewarm.turn_detector": "vad"})
    first, second = defaults(), defaults()
    assert isinstance(first["vad"], SileroVAD)
    assert first["vad"] is second["vad"]
    assert first["turn_handling"] == {"interruption": {"mode": "vad"}, "turn_detection": "vad"}


def test_no_vad_leaves_turn_handling_to_livekit(prewarmed: Any) -> None:
    from livekit.agents.inference import TurnDetector

    _, defaults = prewarmed(**{"prewarm.vad": "none"})
    session = defaults()
    assert "vad" not in session
    assert "interruption" not in session["turn_handling"]
    assert isinstance(session["turn_handling"]["turn_detection"], TurnDetector)


def test_local_end_of_turn_model_tells_a_finished_sentence_from_a_cut_one(
    prewarmed: Any, speech_pcm: np.ndarray
) -> None:
    import livekit.local_inference as local_inference

    prewarmed()
    window = local_inference.EOT_MAX_SAMPLES
    finished = np.concatenate([speech_pcm, np.zeros(4000, dtype=np.int16)])[-window:]
    cut = speech_pcm[: window + 8000][-window:]  # stops after "Hello, I would like to"
    with local_inference.EOT() as eot:
        p_finished, p_cut = eot.predict(finished), eot.predict(cut)
    assert 0.0 <= p_cut < p_finished <= 1.0
    assert p_finished - p_cut > 0.2


@pytest.mark.asyncio
async def test_defaults_build_an_agent_session_and_adaptive_interruption_is_opt_in(
    prewarmed: Any,
) -> None:
    from livekit.agents import AgentSession

    _, defaults = prewarmed()
    session_defaults = defaults()
    user = {"turn_handling": {"interruption": {"mode": "adaptive"}}}
    merged = deep_merge(session_defaults, user)
    assert merged["turn_handling"]["interruption"] == {"mode": "adaptive"}
    detector = session_defaults["turn_handling"]["turn_detection"]
    assert merged["turn_handling"]["turn_detection"] is detector

    session: Any = AgentSession(**session_defaults)
    assert session.vad is session_defaults["vad"]
    assert session.turn_detection is detector
    await session.aclose()
    await asyncio.sleep(0)
