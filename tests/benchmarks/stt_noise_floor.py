"""Offline STT accuracy on espeak-ng speech, by the noise floor added before decoding.

Speaks a fixed set of sentences with espeak-ng (16 kHz), decodes each with ``OfflineSTT``
and counts the content words (stop words left out) found in the transcript. Two ways in:
``whole`` (the sentence with 0.5 s of silence either side, one ``recognize()`` call) and
``vad`` (behind livekit's ``StreamAdapter`` with Silero VAD, as an ``AgentSession`` uses it).
Each level is tried with several seeds; the first row is the baseline: no floor of ours but
the 2-LSB triangular dither livekit's resampler used to add on the way in.

Usage:
    uv run --all-packages python tests/benchmarks/stt_noise_floor.py [--levels 0,16,64,128] \
        [--seeds 3] [--ways whole,vad]
"""

from __future__ import annotations

import argparse
import asyncio
import re

import numpy as np
import numpy.typing as npt
import openrtc_providers_offline.stt as offline_stt
from livekit import rtc
from livekit.agents import stt
from livekit.plugins import silero
from openrtc_providers_offline import OfflineSTT, _espeak
from openrtc_providers_offline._resample import resample

Int16Array = npt.NDArray[np.int16]

SENTENCES = [
    "What are your opening hours tomorrow?",
    "Hello, I would like to book an appointment, please.",
    "Do you take new patients?",
    "My name is Ada.",
    "Please book me for Tuesday morning.",
    "I need to cancel my appointment.",
    "Can I speak to a doctor?",
]
STOP_WORDS = frozenset(
    {"i", "a", "to", "my", "me", "for", "is", "are", "do", "you", "can", "the", "an", "your"}
    | {"please", "hello"}
)
RATE = 16_000


def speak(text: str) -> Int16Array:
    spoken = _espeak.speak(text, voice="en-us", words_per_minute=150)
    return resample(spoken.samples, spoken.sample_rate, RATE)


def content_words_found(transcript: str, sentence: str) -> tuple[int, int]:
    wanted = [w for w in re.findall(r"[a-z]+", sentence.lower()) if w not in STOP_WORDS]
    heard = set(transcript.split())
    return sum(word in heard for word in wanted), len(wanted)


def triangular_dither(samples: Int16Array, seed: int) -> Int16Array:
    rng = np.random.default_rng(seed)
    noise = rng.integers(-1, 2, samples.size) + rng.integers(-1, 2, samples.size)
    return np.clip(samples.astype(np.int32) + noise, -32768, 32767).astype(np.int16)


def frame(samples: Int16Array) -> rtc.AudioFrame:
    return rtc.AudioFrame(samples.tobytes(), RATE, 1, samples.size)


async def decode_whole(engine: OfflineSTT, samples: Int16Array) -> str:
    pad = np.zeros(RATE // 2, dtype=np.int16)
    event = await engine.recognize(frame(np.concatenate([pad, samples, pad])))
    return event.alternatives[0].text


async def decode_behind_vad(engine: OfflineSTT, vad: silero.VAD, samples: Int16Array) -> str:
    gap = np.zeros(RATE, dtype=np.int16)
    audio = np.concatenate([gap, samples, gap, gap])
    texts: list[str] = []
    async with stt.StreamAdapter(stt=engine, vad=vad).stream() as stream:
        for start in range(0, audio.size - 159, 160):
            stream.push_frame(frame(audio[start : start + 160]))
        stream.end_input()
        async for event in stream:
            if event.type == stt.SpeechEventType.FINAL_TRANSCRIPT:
                texts.append(event.alternatives[0].text)
    return " ".join(texts)


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--levels", default="0,16,64,128", help="noise floor RMS values")
    parser.add_argument("--seeds", type=int, default=3)
    parser.add_argument("--ways", default="whole,vad")
    args = parser.parse_args()
    levels = [float(v) for v in args.levels.split(",")]
    engine = OfflineSTT()
    engine.load()
    vad = silero.VAD.load()
    speech = {sentence: speak(sentence) for sentence in SENTENCES}
    shipped = offline_stt.NOISE_FLOOR_RMS
    rows: list[tuple[str, str, int, int]] = []

    for way in args.ways.split(","):
        for label, level, dither in [("2-LSB dither (baseline)", 0.0, True)] + [
            (f"floor {level:g}", level, False) for level in levels
        ]:
            found = total = 0
            for seed in range(args.seeds):
                offline_stt.NOISE_FLOOR_RMS = level
                offline_stt._NOISE_SEED = seed
                for sentence, samples in speech.items():
                    heard = triangular_dither(samples, seed) if dither else samples
                    if way == "whole":
                        transcript = await decode_whole(engine, heard)
                    else:
                        transcript = await decode_behind_vad(engine, vad, heard)
                    got, wanted = content_words_found(transcript, sentence)
                    found, total = found + got, total + wanted
            rows.append((way, label, found, total))
            print(f"{way:6} {label:24} {found:3}/{total} content words", flush=True)
    offline_stt.NOISE_FLOOR_RMS = shipped

    print(f"\nshipped floor: {shipped:g} RMS; change against the baseline, same run:")
    for way in args.ways.split(","):
        base = next(r for r in rows if r[0] == way and "baseline" in r[1])
        for row in rows:
            if row[0] == way and row is not base:
                print(f"{way:6} {row[1]:24} {row[2] - base[2]:+d} words vs baseline")


if __name__ == "__main__":
    asyncio.run(main())
