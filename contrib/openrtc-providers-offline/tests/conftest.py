"""Fixtures that turn text into real speech with espeak-ng for the STT tests."""

from __future__ import annotations

import wave
from collections.abc import Callable
from pathlib import Path

import pytest
from livekit import rtc
from openrtc_providers_offline._espeak import speak
from openrtc_providers_offline._resample import resample

SpeechWav = Callable[[str], Path]


@pytest.fixture
def speech_wav(tmp_path: Path) -> SpeechWav:
    """Speak a sentence with espeak-ng and store it as a 16 kHz mono 16-bit WAV file."""

    def make(text: str) -> Path:
        spoken = speak(text, voice="en-us", words_per_minute=150)
        samples = resample(spoken.samples, spoken.sample_rate, 16_000)
        path = tmp_path / f"speech_{abs(hash(text))}.wav"
        with wave.open(str(path), "wb") as wav:
            wav.setnchannels(1)
            wav.setsampwidth(2)
            wav.setframerate(16_000)
            wav.writeframes(samples.tobytes())
        return path

    return make


def read_wav(path: Path) -> rtc.AudioFrame:
    with wave.open(str(path), "rb") as wav:
        data = wav.readframes(wav.getnframes())
        return rtc.AudioFrame(data, wav.getframerate(), wav.getnchannels(), wav.getnframes())


@pytest.fixture
def load_wav() -> Callable[[Path], rtc.AudioFrame]:
    return read_wav
