"""Text to speech with the espeak-ng binary, or a placeholder voice when it is missing."""

from __future__ import annotations

import functools
import logging
import shutil
from typing import Never

from livekit.agents import tts, utils
from livekit.agents.types import DEFAULT_API_CONNECT_OPTIONS, APIConnectOptions

from ._espeak import stream_espeak
from ._fallback_voice import synthesize_placeholder_voice
from ._resample import StreamResampler

logger = logging.getLogger("openrtc_providers_offline")

ESPEAK_BINARY = "espeak-ng"


class OfflineTTS(tts.TTS[Never]):
    """Non-streaming TTS; AgentSession adds sentence splitting through ``tts.StreamAdapter``."""

    def __init__(
        self,
        *,
        voice: str = "en-us",
        words_per_minute: int = 160,
        sample_rate: int = 24_000,
        espeak_binary: str = ESPEAK_BINARY,
    ) -> None:
        super().__init__(
            capabilities=tts.TTSCapabilities(streaming=False),
            sample_rate=sample_rate,
            num_channels=1,
        )
        self._voice = voice
        self._words_per_minute = words_per_minute
        self._espeak_path = shutil.which(espeak_binary)
        if self._espeak_path is None:
            _warn_espeak_missing(espeak_binary)

    @property
    def model(self) -> str:
        return f"espeak-ng:{self._voice}" if self._espeak_path else "placeholder-voice"

    @property
    def provider(self) -> str:
        return "espeak-ng" if self._espeak_path else "openrtc-offline"

    @property
    def uses_espeak(self) -> bool:
        return self._espeak_path is not None

    def synthesize(
        self, text: str, *, conn_options: APIConnectOptions = DEFAULT_API_CONNECT_OPTIONS
    ) -> OfflineChunkedStream:
        return OfflineChunkedStream(tts=self, input_text=text, conn_options=conn_options)


class OfflineChunkedStream(tts.ChunkedStream):
    def __init__(self, *, tts: OfflineTTS, input_text: str, conn_options: APIConnectOptions):
        super().__init__(tts=tts, input_text=input_text, conn_options=conn_options)
        self._offline_tts = tts

    async def _run(self, output_emitter: tts.AudioEmitter) -> None:
        engine = self._offline_tts
        output_emitter.initialize(
            request_id=utils.shortuuid("espeak_"),
            sample_rate=engine.sample_rate,
            num_channels=1,
            mime_type="audio/pcm",
        )
        if not self.input_text.strip():
            return
        if engine._espeak_path is None:
            samples = synthesize_placeholder_voice(self.input_text, engine.sample_rate)
            output_emitter.push(samples.tobytes())
            output_emitter.flush()
            return

        resampler: StreamResampler | None = None
        async for chunk in stream_espeak(
            engine._espeak_path,
            self.input_text,
            voice=engine._voice,
            words_per_minute=engine._words_per_minute,
            read_timeout=self._conn_options.timeout,
        ):
            if resampler is None:
                resampler = StreamResampler(chunk.sample_rate, engine.sample_rate)
            converted = resampler.push(chunk.samples)
            if converted.size:
                output_emitter.push(converted.tobytes())
        if resampler is not None and (tail := resampler.flush()).size:
            output_emitter.push(tail.tobytes())
        output_emitter.flush()


@functools.cache
def _warn_espeak_missing(binary: str) -> None:
    # Cached so a worker running many sessions says it once, not once per session.
    logger.warning(
        "%s was not found on PATH, so OfflineTTS speaks a placeholder tone signal instead of "
        "words; install it with `apt-get install espeak-ng`",
        binary,
    )
