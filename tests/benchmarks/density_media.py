"""The "media" provider profile: what a worker costs with cloud providers, measured locally.

With cloud STT, LLM and TTS the worker's own work is the media: receiving and resampling the
caller's audio, the VAD on every 32 ms window, the end-of-turn model at each pause, and
publishing the agent's audio. These providers keep all of that and cost next to nothing
themselves: the STT returns a fixed transcript once the VAD says the caller stopped, the LLM
is the offline rule LLM (a regular expression), and the TTS plays audio rendered before the
calls (the recorded line in tests/data, decoded once per process). Picklable by reference, so
job processes build their own.
"""

from __future__ import annotations

import wave
from functools import cache
from pathlib import Path
from typing import Any, Never

from livekit.agents import stt, tts, utils
from livekit.agents.types import (
    DEFAULT_API_CONNECT_OPTIONS,
    NOT_GIVEN,
    APIConnectOptions,
    NotGivenOr,
)
from livekit.agents.utils import AudioBuffer
from openrtc_providers_offline import Rule
from openrtc_providers_offline import offline_providers as make_offline_providers

AUDIO = Path(__file__).resolve().parents[1] / "data" / "hello_appointment_16k.wav"
TRANSCRIPT = "I would like to book an appointment."


@cache
def prerendered() -> tuple[bytes, int]:
    """16-bit mono PCM and its sample rate, read once per process."""
    with wave.open(str(AUDIO), "rb") as source:
        return source.readframes(source.getnframes()), source.getframerate()


class ScriptedSTT(stt.STT):
    """Hears the caller's line as ``TRANSCRIPT`` whenever the VAD ends a stretch of speech."""

    def __init__(self) -> None:
        super().__init__(capabilities=stt.STTCapabilities(streaming=False, interim_results=False))

    def __reduce__(self) -> tuple[type[ScriptedSTT], tuple[()]]:
        return (ScriptedSTT, ())

    async def _recognize_impl(
        self,
        buffer: AudioBuffer,
        *,
        language: NotGivenOr[str] = NOT_GIVEN,
        conn_options: APIConnectOptions,
    ) -> stt.SpeechEvent:
        return stt.SpeechEvent(
            type=stt.SpeechEventType.FINAL_TRANSCRIPT,
            request_id=utils.shortuuid("scripted_"),
            alternatives=[stt.SpeechData(language="en", text=TRANSCRIPT, confidence=1.0)],
        )


class PrerenderedTTS(tts.TTS[Never]):
    """Says anything as the same pre-rendered audio."""

    def __init__(self) -> None:
        super().__init__(
            capabilities=tts.TTSCapabilities(streaming=False),
            sample_rate=prerendered()[1],
            num_channels=1,
        )

    def __reduce__(self) -> tuple[type[PrerenderedTTS], tuple[()]]:
        return (PrerenderedTTS, ())

    def synthesize(
        self, text: str, *, conn_options: APIConnectOptions = DEFAULT_API_CONNECT_OPTIONS
    ) -> tts.ChunkedStream:
        return _Playback(tts=self, input_text=text, conn_options=conn_options)


class _Playback(tts.ChunkedStream):
    async def _run(self, output_emitter: tts.AudioEmitter) -> None:
        pcm, rate = prerendered()
        output_emitter.initialize(
            request_id=utils.shortuuid("prerendered_"),
            sample_rate=rate,
            num_channels=1,
            mime_type="audio/pcm",
        )
        if self.input_text.strip():
            output_emitter.push(pcm)
        output_emitter.flush()


def media_providers(reply: str) -> tuple[Any, Any, Any]:
    """(stt, llm, tts) of the media profile; the rule LLM answers the scripted line."""
    _, llm, _ = make_offline_providers(rules=[Rule(pattern=r"appointment", reply=reply)])
    return ScriptedSTT(), llm, PrerenderedTTS()
