"""The console's speaker reports playback to the session as a room track would.

No audio device exists on the test machines, so the test plays PortAudio's part: it calls the
stream callback (``fill``) from another thread, as PortAudio does, with a real byte buffer.
"""

from __future__ import annotations

import asyncio
import threading

import pytest
from livekit import rtc

from openrtc.cli.console_audio import BLOCK_SAMPLES, SAMPLE_RATE, SpeakerOutput


def tone(seconds: float, value: int = 1000) -> rtc.AudioFrame:
    samples = int(SAMPLE_RATE * seconds)
    data = value.to_bytes(2, "little", signed=True) * samples
    return rtc.AudioFrame(
        data=data, sample_rate=SAMPLE_RATE, num_channels=1, samples_per_channel=samples
    )


def play_blocks(speaker: SpeakerOutput, blocks: int) -> bytes:
    """What the device would have played for ``blocks`` callbacks, on a foreign thread."""
    played = bytearray()

    def device() -> None:
        for _ in range(blocks):
            buffer = bytearray(BLOCK_SAMPLES * 2)
            speaker.fill(memoryview(buffer), BLOCK_SAMPLES)
            played.extend(buffer)

    thread = threading.Thread(target=device)
    thread.start()
    thread.join()
    return bytes(played)


async def finished(speaker: SpeakerOutput) -> tuple[float, bool]:
    event = await asyncio.wait_for(speaker.wait_for_playout(), timeout=10)
    return event.playback_position, event.interrupted


async def test_a_segment_ends_when_all_of_it_has_played() -> None:
    speaker = SpeakerOutput(asyncio.get_running_loop())
    started: list[float] = []
    speaker.on("playback_started", lambda ev: started.append(ev.created_at))
    await speaker.capture_frame(tone(0.1))
    speaker.flush()
    blocks = int(0.1 * SAMPLE_RATE) // BLOCK_SAMPLES + 2  # every sample, then silence
    played = play_blocks(speaker, blocks)
    assert played[: int(0.1 * SAMPLE_RATE) * 2] == bytes(tone(0.1).data)
    assert set(played[int(0.1 * SAMPLE_RATE) * 2 :]) == {0}
    position, interrupted = await finished(speaker)
    assert (position, interrupted) == (pytest.approx(0.1), False)
    assert len(started) == 1


async def test_clearing_mid_segment_reports_how_much_was_heard() -> None:
    speaker = SpeakerOutput(asyncio.get_running_loop())
    await speaker.capture_frame(tone(1.0))
    speaker.flush()
    play_blocks(speaker, 10)  # 10 callbacks of 20 ms
    speaker.clear_buffer()
    position, interrupted = await finished(speaker)
    assert interrupted
    assert position == pytest.approx(10 * BLOCK_SAMPLES / SAMPLE_RATE)
    assert set(play_blocks(speaker, 2)) == {0}  # nothing of the cleared segment is left
