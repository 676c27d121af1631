"""Speech to text with pocketsphinx and the English model its wheel ships."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Never

import numpy as np
import pocketsphinx
from livekit.agents import APIError, LanguageCode, stt, utils
from livekit.agents.types import NOT_GIVEN, APIConnectOptions, NotGivenOr, TimedString
from livekit.agents.utils import AudioBuffer

from ._audio import Int16Array, resample, to_mono_int16
from ._sphinx_native import NativeDecoder

DECODER_SAMPLE_RATE = 16_000
# pocketsphinx's default front end produces 100 feature frames per second.
_FRAMES_PER_SECOND = 100
_NON_WORDS = frozenset({"<s>", "</s>", "<sil>", "[NOISE]", "[SPEECH]"})
# About -54 dBFS. pocketsphinx hallucinates short words on digital silence, so a buffer
# that never gets louder than this is answered with an empty transcript instead.
_SILENCE_PEAK = 64


@dataclass(frozen=True)
class SphinxModel:
    """Where the acoustic model, language model and pronunciation dictionary live."""

    acoustic_model: Path
    language_model: Path
    dictionary: Path

    @classmethod
    def bundled(cls) -> SphinxModel:
        """The US English model inside the pocketsphinx wheel; nothing is downloaded."""
        root = Path(pocketsphinx.get_model_path()) / "en-us"
        model = cls(
            acoustic_model=root / "en-us",
            language_model=root / "en-us.lm.bin",
            dictionary=root / "cmudict-en-us.dict",
        )
        model.check()
        return model

    def check(self) -> None:
        for path in (self.acoustic_model, self.language_model, self.dictionary):
            if not path.exists():
                raise FileNotFoundError(
                    f"pocketsphinx model file {path} is missing; reinstall the wheel with "
                    "`pip install --force-reinstall 'pocketsphinx>=5,<6'`"
                )


@dataclass(frozen=True)
class _Hypothesis:
    text: str
    confidence: float
    words: list[TimedString]


class OfflineSTT(stt.STT[Never]):
    """Non-streaming STT: AgentSession wraps it in ``stt.StreamAdapter`` when given a VAD.

    One decoder serves one instance and decodes one utterance at a time, so build an
    instance per session when sessions must recognise in parallel. Decoding runs in a thread
    without the GIL (see ``_sphinx_native``), so it never stalls the worker's event loop.
    """

    def __init__(
        self,
        *,
        model: SphinxModel | None = None,
        language: str = "en-US",
        decoder_options: Mapping[str, str | int | float | bool] | None = None,
    ) -> None:
        super().__init__(
            capabilities=stt.STTCapabilities(
                streaming=False, interim_results=False, aligned_transcript="word"
            )
        )
        self._model = model or SphinxModel.bundled()
        self._model.check()
        self._language = language
        self._decoder_options = dict(decoder_options or {})
        self._decoder: NativeDecoder | None = None
        self._loader: threading.Thread | None = None
        # pocketsphinx decoders are stateful and not thread-safe.
        self._lock = threading.Lock()

    def __reduce__(self) -> tuple[object, ...]:
        # picklable for process isolation: a copy is a fresh instance with the same settings,
        # and builds its own decoder (a lock and a native decoder cannot be copied)
        options = {
            "model": self._model,
            "language": self._language,
            "decoder_options": self._decoder_options,
        }
        return (_rebuild_stt, (options,))

    @property
    def model(self) -> str:
        return f"pocketsphinx:{self._model.acoustic_model.name}"

    @property
    def provider(self) -> str:
        return "pocketsphinx"

    @property
    def sphinx_model(self) -> SphinxModel:
        return self._model

    def prewarm(self) -> None:
        """Start loading the decoder in a thread and return at once.

        livekit calls ``prewarm()`` on the event loop as each session starts; loading the
        model there blocked a job process's loop for 2.4 to 4.2 s with five calls starting on
        two cores. The first decode waits for the load (it takes the same lock).
        """
        if self._decoder is None and self._loader is None:
            self._loader = threading.Thread(
                target=self.load, name="openrtc-sphinx-load", daemon=True
            )
            self._loader.start()

    def load(self) -> None:
        """Load the decoder now, in the calling thread (a no-op once loaded)."""
        with self._lock:
            self._ensure_decoder()

    async def _recognize_impl(
        self,
        buffer: AudioBuffer,
        *,
        language: NotGivenOr[str] = NOT_GIVEN,
        conn_options: APIConnectOptions,
    ) -> stt.SpeechEvent:
        lang = language if isinstance(language, str) and language else self._language
        if not lang.lower().startswith("en"):
            raise APIError(
                f"OfflineSTT only has an English model, not {lang!r}; pass language='en-US'",
                retryable=False,
            )
        samples, rate = to_mono_int16(buffer)
        if samples.size and rate != DECODER_SAMPLE_RATE:
            samples = resample(samples, rate, DECODER_SAMPLE_RATE)
        hyp = await asyncio.to_thread(self._decode, samples)
        duration = samples.size / DECODER_SAMPLE_RATE
        return stt.SpeechEvent(
            type=stt.SpeechEventType.FINAL_TRANSCRIPT,
            request_id=utils.shortuuid("sphinx_"),
            alternatives=[
                stt.SpeechData(
                    language=LanguageCode(lang),
                    text=hyp.text,
                    start_time=0.0,
                    end_time=duration,
                    confidence=hyp.confidence,
                    words=hyp.words or None,
                )
            ],
        )

    def _ensure_decoder(self) -> NativeDecoder:
        if self._decoder is None:
            options: dict[str, str | int | float | bool] = {
                "hmm": str(self._model.acoustic_model),
                "lm": str(self._model.language_model),
                "dict": str(self._model.dictionary),
                "samprate": DECODER_SAMPLE_RATE,
                "loglevel": "FATAL",
            }
            options.update(self._decoder_options)
            self._decoder = NativeDecoder(options)
        return self._decoder

    def _decode(self, samples: Int16Array) -> _Hypothesis:
        if samples.size == 0 or int(np.abs(samples.astype(np.int32)).max()) < _SILENCE_PEAK:
            return _Hypothesis(text="", confidence=0.0, words=[])
        with self._lock:
            result = self._ensure_decoder().decode(samples.tobytes())
        if result is None:
            return _Hypothesis(text="", confidence=0.0, words=[])
        text, prob, segments = result
        words = [
            TimedString(
                _base_word(seg.word),
                start_time=seg.start_frame / _FRAMES_PER_SECOND,
                end_time=(seg.end_frame + 1) / _FRAMES_PER_SECOND,
                confidence=min(max(seg.prob, 0.0), 1.0),
            )
            for seg in segments
            if seg.word not in _NON_WORDS
        ]
        return _Hypothesis(text=text.strip(), confidence=min(max(prob, 0.0), 1.0), words=words)


def _base_word(word: str) -> str:
    # Alternate pronunciations come back as "word(2)".
    return word.split("(", 1)[0]


def _rebuild_stt(options: dict[str, object]) -> OfflineSTT:
    return OfflineSTT(**options)  # type: ignore[arg-type]
