from __future__ import annotations

import re
import sys
from pathlib import Path

import numpy as np
import pytest
from livekit import rtc
from livekit.agents import APIError
from openrtc_providers_offline import OfflineSTT, OfflineTTS, _espeak, espeak_voices
from openrtc_providers_offline._espeak import EspeakUnavailable

SHORT = "Hello."
LONG = "Hello, your appointment is booked for Tuesday at nine in the morning. See you then."
OPENING_HOURS = "What are your opening hours tomorrow?"
BOOKING = "Hello, I would like to book an appointment, please."


async def _synthesize(engine: OfflineTTS, text: str) -> list[rtc.AudioFrame]:
    return [event.frame async for event in engine.synthesize(text)]


def _samples(frames: list[rtc.AudioFrame]) -> np.ndarray:
    return np.concatenate([np.frombuffer(f.data, dtype=np.int16) for f in frames])


def _rms(samples: np.ndarray) -> float:
    return float(np.sqrt(np.mean(samples.astype(np.float64) ** 2)))


def _duration(frames: list[rtc.AudioFrame]) -> float:
    return sum(f.duration for f in frames)


async def _words(frames: list[rtc.AudioFrame]) -> list[str]:
    event = await OfflineSTT().recognize(frames)
    return event.alternatives[0].text.split()


@pytest.mark.asyncio
@pytest.mark.parametrize("sample_rate", [24_000, 16_000, 48_000])
async def test_speaks_at_the_declared_rate(sample_rate: int) -> None:
    engine = OfflineTTS(sample_rate=sample_rate)
    assert engine.sample_rate == sample_rate and engine.num_channels == 1

    frames = await _synthesize(engine, LONG)

    assert frames
    assert {(f.sample_rate, f.num_channels) for f in frames} == {(sample_rate, 1)}
    assert _rms(_samples(frames)) > 500


def test_names_its_model_and_provider() -> None:
    engine = OfflineTTS(voice="en-gb")
    assert (engine.model, engine.provider) == ("espeak-ng:en-gb", "espeak-ng")


@pytest.mark.asyncio
async def test_duration_grows_with_text() -> None:
    engine = OfflineTTS()
    short = _duration(await _synthesize(engine, SHORT))
    long = _duration(await _synthesize(engine, LONG))

    assert short > 0.2
    assert long > 4 * short


@pytest.mark.asyncio
async def test_pocketsphinx_understands_what_it_says() -> None:
    words = await _words(await _synthesize(OfflineTTS(), OPENING_HOURS))

    assert "opening" in words and "hours" in words, words


@pytest.mark.asyncio
async def test_text_starting_with_a_dash_is_spoken_not_parsed() -> None:
    frames = await _synthesize(OfflineTTS(), "-v nonsense --help")

    assert _rms(_samples(frames)) > 500
    assert _duration(frames) > 1.0


@pytest.mark.asyncio
async def test_blank_lines_do_not_split_the_phrasing() -> None:
    """espeak-ng ends a paragraph at a blank line, with a pause 0.7 s long."""
    engine = OfflineTTS()
    joined = _duration(await _synthesize(engine, "Good morning how are you"))
    split = _duration(await _synthesize(engine, "Good morning\n\nhow\nare you"))

    assert split == pytest.approx(joined, rel=0.01)


@pytest.mark.asyncio
async def test_unknown_voice_is_an_error_naming_the_voice_and_the_list() -> None:
    engine = OfflineTTS(voice="zz-not-a-voice")

    with pytest.raises(APIError, match="zz-not-a-voice") as caught:
        await _synthesize(engine, SHORT)

    assert "python -m openrtc_providers_offline.voices" in caught.value.message
    assert caught.value.retryable is False
    # the engine is still usable with a voice that exists
    assert await _synthesize(OfflineTTS(), SHORT)


@pytest.mark.asyncio
async def test_speaks_other_voices_and_variants() -> None:
    for voice in ("en-gb", "fr", "en-us+f3"):
        frames = await _synthesize(OfflineTTS(voice=voice), "Bonjour, hello.")
        assert _rms(_samples(frames)) > 500, voice


def test_lists_the_voices_in_the_wheel(capsys: pytest.CaptureFixture[str]) -> None:
    found = {voice.identifier: voice for voice in espeak_voices()}

    assert "en-us" in found["gmw/en-US"].languages
    assert found["gmw/en-US"].name == "English (America)"
    assert len(found) > 50

    from openrtc_providers_offline.voices import main

    main()
    assert "English (America)" in capsys.readouterr().out


@pytest.mark.asyncio
async def test_blank_text_produces_no_audio() -> None:
    assert await _synthesize(OfflineTTS(), "   ") == []


def test_a_missing_wheel_is_a_one_line_error_naming_the_fix(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setitem(sys.modules, "espeakng_loader", None)

    with pytest.raises(EspeakUnavailable, match="pip install espeakng-loader") as caught:
        OfflineTTS()

    assert "\n" not in str(caught.value)


def test_a_missing_library_file_is_an_error_naming_the_fix(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    import espeakng_loader  # type: ignore[import-untyped]

    gone = tmp_path / "libespeak-ng.so"
    monkeypatch.setattr(espeakng_loader, "get_library_path", lambda: str(gone))

    with pytest.raises(EspeakUnavailable, match=f"{re.escape(str(gone))} is missing.*pip install"):
        OfflineTTS()


def test_a_library_that_does_not_load_is_an_error_naming_the_fix(tmp_path: Path) -> None:
    _, data = _espeak.library_files()
    broken = tmp_path / "libespeak-ng.so"
    broken.write_bytes(b"not a shared library")

    with pytest.raises(EspeakUnavailable, match="pip install espeakng-loader") as caught:
        _espeak._Library(broken, data)

    assert "\n" not in str(caught.value)


@pytest.mark.asyncio
async def test_a_library_that_fails_at_first_use_fails_the_utterance_for_good(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    def broken() -> _espeak._Library:
        raise EspeakUnavailable("espeak-ng is unavailable: test; pip install espeakng-loader")

    monkeypatch.setattr(_espeak, "_loaded", broken)

    with pytest.raises(APIError, match="pip install espeakng-loader") as caught:
        await _synthesize(OfflineTTS(), SHORT)

    assert caught.value.retryable is False
