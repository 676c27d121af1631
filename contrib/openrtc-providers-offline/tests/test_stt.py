from __future__ import annotations

import asyncio
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pocketsphinx
import pytest
from livekit import rtc
from livekit.agents import APIError, stt
from openrtc_providers_offline import OfflineSTT, SphinxModel
from openrtc_providers_offline._resample import resample

# Sentences pocketsphinx's general English model gets right from espeak-ng's en-us voice;
# filler words around them vary, so only the content words are asserted.
OPENING_HOURS = "What are your opening hours tomorrow?"
BOOKING = "Hello, I would like to book an appointment, please."

LoadWav = Callable[[Path], rtc.AudioFrame]


@pytest.fixture(scope="module")
def offline_stt() -> OfflineSTT:
    engine = OfflineSTT()
    engine.load()
    return engine


async def test_prewarm_returns_at_once_and_the_first_decode_waits_for_the_model(
    speech_wav: Callable[[str], Path], load_wav: LoadWav
) -> None:
    """livekit calls prewarm() on the event loop as a session starts: the model loads in a
    thread, and a decode that arrives meanwhile waits for it instead of failing."""
    engine = OfflineSTT()
    engine.prewarm()
    assert engine._decoder is None  # still loading: prewarm did not wait for it
    event = await engine.recognize(load_wav(speech_wav(OPENING_HOURS)))
    assert "hours" in event.alternatives[0].text.split()
    engine.prewarm()  # loaded: nothing more to start
    assert engine._loader is not None and not engine._loader.is_alive()


def test_bundled_model_lives_inside_the_pocketsphinx_wheel() -> None:
    model = SphinxModel.bundled()
    root = Path(pocketsphinx.get_model_path())
    for path in (model.acoustic_model, model.language_model, model.dictionary):
        assert path.exists()
        assert root in path.parents


def test_missing_model_file_names_the_fix(tmp_path: Path) -> None:
    broken = SphinxModel(tmp_path / "hmm", tmp_path / "lm.bin", tmp_path / "words.dict")
    with pytest.raises(FileNotFoundError, match="pip install --force-reinstall"):
        OfflineSTT(model=broken)


@pytest.mark.asyncio
async def test_transcribes_spoken_wav(
    offline_stt: OfflineSTT, speech_wav: Callable[[str], Path], load_wav: LoadWav
) -> None:
    frame = load_wav(speech_wav(OPENING_HOURS))
    assert frame.sample_rate == 16_000

    event = await offline_stt.recognize(frame)

    assert event.type == stt.SpeechEventType.FINAL_TRANSCRIPT
    best = event.alternatives[0]
    assert best.language == "en-US"
    words = best.text.split()
    for expected in ("opening", "hours", "tomorrow"):
        assert expected in words, best.text
    assert best.end_time == pytest.approx(frame.duration, abs=0.01)
    assert best.words is not None
    starts = [w.start_time for w in best.words]
    assert all(isinstance(t, float) for t in starts)
    assert starts == sorted(t for t in starts if isinstance(t, float))


@pytest.mark.asyncio
async def test_transcribes_booking_request(
    offline_stt: OfflineSTT, speech_wav: Callable[[str], Path], load_wav: LoadWav
) -> None:
    event = await offline_stt.recognize(load_wav(speech_wav(BOOKING)))

    words = event.alternatives[0].text.split()
    assert "book" in words and "appointment" in words, event.alternatives[0].text
    assert " ".join(words).count("would like to") == 1


@pytest.mark.asyncio
async def test_resamples_48k_stereo_frames_like_a_room_delivers(
    offline_stt: OfflineSTT, speech_wav: Callable[[str], Path], load_wav: LoadWav
) -> None:
    mono16 = np.frombuffer(load_wav(speech_wav(OPENING_HOURS)).data, dtype=np.int16)
    stereo48 = np.repeat(resample(mono16, 16_000, 48_000), 2)
    # 10 ms frames, the size a LiveKit room hands an AgentSession.
    frames = [
        rtc.AudioFrame(stereo48[i : i + 960].tobytes(), 48_000, 2, 480)
        for i in range(0, stereo48.size - 959, 960)
    ]

    event = await offline_stt.recognize(frames)

    words = event.alternatives[0].text.split()
    assert "opening" in words and "hours" in words, event.alternatives[0].text


@pytest.mark.asyncio
async def test_silence_gives_an_empty_final_transcript(offline_stt: OfflineSTT) -> None:
    silence = rtc.AudioFrame(bytes(32_000), 16_000, 1, 16_000)

    event = await offline_stt.recognize(silence)

    assert event.type == stt.SpeechEventType.FINAL_TRANSCRIPT
    assert event.alternatives[0].text == ""


@pytest.mark.asyncio
async def test_rejects_a_language_it_has_no_model_for(offline_stt: OfflineSTT) -> None:
    silence = rtc.AudioFrame(bytes(3_200), 16_000, 1, 1_600)

    with pytest.raises(APIError, match="English"):
        await offline_stt.recognize(silence, language="fr")


def test_is_non_streaming_so_agent_session_adds_a_vad_adapter() -> None:
    caps = OfflineSTT().capabilities
    assert caps.streaming is False
    assert caps.offline_recognize is True


async def test_decoding_leaves_the_event_loop_running(
    offline_stt: OfflineSTT, speech_wav: Callable[[str], Path], load_wav: LoadWav
) -> None:
    """A worker runs many sessions on one loop: one caller's utterance being decoded must not
    freeze the others. pocketsphinx's own binding held the GIL for the whole decode, and a
    loop ticking every millisecond beside it managed 3 iterations in a 2.7 s decode."""
    frame = load_wav(speech_wav(BOOKING))
    ticks = 0

    async def tick() -> None:
        nonlocal ticks
        while True:
            await asyncio.sleep(0.001)
            ticks += 1

    ticker = asyncio.create_task(tick())
    await asyncio.sleep(0)
    event = await offline_stt.recognize(frame)
    ticker.cancel()
    assert ticks >= 50, f"the loop ran only {ticks} times while a decode was in progress"
    assert event.alternatives[0].text  # the decode really ran
