"""A pocketsphinx decoder driven through its C API with ctypes.

pocketsphinx's Python binding holds the GIL for the whole of ``process_raw`` and ``end_utt``,
which for a 3 s utterance is about a second of CPU: in a worker running many sessions on one
event loop, every caller's speech froze every other call for that long. ctypes releases the GIL
around each foreign call, so decoding here runs beside the event loop instead of in front of it.
The library is the extension module the pocketsphinx wheel ships, which exports the C API.
"""

from __future__ import annotations

import ctypes
import json
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

import pocketsphinx

_c_int16_p = ctypes.POINTER(ctypes.c_int16)


class SphinxLibraryError(RuntimeError):
    """The pocketsphinx shared library or one of its C functions cannot be used."""


@dataclass(frozen=True)
class Segment:
    word: str
    start_frame: int
    end_frame: int
    prob: float


def _library() -> ctypes.CDLL:
    package = Path(pocketsphinx.__file__).parent
    candidates = sorted(package.glob("_pocketsphinx*.so"))
    if not candidates:
        raise SphinxLibraryError(
            f"no _pocketsphinx extension in {package}; reinstall with "
            "`pip install --force-reinstall 'pocketsphinx>=5,<6'`"
        )
    lib = ctypes.CDLL(str(candidates[0]))
    signatures: dict[str, tuple[object, list[object]]] = {
        "ps_config_parse_json": (ctypes.c_void_p, [ctypes.c_void_p, ctypes.c_char_p]),
        "ps_config_free": (ctypes.c_int, [ctypes.c_void_p]),
        "ps_init": (ctypes.c_void_p, [ctypes.c_void_p]),
        "ps_free": (ctypes.c_int, [ctypes.c_void_p]),
        "ps_start_utt": (ctypes.c_int, [ctypes.c_void_p]),
        "ps_process_raw": (
            ctypes.c_int,
            [ctypes.c_void_p, _c_int16_p, ctypes.c_size_t, ctypes.c_int, ctypes.c_int],
        ),
        "ps_end_utt": (ctypes.c_int, [ctypes.c_void_p]),
        "ps_get_hyp": (ctypes.c_char_p, [ctypes.c_void_p, ctypes.POINTER(ctypes.c_int32)]),
        "ps_get_prob": (ctypes.c_int32, [ctypes.c_void_p]),
        "ps_get_logmath": (ctypes.c_void_p, [ctypes.c_void_p]),
        "logmath_exp": (ctypes.c_double, [ctypes.c_void_p, ctypes.c_int]),
        "ps_seg_iter": (ctypes.c_void_p, [ctypes.c_void_p]),
        "ps_seg_next": (ctypes.c_void_p, [ctypes.c_void_p]),
        "ps_seg_word": (ctypes.c_char_p, [ctypes.c_void_p]),
        "ps_seg_frames": (
            None,
            [ctypes.c_void_p, ctypes.POINTER(ctypes.c_int), ctypes.POINTER(ctypes.c_int)],
        ),
        "ps_seg_prob": (
            ctypes.c_int32,
            [ctypes.c_void_p, *(ctypes.POINTER(ctypes.c_int32),) * 3],
        ),
        "err_set_loglevel_str": (ctypes.c_char_p, [ctypes.c_char_p]),
    }
    for name, (restype, argtypes) in signatures.items():
        try:
            function = getattr(lib, name)
        except AttributeError as exc:
            raise SphinxLibraryError(
                f"{candidates[0].name} does not export {name}; use pocketsphinx>=5,<6"
            ) from exc
        function.restype = restype
        function.argtypes = argtypes
    return lib


_LIB: ctypes.CDLL | None = None


def library() -> ctypes.CDLL:
    global _LIB
    if _LIB is None:
        _LIB = _library()
    return _LIB


class NativeDecoder:
    """One decoder; not thread-safe (the caller serialises), but never holds the GIL while it
    decodes."""

    _decoder: int | None = None
    _config: int | None = None

    def __init__(self, options: Mapping[str, str | int | float | bool]) -> None:
        lib = library()
        level = str(options.get("loglevel", "FATAL")).encode()
        lib.err_set_loglevel_str(level)
        config = lib.ps_config_parse_json(None, json.dumps(dict(options)).encode())
        if not config:
            raise SphinxLibraryError(f"pocketsphinx rejected its options {dict(options)!r}")
        self._decoder = lib.ps_init(config)
        # held until close(): the decoder reads its configuration while decoding, and whether
        # ps_init takes a reference of its own is not something to rely on
        self._config = config
        if not self._decoder:
            lib.ps_config_free(config)
            raise SphinxLibraryError(
                "pocketsphinx could not load its model; check the hmm/lm/dict paths"
            )
        self._lib = lib

    def decode(self, pcm: bytes) -> tuple[str, float, list[Segment]] | None:
        """Decode one whole utterance of 16-bit mono PCM; ``None`` when nothing was heard."""
        lib, ps = self._lib, self._decoder
        samples = (ctypes.c_int16 * (len(pcm) // 2)).from_buffer_copy(pcm)
        if lib.ps_start_utt(ps) < 0:
            raise SphinxLibraryError("pocketsphinx could not start an utterance")
        processed = lib.ps_process_raw(ps, samples, len(samples), 0, 1)
        if lib.ps_end_utt(ps) < 0 or processed < 0:
            raise SphinxLibraryError("pocketsphinx failed to decode the utterance")
        score = ctypes.c_int32()
        hyp = lib.ps_get_hyp(ps, ctypes.byref(score))
        if hyp is None:
            return None
        logmath = lib.ps_get_logmath(ps)
        prob = lib.logmath_exp(logmath, lib.ps_get_prob(ps))
        return hyp.decode(), prob, self._segments(logmath)

    def _segments(self, logmath: int) -> list[Segment]:
        lib = self._lib
        segments: list[Segment] = []
        seg = lib.ps_seg_iter(self._decoder)
        start, end = ctypes.c_int(), ctypes.c_int()
        unused = ctypes.c_int32()
        while seg:
            lib.ps_seg_frames(seg, ctypes.byref(start), ctypes.byref(end))
            prob = lib.ps_seg_prob(seg, *(ctypes.byref(unused),) * 3)
            word = (lib.ps_seg_word(seg) or b"").decode()
            segments.append(Segment(word, start.value, end.value, lib.logmath_exp(logmath, prob)))
            seg = lib.ps_seg_next(seg)  # frees the iterator after the last segment
        return segments

    def close(self) -> None:
        if self._decoder:
            self._lib.ps_free(self._decoder)
            self._decoder = None
        if self._config:
            self._lib.ps_config_free(self._config)
            self._config = None

    def __del__(self) -> None:
        self.close()
