"""Text to speech with the libespeak-ng that the espeakng-loader wheel ships."""

from __future__ import annotations

from typing import Never

from livekit.agents import tts, utils
from livekit.agents.types import DEFAULT_API_CONNECT_OPTIONS, APIConnectOptions

from . import _espeak
from ._resample import StreamResampler


class OfflineTTS(tts.TTS[Never]):
    """Non-streaming TTS; AgentSession adds sentence splitting through ``tts.StreamAdapter``.

    espeak-ng runs in-process (no subprocess, no system package), on one shared thread: a
    process speaks one utterance at a time, each hundreds of times faster than real time, and
    the event loop keeps running meanwhile. Raises ``EspeakUnavailable`` (a ``RuntimeError``)
    when the espeakng-loader wheel is missing or broken.
    """

    def __init__(
        self,
        *,
        voice: str = "en-us",
        words_per_minute: int = 160,
        sample_rate: int = 24_000,
    ) -> None:
        super().__init__(
            capabilities=tts.TTSCapabilities(streaming=False),
            sample_rate=sample_rate,
            num_channels=1,
        )
        _espeak.library_files()  # a broken install fails here, not at the first reply
        self._voice = voice
        self._words_per_minute = words_per_minute

    @property
    def model(self) -> str:
        return f"espeak-ng:{self._voice}"

    @property
    def provider(self) -> str:
        return "espeak-ng"

    def prewarm(self) -> None:
        """Start loading libespeak-ng on its thread and return at once."""
        _espeak.prewarm()

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
        resampler: StreamResampler | None = None
        async for chunk in _espeak.stream_espeak(
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
