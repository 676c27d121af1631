"""A deterministic band-limited resampler for mono int16 audio.

livekit's ``rtc.AudioResampler`` (soxr) dithers whenever it writes 16-bit samples, with a fresh
random seed each time: resampling the same sentence twice gave outputs differing in 44 % of
their samples. espeak-ng's silences are digital zeros, so the dither turns them into noise,
and pocketsphinx's transcript of one fixed sentence changed from run to run ("opening hours"
came back as "open you know is" in one of eight). Speech that goes in the same must come out
the same, so the offline providers resample here instead: a Kaiser-windowed sinc applied as
a polyphase filter, rounding without dither.
"""

from __future__ import annotations

import math
from functools import cache

import numpy as np
import numpy.typing as npt

from ._audio import Int16Array

FloatArray = npt.NDArray[np.float64]

_ZERO_CROSSINGS = 16  # sinc lobes kept on each side of the centre tap
_ROLLOFF = 0.92  # passband edge as a fraction of the lower Nyquist frequency
_KAISER_BETA = 8.6  # about 85 dB of stopband attenuation
_BLOCK = 4096  # outputs computed per numpy pass, which bounds temporary memory


@cache
def _polyphase_table(up: int, down: int) -> tuple[FloatArray, int]:
    """Filter taps for each of the ``up`` output phases, and the half-width in input samples.

    Row ``p`` holds the weights of the input samples at offsets ``-half+1 .. half`` from
    ``floor(t)`` for an output that falls at fractional input position ``p / up``.
    """
    cutoff = min(1.0, up / down) * _ROLLOFF
    half = math.ceil(_ZERO_CROSSINGS / cutoff)
    offsets = np.arange(-half + 1, half + 1, dtype=np.float64)
    fractions = np.arange(up, dtype=np.float64)[:, None] / up
    distance = fractions - offsets[None, :]
    # The Kaiser window evaluated at each tap's exact distance from the output time.
    inside = np.clip(1.0 - (distance / half) ** 2, 0.0, None)
    window = np.i0(_KAISER_BETA * np.sqrt(inside)) / np.i0(_KAISER_BETA)
    taps = cutoff * np.sinc(cutoff * distance) * window
    return taps, half


class StreamResampler:
    """Mono int16 resampler that can be fed piecewise; a pass-through when rates match.

    The output does not depend on how the input was split into pieces, and the same input
    always gives the same output.
    """

    def __init__(self, from_rate: int, to_rate: int) -> None:
        if from_rate <= 0 or to_rate <= 0:
            raise ValueError(f"sample rates must be positive, got {from_rate} -> {to_rate}")
        gcd = math.gcd(from_rate, to_rate)
        self._up, self._down = to_rate // gcd, from_rate // gcd
        self._passthrough = from_rate == to_rate
        self._taps, self._half = _polyphase_table(self._up, self._down)
        # Input history, starting with the zeros that precede the signal.
        self._buffer: FloatArray = np.zeros(self._half, dtype=np.float64)
        self._buffer_start = -self._half  # input index of _buffer[0]
        self._received = 0  # input samples pushed so far
        self._emitted = 0  # output samples produced so far
        self._flushed = False

    def push(self, samples: Int16Array) -> Int16Array:
        if self._flushed:
            raise RuntimeError("this resampler was flushed; create a new one for more audio")
        if self._passthrough or samples.size == 0:
            self._received += samples.size
            return samples
        self._buffer = np.concatenate([self._buffer, samples.astype(np.float64)])
        self._received += samples.size
        return self._drain(self._received)

    def flush(self) -> Int16Array:
        """Emit what is still held back, as if silence followed the last sample."""
        if self._flushed or self._passthrough:
            self._flushed = True
            return np.zeros(0, dtype=np.int16)
        self._flushed = True
        self._buffer = np.concatenate([self._buffer, np.zeros(self._half, dtype=np.float64)])
        return self._drain(self._received + self._half)

    def _drain(self, available: int) -> Int16Array:
        """Compute every output whose filter window lies inside the first ``available`` inputs
        (counting trailing zeros appended by flush), up to the signal's own length."""
        up, down, half = self._up, self._down, self._half
        # Output n sits at input position n*down/up and reads inputs up to floor(that)+half.
        last_ready = ((available - half) * up + down - 1) // down
        total = -(-self._received * up // down)  # outputs that fall inside the signal
        stop = min(last_ready, total)
        pieces: list[FloatArray] = []
        offsets = np.arange(-half + 1, half + 1)
        for first in range(self._emitted, stop, _BLOCK):
            n = np.arange(first, min(first + _BLOCK, stop))
            base = n * down // up
            index = base[:, None] + offsets[None, :] - self._buffer_start
            weights = self._taps[(n * down) % up]
            pieces.append(np.einsum("ij,ij->i", self._buffer[index], weights))
        if stop > self._emitted:
            self._emitted = stop
            keep_from = self._emitted * down // up - half + 1
            drop = max(0, keep_from - self._buffer_start)
            self._buffer = self._buffer[drop:]
            self._buffer_start += drop
        if not pieces:
            return np.zeros(0, dtype=np.int16)
        out = np.concatenate(pieces)
        return np.clip(np.rint(out), -32768, 32767).astype(np.int16)


def resample(samples: Int16Array, from_rate: int, to_rate: int) -> Int16Array:
    """Resample a whole mono int16 signal in one call."""
    resampler = StreamResampler(from_rate, to_rate)
    return np.concatenate([resampler.push(samples), resampler.flush()])
