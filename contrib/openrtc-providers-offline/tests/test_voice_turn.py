"""One whole voice turn in a real AgentSession: speech in, pocketsphinx, rules, espeak-ng out."""

from __future__ import annotations

import asyncio
import os
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest
from livekit import rtc
from livekit.agents import (
    Agent,
    AgentSession,
    ChatMessage,
    ConversationItemAddedEvent,
    RunContext,
    function_tool,
)
from livekit.agents.voice.io import AudioInput, AudioOutput, AudioOutputCapabilities
from openrtc_providers_offline import Rule, offline_providers

if os.environ.get("CI"):
    from livekit.plugins import silero
else:
    silero = pytest.importorskip("livekit.plugins.silero")

FRAME = 160  # 10 ms at 16 kHz


class CallerMicrophone(AudioInput):
    """Plays a clip at real-time pace, then stays silent like an idle caller."""

    def __init__(self, speech: np.ndarray) -> None:
        super().__init__(label="caller-microphone")
        lead_in = np.zeros(8_000, dtype=np.int16)
        self._audio = np.concatenate([lead_in, speech])
        self._pos = 0

    async def __anext__(self) -> rtc.AudioFrame:
        await asyncio.sleep(FRAME / 16_000)
        chunk = self._audio[self._pos : self._pos + FRAME]
        self._pos += FRAME
        if chunk.size < FRAME:
            chunk = np.zeros(FRAME, dtype=np.int16)
        return rtc.AudioFrame(chunk.tobytes(), 16_000, 1, FRAME)


class Loudspeaker(AudioOutput):
    """Keeps every frame the agent says and reports each segment as played at once."""

    def __init__(self) -> None:
        super().__init__(label="loudspeaker", capabilities=AudioOutputCapabilities(pause=False))
        self.frames: list[rtc.AudioFrame] = []
        self._segment_s = 0.0

    async def capture_frame(self, frame: rtc.AudioFrame) -> None:
        if self._segment_s == 0.0:
            self.on_playback_started(created_at=time.time())
        await super().capture_frame(frame)
        self.frames.append(frame)
        self._segment_s += frame.duration

    def flush(self) -> None:
        super().flush()
        played, self._segment_s = self._segment_s, 0.0
        self.on_playback_finished(playback_position=played, interrupted=False)

    def clear_buffer(self) -> None:
        played, self._segment_s = self._segment_s, 0.0
        self.on_playback_finished(playback_position=played, interrupted=True)


class Receptionist(Agent):
    def __init__(self) -> None:
        super().__init__(instructions="You answer questions about a dental clinic.")
        self.looked_up: list[str] = []

    @function_tool
    async def opening_hours(self, context: RunContext[None], day: str) -> str:
        """Look up when the clinic is open.

        Args:
            day: The day the caller asks about.
        """
        self.looked_up.append(day)
        return f"We open at nine {day}"


@pytest.mark.asyncio
async def test_spoken_request_is_transcribed_acted_on_and_answered_aloud(
    speech_wav: Callable[[str], Path], load_wav: Callable[[Path], rtc.AudioFrame]
) -> None:
    clip = load_wav(speech_wav("What are your opening hours tomorrow?"))
    speech = np.frombuffer(clip.data, dtype=np.int16)
    rules = [Rule(pattern=r"opening hours", tool="opening_hours", arguments={"day": "tomorrow"})]
    agent = Receptionist()
    speaker = Loudspeaker()
    offline_stt, offline_llm, offline_tts = offline_providers(rules=rules)
    session: AgentSession[None] = AgentSession(
        stt=offline_stt,
        vad=silero.VAD.load(),
        llm=offline_llm,
        tts=offline_tts,
        turn_handling={"turn_detection": "vad", "endpointing": {"min_delay": 0.3}},
    )
    session.input.audio = CallerMicrophone(speech)
    session.output.audio = speaker

    answered = asyncio.Event()

    def _on_item(ev: ConversationItemAddedEvent) -> None:
        item = ev.item
        if not isinstance(item, ChatMessage) or item.role != "assistant":
            return
        if "nine" in (item.text_content or ""):
            answered.set()

    session.on("conversation_item_added", _on_item)
    async with session:
        await session.start(agent)
        # A bound so a broken pipeline fails instead of hanging; not a speed assertion.
        await asyncio.wait_for(answered.wait(), timeout=60)

    user_turns = [
        item.text_content or ""
        for item in session.history.items
        if item.type == "message" and item.role == "user"
    ]
    assert any("opening hours" in text for text in user_turns), user_turns
    assert agent.looked_up == ["tomorrow"]
    answers = [
        item.text_content
        for item in session.history.items
        if item.type == "message" and item.role == "assistant"
    ]
    assert answers == ["Done. We open at nine tomorrow"]
    assert speaker.frames, "the agent produced no audio"
    assert {f.sample_rate for f in speaker.frames} == {24_000}
    said = np.concatenate([np.frombuffer(f.data, dtype=np.int16) for f in speaker.frames])
    assert float(np.sqrt(np.mean(said.astype(np.float64) ** 2))) > 500
    assert said.size / 24_000 > 1.0
