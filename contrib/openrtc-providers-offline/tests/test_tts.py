from __future__ import annotations

import logging

import numpy as np
import pytest
from livekit import rtc
from livekit.agents import APIError
from openrtc_providers_offline import OfflineSTT, OfflineTTS

SHORT = "Hello."
LONG = "Hello, your appointment is booked for Tuesday at nine in the morning. See you then."


async def _synthesize(engine: OfflineTTS, text: str) -> list[rtc.AudioFrame]:
    return [event.frame async for event in engine.synthesize(text)]


def _samples(frames: list[rtc.AudioFrame]) -> np.ndarray:
    return np.concatenate([np.frombuffer(f.data, dtype=np.int16) for f in frames])


def _rms(samples: np.ndarray) -> float:
    return float(np.sqrt(np.mean(samples.astype(np.float64) ** 2)))


@pytest.mark.asyncio
@pytest.mark.parametrize("sample_rate", [24_000, 16_000, 48_000])
async def test_speaks_at_the_declared_rate(espeak_binary: str, sample_rate: int) -> None:
    engine = OfflineTTS(sample_rate=sample_rate)
    assert engine.uses_espeak
    assert engine.sample_rate == sample_rate and engine.num_channels == 1

    frames = await _synthesize(engine, LONG)

    assert frames
    assert {(f.sample_rate, f.num_channels) for f in frames} == {(sample_rate, 1)}
    assert _rms(_samples(frames)) > 500


@pytest.mark.asyncio
async def test_duration_grows_with_text(espeak_binary: str) -> None:
    engine = OfflineTTS()
    short = sum(f.duration for f in await _synthesize(engine, SHORT))
    long = sum(f.duration for f in await _synthesize(engine, LONG))

    assert short > 0.2
    assert long > 4 * short


@pytest.mark.asyncio
async def test_pocketsphinx_understands_what_it_says(espeak_binary: str) -> None:
    frames = await _synthesize(OfflineTTS(), "What are your opening hours tomorrow?")

    event = await OfflineSTT().recognize(frames)

    words = event.alternatives[0].text.split()
    assert "opening" in words and "hours" in words, event.alternatives[0].text


@pytest.mark.asyncio
async def test_text_starting_with_a_dash_is_spoken_not_parsed(espeak_binary: str) -> None:
    frames = await _synthesize(OfflineTTS(), "-v nonsense --help")

    assert _rms(_samples(frames)) > 500


@pytest.mark.asyncio
async def test_unknown_voice_is_an_error_naming_the_voice(espeak_binary: str) -> None:
    engine = OfflineTTS(voice="zz-not-a-voice")

    with pytest.raises(APIError, match="zz-not-a-voice"):
        await _synthesize(engine, SHORT)


@pytest.mark.asyncio
async def test_blank_text_produces_no_audio(espeak_binary: str) -> None:
    assert await _synthesize(OfflineTTS(), "   ") == []


@pytest.mark.asyncio
async def test_missing_espeak_warns_and_still_speaks(caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.WARNING, logger="openrtc_providers_offline"):
        engine = OfflineTTS(espeak_binary="espeak-ng-not-installed-here", sample_rate=22_050)
    assert not engine.uses_espeak
    assert any("apt-get install espeak-ng" in r.getMessage() for r in caplog.records)

    short_frames = await _synthesize(engine, SHORT)
    long_frames = await _synthesize(engine, LONG)

    assert {f.sample_rate for f in long_frames} == {22_050}
    assert _rms(_samples(long_frames)) > 500
    short = sum(f.duration for f in short_frames)
    long = sum(f.duration for f in long_frames)
    assert long > 4 * short > 0
    # The placeholder is deterministic: the same text gives the same samples.
    again = _samples(await _synthesize(engine, LONG))
    assert np.array_equal(again, _samples(long_frames))
