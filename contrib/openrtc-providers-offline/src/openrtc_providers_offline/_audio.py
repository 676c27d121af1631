"""PCM plumbing shared by the STT and TTS: downmixing and WAV header parsing."""

from __future__ import annotations

import struct
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt
from livekit import rtc
from livekit.agents.utils import AudioBuffer

Int16Array = npt.NDArray[np.int16]


def to_mono_int16(buffer: AudioBuffer) -> tuple[Int16Array, int]:
    """Merge an AudioBuffer into one mono int16 signal; returns (samples, sample_rate)."""
    frames = buffer if isinstance(buffer, list) else [buffer]
    if not frames:
        return np.zeros(0, dtype=np.int16), 0
    merged = rtc.combine_audio_frames(frames)
    samples = np.frombuffer(merged.data, dtype=np.int16)
    if merged.num_channels > 1:
        # Averaging in int32 keeps loud stereo from wrapping around.
        interleaved = samples.reshape(-1, merged.num_channels).astype(np.int32)
        samples = interleaved.mean(axis=1).astype(np.int16)
    return samples, merged.sample_rate


@dataclass(frozen=True)
class WavFormat:
    sample_rate: int
    num_channels: int
    bits_per_sample: int
    data_offset: int


def parse_wav_header(head: bytes) -> WavFormat | None:
    """Read a RIFF/WAVE header; None while more bytes are needed.

    The size fields are ignored on purpose: espeak-ng writes placeholder sizes when it
    streams to stdout, so the data chunk simply runs to the end of the stream.
    """
    if len(head) < 12:
        return None
    if head[:4] != b"RIFF" or head[8:12] != b"WAVE":
        raise ValueError("speech synthesizer output is not a WAV stream (missing RIFF/WAVE)")
    offset = 12
    fmt: tuple[int, int, int] | None = None
    while len(head) >= offset + 8:
        chunk_id = head[offset : offset + 4]
        (chunk_size,) = struct.unpack("<I", head[offset + 4 : offset + 8])
        body = offset + 8
        if chunk_id == b"data":
            if fmt is None:
                raise ValueError("WAV stream has its data chunk before the fmt chunk")
            return WavFormat(fmt[0], fmt[1], fmt[2], body)
        if chunk_id == b"fmt ":
            if len(head) < body + 16:
                return None
            audio_format, channels, rate = struct.unpack("<HHI", head[body : body + 8])
            (bits,) = struct.unpack("<H", head[body + 14 : body + 16])
            if audio_format != 1 or bits != 16:
                raise ValueError(
                    f"WAV stream is format {audio_format} with {bits}-bit samples; "
                    "only 16-bit PCM is supported"
                )
            fmt = (rate, channels, bits)
        offset = body + chunk_size + (chunk_size & 1)
    return None
