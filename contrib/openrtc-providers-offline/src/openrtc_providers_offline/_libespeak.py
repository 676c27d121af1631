"""A ctypes binding to the libespeak-ng (and its data) that the espeakng-loader wheel ships.

``Library`` loads and initialises one copy; it is not thread-safe and keeps process-global
state, so ``_espeak`` owns the only instance and serialises every call into it.
"""

from __future__ import annotations

import ctypes
import os
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ._audio import Int16Array

INSTALL_FIX = "pip install espeakng-loader"
VOICES_COMMAND = "python -m openrtc_providers_offline.voices"

# Values from espeak-ng's speak_lib.h.
_AUDIO_OUTPUT_SYNCHRONOUS = 2
_INITIALIZE_DONT_EXIT = 0x8000  # return an error instead of calling exit() when data is missing
_POS_CHARACTER = 1
_CHARS_UTF8 = 1
_ENDPAUSE = 0x1000  # a sentence's closing pause after the last word, as the espeak-ng program
_RATE = 1
_EE_OK = 0
_BUFFER_MS = 60  # audio per synth callback: the first block is ready after 60 ms of speech
# espeak-ng seeds its noise generator from the clock; reseeding before every utterance makes
# the same text give the same samples, in any process and at any time.
_RANDOM_SEED = 1

_SynthCallback = ctypes.CFUNCTYPE(
    ctypes.c_int, ctypes.POINTER(ctypes.c_short), ctypes.c_int, ctypes.c_void_p
)


class _VoiceStruct(ctypes.Structure):
    # espeak_VOICE; ``languages`` is a run of (priority byte, NUL-terminated name) pairs
    # ended by an empty name, so it is read by hand rather than as a C string.
    _fields_ = (
        ("name", ctypes.c_char_p),
        ("languages", ctypes.c_void_p),
        ("identifier", ctypes.c_char_p),
        ("gender", ctypes.c_ubyte),
        ("age", ctypes.c_ubyte),
        ("variant", ctypes.c_ubyte),
        ("xx1", ctypes.c_ubyte),
        ("score", ctypes.c_int),
        ("spare", ctypes.c_void_p),
    )


class EspeakUnavailable(RuntimeError):
    """libespeak-ng or its data cannot be found or loaded: the install is broken."""


class UnknownVoice(ValueError):
    def __init__(self, voice: str) -> None:
        super().__init__(
            f"espeak-ng has no voice {voice!r}; list the voices with `{VOICES_COMMAND}`"
        )
        self.voice = voice


@dataclass(frozen=True)
class EspeakChunk:
    sample_rate: int
    samples: Int16Array


@dataclass(frozen=True)
class EspeakVoice:
    name: str
    identifier: str
    languages: tuple[str, ...]


def library_files() -> tuple[Path, Path]:
    """Where the wheel keeps libespeak-ng and its espeak-ng-data folder.

    Only looks at files, so it is cheap enough for a constructor. Raises EspeakUnavailable.
    """
    try:
        import espeakng_loader  # type: ignore[import-untyped]
    except ImportError as exc:
        raise EspeakUnavailable(
            f"espeak-ng is unavailable ({exc}); install it with `{INSTALL_FIX}`"
        ) from None
    try:
        library = Path(str(espeakng_loader.get_library_path()))
        data = Path(str(espeakng_loader.get_data_path()))
    except Exception as exc:  # the loader raises RuntimeError when its data folder is gone
        raise EspeakUnavailable(
            f"espeak-ng is unavailable ({exc}); reinstall it with `{INSTALL_FIX}`"
        ) from None
    for path in (library, data / "phontab"):
        if not path.is_file():
            raise EspeakUnavailable(
                f"espeak-ng is unavailable: {path} is missing; reinstall it with "
                f"`{INSTALL_FIX} --force-reinstall`"
            )
    return library, data


class Library:
    """The process's libespeak-ng, initialised. Every method needs ``_lock`` held."""

    def __init__(self, library: Path, data: Path) -> None:
        try:
            lib = ctypes.CDLL(str(library))
        except OSError as exc:
            raise EspeakUnavailable(
                f"espeak-ng is unavailable: loading {library} failed ({exc}); reinstall it "
                f"with `{INSTALL_FIX} --force-reinstall`"
            ) from None
        try:
            _declare(lib)
        except AttributeError as exc:  # an espeak-ng older than 1.52
            raise EspeakUnavailable(
                f"espeak-ng is unavailable: {library} is too old ({exc}); install a current "
                f"one with `{INSTALL_FIX} --upgrade`"
            ) from None
        # The path is the folder that holds espeak-ng-data. Without DONT_EXIT, missing data
        # would make the library call exit() and take the whole worker with it.
        rate = lib.espeak_Initialize(
            _AUDIO_OUTPUT_SYNCHRONOUS,
            _BUFFER_MS,
            os.fsencode(data.parent),
            _INITIALIZE_DONT_EXIT,
        )
        if rate <= 0:
            raise EspeakUnavailable(
                f"espeak-ng is unavailable: libespeak-ng could not read its data in {data}; "
                f"reinstall it with `{INSTALL_FIX} --force-reinstall`"
            )
        self._lib = lib
        self.sample_rate: int = rate
        self._voice: str | None = None
        self._sink: Callable[[Int16Array], bool] | None = None
        self._sink_error: BaseException | None = None
        # espeak-ng keeps only the C pointer: the Python object must live as long as the library.
        self._callback = _SynthCallback(self._on_audio)
        lib.espeak_SetSynthCallback(self._callback)

    def synthesize(
        self, text: str, voice: str, words_per_minute: int, sink: Callable[[Int16Array], bool]
    ) -> None:
        """Speak ``text``, passing each block of samples to ``sink`` as espeak-ng makes it.

        ``sink`` returns False to stop the utterance early.
        """
        if voice != self._voice:
            self._voice = None  # a failed switch may leave espeak-ng between voices
            if not self._select_voice(voice):
                raise UnknownVoice(voice)
            self._voice = voice
        self._lib.espeak_SetParameter(_RATE, words_per_minute, 0)
        # The library reads text, never options, so a leading "-" is just text; newlines would
        # end a clause, so whitespace is collapsed as the old stdin-fed program was given it.
        data = " ".join(text.replace("\0", " ").split()).encode() + b"\0"
        self._sink, self._sink_error = sink, None
        self._lib.espeak_ng_SetRandSeed(_RANDOM_SEED)
        try:
            status = self._lib.espeak_Synth(
                data, len(data), 0, _POS_CHARACTER, 0, _CHARS_UTF8 | _ENDPAUSE, None, None
            )
        finally:
            self._sink = None
        if self._sink_error is not None:
            error, self._sink_error = self._sink_error, None
            raise error
        if status != _EE_OK:
            raise RuntimeError(f"espeak_Synth failed with status {status}")

    def _select_voice(self, voice: str) -> bool:
        if self._lib.espeak_SetVoiceByName(voice.encode()) == _EE_OK:
            return True
        if not voice:
            return False
        # What the espeak-ng program does with -v: a name that is no voice's ("en-gb") is
        # taken as a language, and the voice preferred for it is used.
        language = ctypes.create_string_buffer(voice.encode())
        spec = _VoiceStruct(languages=ctypes.addressof(language))
        return bool(self._lib.espeak_SetVoiceByProperties(ctypes.byref(spec)) == _EE_OK)

    def _on_audio(self, wav: ctypes._Pointer[ctypes.c_short], count: int, _events: int) -> int:
        # Runs in the synthesising thread, inside espeak_Synth; returning 1 aborts the text.
        # wav is NULL once the text is done, and a block may be empty.
        sink = self._sink
        if sink is None or not wav or count <= 0:
            return 0
        try:
            samples: Int16Array = np.frombuffer(ctypes.string_at(wav, count * 2), np.int16)
            return 0 if sink(samples) else 1
        except BaseException as exc:  # an exception cannot cross the C frames: carry it over
            self._sink_error = exc
            return 1

    def voices(self) -> list[EspeakVoice]:
        found: list[EspeakVoice] = []
        table = self._lib.espeak_ListVoices(None)
        index = 0
        while table[index]:
            entry = table[index].contents
            found.append(
                EspeakVoice(
                    name=(entry.name or b"").decode(errors="replace"),
                    identifier=(entry.identifier or b"").decode(errors="replace"),
                    languages=_languages(entry.languages),
                )
            )
            index += 1
        return found


def _declare(lib: ctypes.CDLL) -> None:
    """Give ctypes the C signatures (from speak_lib.h and espeak_ng.h) of what is called."""
    lib.espeak_Initialize.argtypes = (ctypes.c_int, ctypes.c_int, ctypes.c_char_p, ctypes.c_int)
    lib.espeak_Initialize.restype = ctypes.c_int
    lib.espeak_SetSynthCallback.argtypes = (_SynthCallback,)
    lib.espeak_SetSynthCallback.restype = None
    lib.espeak_SetVoiceByName.argtypes = (ctypes.c_char_p,)
    lib.espeak_SetVoiceByName.restype = ctypes.c_int
    lib.espeak_SetVoiceByProperties.argtypes = (ctypes.POINTER(_VoiceStruct),)
    lib.espeak_SetVoiceByProperties.restype = ctypes.c_int
    lib.espeak_SetParameter.argtypes = (ctypes.c_int, ctypes.c_int, ctypes.c_int)
    lib.espeak_SetParameter.restype = ctypes.c_int
    lib.espeak_ng_SetRandSeed.argtypes = (ctypes.c_long,)
    lib.espeak_ng_SetRandSeed.restype = ctypes.c_int
    lib.espeak_Synth.argtypes = (
        ctypes.c_void_p,  # text
        ctypes.c_size_t,  # size
        ctypes.c_uint,  # position
        ctypes.c_int,  # position_type
        ctypes.c_uint,  # end_position
        ctypes.c_uint,  # flags
        ctypes.c_void_p,  # unique_identifier
        ctypes.c_void_p,  # user_data
    )
    lib.espeak_Synth.restype = ctypes.c_int
    lib.espeak_ListVoices.argtypes = (ctypes.c_void_p,)
    lib.espeak_ListVoices.restype = ctypes.POINTER(ctypes.POINTER(_VoiceStruct))


def _languages(address: int | None) -> tuple[str, ...]:
    names: list[str] = []
    while address and ctypes.string_at(address, 1) != b"\0":  # the priority byte; 0 ends it
        name = ctypes.string_at(address + 1)
        names.append(name.decode(errors="replace"))
        address += 2 + len(name)
    return tuple(names)
