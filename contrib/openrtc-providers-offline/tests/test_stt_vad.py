"""The STT behind livekit's StreamAdapter, the wrapper AgentSession adds when given a VAD."""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest
from livekit import rtc
from livekit.agents import stt
from openrtc_providers_offline import OfflineSTT

if os.environ.get("CI"):
    from livekit.plugins import silero
else:
    silero = pytest.importorskip("livekit.plugins.silero")


@pytest.mark.asyncio
async def test_stream_adapter_with_silero_vad_emits_final_transcript(
    speech_wav: Callable[[str], Path], load_wav: Callable[[Path], rtc.AudioFrame]
) -> None:
    speech = np.frombuffer(
        load_wav(speech_wav("What are your opening hours tomorrow?")).data, dtype=np.int16
    )
    gap = np.zeros(16_000, dtype=np.int16)
    audio = np.concatenate([gap, speech, gap, gap])
    adapter = stt.StreamAdapter(stt=OfflineSTT(), vad=silero.VAD.load())

    events: list[stt.SpeechEvent] = []
    async with adapter.stream() as stream:
        for i in range(0, audio.size - 159, 160):
            stream.push_frame(rtc.AudioFrame(audio[i : i + 160].tobytes(), 16_000, 1, 160))
        stream.end_input()
        async for event in stream:
            events.append(event)

    kinds = [e.type for e in events]
    assert stt.SpeechEventType.START_OF_SPEECH in kinds
    assert stt.SpeechEventType.END_OF_SPEECH in kinds
    finals = [e for e in events if e.type == stt.SpeechEventType.FINAL_TRANSCRIPT]
    assert finals, kinds
    words = " ".join(e.alternatives[0].text for e in finals).split()
    assert "opening" in words and "hours" in words
