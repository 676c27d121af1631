"""Regenerate the spoken-English test clip used by the end-to-end tests.

The clip is committed, so tests never need a speech synthesizer; this script only documents
how it was made and rebuilds it. It needs `espeak-ng` and `sox` (Debian:
`apt-get install -y espeak-ng sox`).

Usage: python tests/data/make_speech_wav.py [output.wav]
"""

from __future__ import annotations

import shutil
import subprocess
import sys
import wave
from pathlib import Path

SENTENCE = "Hello, I would like to book an appointment, please."
DEFAULT_OUTPUT = Path(__file__).with_name("hello_appointment_16k.wav")
SAMPLE_RATE = 16_000


def _require(tool: str) -> str:
    path = shutil.which(tool)
    if path is None:
        raise SystemExit(f"{tool} is not installed; run `apt-get install -y espeak-ng sox`")
    return path


def make_wav(output: Path, sentence: str = SENTENCE) -> Path:
    espeak = _require("espeak-ng")
    sox = _require("sox")
    # espeak-ng speaks at 22.05 kHz; sox resamples so the clip matches what an STT model and
    # the Caller expect without any conversion at test time.
    speech = subprocess.run(
        [espeak, "-v", "en-us", "-s", "150", "--stdout", sentence],
        check=True,
        capture_output=True,
    ).stdout
    subprocess.run(
        [sox, "-t", "wav", "-", "-r", str(SAMPLE_RATE), "-c", "1", "-b", "16", str(output)],
        input=speech,
        check=True,
        capture_output=True,
    )
    with wave.open(str(output), "rb") as wav:
        if wav.getframerate() != SAMPLE_RATE or wav.getnchannels() != 1:
            raise SystemExit(f"{output} was not written as {SAMPLE_RATE} Hz mono; check sox")
    return output


def main(argv: list[str]) -> int:
    output = Path(argv[1]) if len(argv) > 1 else DEFAULT_OUTPUT
    made = make_wav(output)
    with wave.open(str(made), "rb") as wav:
        seconds = wav.getnframes() / wav.getframerate()
    print(f"wrote {made} ({seconds:.2f} s, {made.stat().st_size} bytes)")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
