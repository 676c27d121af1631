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

from ._audio import Int16Array, to_mono_int16
from ._resample import resample
from ._sphinx_native import NativeDecoder

DECODER_SAMPLE_RATE = 16_000
# pocketsphinx's default front end produces 100 feature frames per second.
_FRAMES_PER_SECOND = 100
_NON_WORDS = frozenset({"<s>", "</s>", "<sil>", "[NOISE]", "[SPEECH]"})
# About -54 dBFS. pocketsphinx hallucinates short words on digital silence, so a buffer
# that never gets louder than this is answered with an empty transcript instead.
_SILENCE_PEAK = 64
# See _with_noise_floor; module-level so benchmarks/noise_floor.py can compare levels.
NOISE_FLOOR_RMS = 64.0
_NOISE_SEED = 20_240_611


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
        pcm = _with_noise_floor(samples).tobytes()
        with self._lock:
            result = self._ensure_decoder().decode(pcm)
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


def _with_noise_floor(samples: Int16Array) -> Int16Array:
    """Add faint, fixed noise before decoding: Gaussian, ``NOISE_FLOOR_RMS`` (about -54 dBFS).

    pocketsphinx's front end estimates the noise level from the quietest frames, and runs of
    exact zeros (synthesized speech, muted tracks) leave it nothing to measure. Over seven
    espeak-ng sentences and three seeds it found 3 of 63 content words with no floor, 35
    with the 2-LSB dither livekit's resampler adds, and 54 with this floor
    (``tests/benchmarks/stt_noise_floor.py``). The seed is fixed so the same audio always
    gives the same transcript; a random dither made one sentence's transcript vary by run.
    """
    if NOISE_FLOOR_RMS <= 0:
        return samples
    noise = np.random.default_rng(_NOISE_SEED).standard_normal(samples.size) * NOISE_FLOOR_RMS
    mixed = samples.astype(np.float64) + np.rint(noise)
    return np.clip(mixed, -32768, 32767).astype(np.int16)


def _base_word(word: str) -> str:
    # Alternate pronunciations come back as "word(2)".
    return word.split("(", 1)[0]


def _rebuild_stt(options: dict[str, object]) -> OfflineSTT:
    return OfflineSTT(**options)  # type: ignore[arg-type]
