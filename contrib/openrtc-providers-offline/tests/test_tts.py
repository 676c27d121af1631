from __future__ import annotations

import asyncio
import hashlib
import os
import pickle
import re
import sys
import time
import warnings
from collections.abc import Callable
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
        _espeak.Library(broken, data)

    assert "\n" not in str(caught.value)


@pytest.mark.asyncio
async def test_a_library_that_fails_at_first_use_fails_the_utterance_for_good(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    def broken() -> _espeak.Library:
        raise EspeakUnavailable("espeak-ng is unavailable: test; pip install espeakng-loader")

    monkeypatch.setattr(_espeak, "_loaded", broken)

    with pytest.raises(APIError, match="pip install espeakng-loader") as caught:
        await _synthesize(OfflineTTS(), SHORT)

    assert caught.value.retryable is False


@pytest.mark.asyncio
async def test_synthesis_leaves_the_event_loop_running() -> None:
    """A worker runs many sessions on one loop: one agent speaking must not freeze the others.

    Speaking this text on the loop (the placeholder voice did) stalled a ticker beside it for
    0.49 s and let it tick 5 times; the first frame came only at the end.
    """
    text = " ".join([LONG] * 10)  # about 53 s of speech
    gaps: list[float] = []
    done = asyncio.Event()

    async def ticker() -> None:
        last = time.perf_counter()
        while not done.is_set():
            await asyncio.sleep(0.001)
            now = time.perf_counter()
            gaps.append(now - last)
            last = now

    ticking = asyncio.create_task(ticker())
    await asyncio.sleep(0.01)
    gaps.clear()
    start = time.perf_counter()
    first_frame: float | None = None
    frames = 0
    async for _ in OfflineTTS().synthesize(text):
        if first_frame is None:
            first_frame = time.perf_counter() - start
        frames += 1
    elapsed = time.perf_counter() - start
    done.set()
    await ticking

    assert frames > 100
    assert first_frame is not None and first_frame < elapsed / 4, (first_frame, elapsed)
    assert len(gaps) >= 20, (len(gaps), elapsed)
    assert max(gaps) < elapsed / 4, (max(gaps), elapsed)


def _child_pids() -> set[int]:
    """Processes whose parent is this one, read from /proc (no psutil)."""
    me = os.getpid()
    children = set()
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            stat = Path("/proc", entry, "stat").read_text()
        except OSError:  # it ended meanwhile
            continue
        # "pid (comm) state ppid ...": comm may hold spaces and parentheses
        if int(stat.rsplit(")", 1)[1].split()[1]) == me:
            children.add(int(entry))
    return children


@pytest.mark.skipif(not Path("/proc/self/stat").exists(), reason="needs Linux /proc")
@pytest.mark.asyncio
async def test_no_process_is_started_per_utterance() -> None:
    before = _child_pids()
    seen: set[int] = set()
    frames = 0
    async for _ in OfflineTTS().synthesize(" ".join([LONG] * 3)):
        if frames % 10 == 0:
            seen |= _child_pids()
        frames += 1

    assert frames > 10
    assert seen <= before, f"child processes appeared while speaking: {seen - before}"


@pytest.mark.asyncio
async def test_two_utterances_at_once_each_come_out_whole() -> None:
    """libespeak-ng is process-global: two streams must queue for it, not mix settings."""
    fast, slow = OfflineTTS(words_per_minute=170), OfflineTTS(words_per_minute=120)
    alone_fast = _duration(await _synthesize(fast, OPENING_HOURS))
    alone_slow = _duration(await _synthesize(slow, BOOKING))

    together_fast, together_slow = await asyncio.gather(
        _synthesize(fast, OPENING_HOURS), _synthesize(slow, BOOKING)
    )

    assert _duration(together_fast) == pytest.approx(alone_fast, rel=0.01)
    assert _duration(together_slow) == pytest.approx(alone_slow, rel=0.01)
    fast_words = await _words(together_fast)
    assert "opening" in fast_words and "hours" in fast_words, fast_words
    slow_words = await _words(together_slow)
    assert "book" in slow_words and "appointment" in slow_words, slow_words


@pytest.mark.asyncio
async def test_an_utterance_cut_short_leaves_the_engine_ready() -> None:
    engine = OfflineTTS()
    alone = _duration(await _synthesize(engine, LONG))

    stream = engine.synthesize(" ".join([LONG] * 20))
    async for _ in stream:
        break
    await stream.aclose()

    assert _duration(await _synthesize(engine, LONG)) == pytest.approx(alone, rel=0.01)


@pytest.mark.asyncio
async def test_prewarm_loads_off_the_loop_and_returns_at_once() -> None:
    engine = OfflineTTS()
    start = time.perf_counter()
    engine.prewarm()
    assert time.perf_counter() - start < 0.05
    assert await _synthesize(engine, SHORT)


@pytest.mark.asyncio
async def test_survives_pickling_for_process_isolation() -> None:
    copy = pickle.loads(pickle.dumps(OfflineTTS(voice="en-gb", sample_rate=16_000)))

    assert (copy.model, copy.sample_rate) == ("espeak-ng:en-gb", 16_000)
    assert _rms(_samples(await _synthesize(copy, SHORT))) > 500


def _in_child(work: Callable[[], int]) -> int:
    """Run ``work()`` in a forked child; its return value (0..255) is the exit status."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)  # fork with threads running
        pid = os.fork()
    if pid == 0:
        status = 1
        try:
            status = work()
        finally:
            os._exit(status)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        done, wait_status = os.waitpid(pid, os.WNOHANG)
        if done:
            return os.waitstatus_to_exitcode(wait_status)
        time.sleep(0.02)
    os.kill(pid, 9)
    os.waitpid(pid, 0)
    raise AssertionError("the forked child hung")


@pytest.mark.skipif(not hasattr(os, "fork"), reason="needs fork")
def test_a_forked_child_can_speak() -> None:
    """Process isolation forks job processes from a parent that may have spoken already."""

    async def speak() -> int:
        frames = await _synthesize(OfflineTTS(), SHORT)
        return 0 if frames and _rms(_samples(frames)) > 500 else 3

    assert asyncio.run(speak()) == 0  # the parent's library is loaded and its thread started
    assert _in_child(lambda: asyncio.run(speak())) == 0


@pytest.mark.skipif(not hasattr(os, "fork"), reason="needs fork")
def test_noisy_voices_do_not_depend_on_the_clock(tmp_path: Path) -> None:
    """espeak-ng seeds its noise from time(NULL) at initialisation; whisper uses that noise.

    Two children start from the same library state, initialise it again a second apart and
    whisper the same text: the sound must not depend on when they did it.
    """
    _espeak.speak(SHORT)

    def whisper(after: float) -> int:
        time.sleep(after)
        _espeak._library = None  # initialise again, as a fresh process would
        spoken = _espeak.speak("Shh, she sells sea shells.", voice="en-us+whisper")
        digest = hashlib.sha256(spoken.samples.tobytes()).hexdigest()
        (tmp_path / f"{after}").write_text(digest)
        return 0

    assert _in_child(lambda: whisper(0.0)) == 0
    assert _in_child(lambda: whisper(1.1 - time.time() % 1)) == 0
    first, second = sorted(tmp_path.iterdir())
    assert first.read_text() == second.read_text()
