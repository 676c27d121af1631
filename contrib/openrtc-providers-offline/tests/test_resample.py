"""The offline providers' resampler: same input, same output, however it is split."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import numpy as np
import pytest
from openrtc_providers_offline import OfflineTTS, _espeak
from openrtc_providers_offline._resample import StreamResampler, resample

RATES = [(22_050, 16_000), (22_050, 24_000), (48_000, 16_000), (16_000, 48_000)]


def _noise(size: int, seed: int = 1) -> np.ndarray:
    return (np.random.default_rng(seed).standard_normal(size) * 3000).astype(np.int16)


def _tone(hz: float, rate: int, seconds: float = 1.0) -> np.ndarray:
    t = np.arange(int(rate * seconds)) / rate
    return (np.sin(2 * np.pi * hz * t) * 10_000).astype(np.int16)


@pytest.mark.parametrize(("from_rate", "to_rate"), RATES)
def test_the_same_input_gives_the_same_output_however_it_is_split(
    from_rate: int, to_rate: int
) -> None:
    signal = _noise(30_000)
    whole = resample(signal, from_rate, to_rate)

    rng = np.random.default_rng(7)
    resampler = StreamResampler(from_rate, to_rate)
    pieces, start = [], 0
    while start < signal.size:
        size = int(rng.integers(1, 3000))
        pieces.append(resampler.push(signal[start : start + size]))
        start += size
    pieces.append(resampler.flush())

    assert np.array_equal(np.concatenate(pieces), whole)
    assert np.array_equal(resample(signal, from_rate, to_rate), whole)
    assert whole.size == -(-signal.size * to_rate // from_rate)


@pytest.mark.parametrize(("from_rate", "to_rate"), RATES)
def test_a_tone_keeps_its_shape(from_rate: int, to_rate: int) -> None:
    out = resample(_tone(440, from_rate), from_rate, to_rate).astype(np.float64)
    expected = np.sin(2 * np.pi * 440 * np.arange(out.size) / to_rate) * 10_000

    middle = slice(200, out.size - 200)  # away from the edges, where the filter sees zeros
    assert np.sqrt(np.mean((out[middle] - expected[middle]) ** 2)) < 2.0


@pytest.mark.parametrize(("from_rate", "to_rate"), [(48_000, 16_000), (22_050, 16_000)])
def test_a_tone_above_the_new_nyquist_frequency_is_removed_not_folded(
    from_rate: int, to_rate: int
) -> None:
    out = resample(_tone(to_rate * 0.6, from_rate), from_rate, to_rate).astype(np.float64)

    assert np.sqrt(np.mean(out[200:-200] ** 2)) < 5.0  # of an input at 7071 RMS


def test_matching_rates_pass_samples_through() -> None:
    signal = _noise(1000)
    assert np.array_equal(resample(signal, 16_000, 16_000), signal)


def test_pushing_after_flush_is_an_error() -> None:
    resampler = StreamResampler(48_000, 16_000)
    resampler.flush()
    with pytest.raises(RuntimeError, match="flushed"):
        resampler.push(_noise(10))


@pytest.mark.asyncio
async def test_the_tts_adds_no_randomness_of_its_own(monkeypatch: pytest.MonkeyPatch) -> None:
    """livekit's resampler dithered with a fresh seed: the same sentence came out different
    each time, and so did its transcript. The same engine output must give the same frames.

    (espeak-ng itself is replayed here: inside one process its pitch flutter carries on from
    one utterance to the next, see _espeak.py.)
    """
    recorded: list[_espeak.EspeakChunk] = []
    await _collect(_espeak.stream_espeak("Good morning.", **_ARGS), recorded)
    assert recorded

    async def replay(text: str, **kwargs: object) -> AsyncIterator[_espeak.EspeakChunk]:
        for chunk in recorded:
            yield chunk

    monkeypatch.setattr(_espeak, "stream_espeak", replay)

    async def speak() -> bytes:
        engine = OfflineTTS(sample_rate=24_000)
        return b"".join([bytes(e.frame.data) async for e in engine.synthesize("Good morning.")])

    first = await speak()
    assert first and first == await speak()


_ARGS: dict[str, Any] = {"voice": "en-us", "words_per_minute": 160, "read_timeout": 10.0}


async def _collect(
    stream: AsyncIterator[_espeak.EspeakChunk], into: list[_espeak.EspeakChunk]
) -> None:
    async for chunk in stream:
        into.append(chunk)
