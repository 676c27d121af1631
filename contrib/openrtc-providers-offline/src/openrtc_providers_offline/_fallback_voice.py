"""A deterministic voice-like signal for machines without espeak-ng.

It is not speech: each syllable is a harmonic buzz shaped by two formants picked from the
syllable's vowel, so the audio is clearly non-silent, has speech-like energy and pauses,
and grows with the text. That keeps a voice pipeline testable end to end.
"""

from __future__ import annotations

import re

import numpy as np

from ._audio import Int16Array

# (F1, F2) in Hz, rough adult averages for each written vowel.
_FORMANTS = {
    "a": (730.0, 1090.0),
    "e": (530.0, 1840.0),
    "i": (270.0, 2290.0),
    "o": (570.0, 840.0),
    "u": (300.0, 870.0),
    "y": (400.0, 1900.0),
}
_NEUTRAL = (500.0, 1500.0)
_SYLLABLE_S = 0.16
_WORD_GAP_S = 0.07
_PHRASE_GAP_S = 0.28
_BASE_PITCH_HZ = 120.0
_PEAK = 0.3 * 32767


def synthesize_placeholder_voice(text: str, sample_rate: int) -> Int16Array:
    pieces: list[Int16Array] = []
    tokens = re.findall(r"[\w']+|[.,;:!?]", text.lower())
    words = [t for t in tokens if t[0].isalnum() or t[0] in "'_"]
    spoken = 0
    for token in tokens:
        if not (token[0].isalnum() or token[0] in "'_"):
            pieces.append(_silence(_PHRASE_GAP_S, sample_rate))
            continue
        # Pitch drifts down over the utterance the way a declarative sentence does.
        pitch = _BASE_PITCH_HZ * (1.0 - 0.15 * spoken / max(len(words), 1))
        for vowel in _syllable_vowels(token):
            pieces.append(_syllable(_FORMANTS.get(vowel, _NEUTRAL), pitch, sample_rate))
        pieces.append(_silence(_WORD_GAP_S, sample_rate))
        spoken += 1
    if not pieces:
        # Text with nothing to say (a lone dash) still needs a frame, or livekit treats the
        # empty synthesis as a failed request.
        return _silence(_WORD_GAP_S, sample_rate)
    return np.concatenate(pieces)


def _syllable_vowels(word: str) -> list[str]:
    groups = re.findall(r"[aeiouy]+", word)
    return [g[0] for g in groups] or [""]


def _syllable(formants: tuple[float, float], pitch: float, sample_rate: int) -> Int16Array:
    n = int(_SYLLABLE_S * sample_rate)
    t = np.arange(n) / sample_rate
    f1, f2 = formants
    wave = np.zeros(n)
    harmonic = 1
    while harmonic * pitch < min(4000.0, sample_rate / 2):
        freq = harmonic * pitch
        gain = (
            np.exp(-(((freq - f1) / 160.0) ** 2))
            + 0.5 * np.exp(-(((freq - f2) / 220.0) ** 2))
            + 0.03
        )
        wave += gain * np.sin(2 * np.pi * freq * t)
        harmonic += 1
    # A fast attack and slow decay reads as a syllable rather than a beep.
    envelope = np.minimum(t / 0.015, 1.0) * np.exp(-t / (_SYLLABLE_S * 0.6))
    wave *= envelope
    wave *= _PEAK / max(float(np.abs(wave).max()), 1e-9)
    return wave.astype(np.int16)


def _silence(seconds: float, sample_rate: int) -> Int16Array:
    return np.zeros(int(seconds * sample_rate), dtype=np.int16)
