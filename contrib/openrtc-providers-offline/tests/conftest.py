"""Fixtures that turn text into real speech with espeak-ng for the STT tests."""

from __future__ import annotations

import os
import shutil
import subprocess
import wave
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest
from livekit import rtc
from openrtc_providers_offline._audio import parse_wav_header
from openrtc_providers_offline._resample import resample

SpeechWav = Callable[[str], Path]


def _require_tool(name: str) -> str:
    path = shutil.which(name)
    if path is None:
        message = f"{name} is not installed; run `apt-get install -y {name}`"
        # In CI a missing engine must fail the run rather than hide the tests.
        if os.environ.get("CI"):
            pytest.fail(message)
        pytest.skip(message)
    return path


@pytest.fixture
def espeak_binary() -> str:
    return _require_tool("espeak-ng")


@pytest.fixture
def speech_wav(espeak_binary: str, tmp_path: Path) -> SpeechWav:
    """Speak a sentence with espeak-ng and store it as a 16 kHz mono 16-bit WAV file."""

    def make(text: str) -> Path:
        out = subprocess.run(
            [espeak_binary, "--stdout", "-v", "en-us", "-s", "150", text],
            check=True,
            capture_output=True,
        ).stdout
        fmt = parse_wav_header(out)
        assert fmt is not None and fmt.num_channels == 1, "espeak-ng did not produce mono WAV"
        body = out[fmt.data_offset :]
        speech = np.frombuffer(body[: len(body) - len(body) % 2], dtype=np.int16)
        samples = resample(speech, fmt.sample_rate, 16_000)
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
