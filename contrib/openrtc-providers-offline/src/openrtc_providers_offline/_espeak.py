"""Speaking with the process's one libespeak-ng (bound in ``_libespeak``), off the event loop.

libespeak-ng keeps its state in process globals and is not thread-safe, so this module owns the
one copy a process has: it is loaded and initialised on first use, in synchronous mode
(``espeak_Synth`` returns once the text is spoken, handing each block of audio to a callback as
it is made), and every call into it holds ``_lock``. Utterances run on one dedicated thread, off
the event loop; ctypes releases the GIL for the length of each foreign call, so the loop keeps
running while espeak-ng synthesises, and each block reaches the loop as soon as it is made.
Nothing here starts a process.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import threading
from collections.abc import AsyncIterator, Callable
from concurrent.futures import ThreadPoolExecutor

import numpy as np
from livekit.agents import APIError, APITimeoutError

from ._libespeak import (
    INSTALL_FIX,
    VOICES_COMMAND,
    EspeakChunk,
    EspeakUnavailable,
    EspeakVoice,
    Library,
    UnknownVoice,
    library_files,
)

__all__ = [
    "INSTALL_FIX",
    "VOICES_COMMAND",
    "EspeakChunk",
    "EspeakUnavailable",
    "EspeakVoice",
    "Library",
    "UnknownVoice",
    "library_files",
    "prewarm",
    "sample_rate",
    "speak",
    "stream_espeak",
    "synthesize",
    "voices",
]

_lock = threading.Lock()
_library: Library | None = None
_library_error: EspeakUnavailable | None = None
_worker_lock = threading.Lock()
_worker: ThreadPoolExecutor | None = None


def _loaded() -> Library:
    """The initialised library; the caller holds ``_lock``."""
    global _library, _library_error
    if _library is None:
        if _library_error is not None:  # a broken install does not mend itself
            raise _library_error
        try:
            _library = Library(*library_files())
        except EspeakUnavailable as exc:
            _library_error = exc
            raise
    return _library


def _synth_thread() -> ThreadPoolExecutor:
    # One thread: utterances queue for it rather than occupying the loop's default executor
    # (which the STT's decodes use) while they wait for the lock.
    global _worker
    with _worker_lock:
        if _worker is None:
            _worker = ThreadPoolExecutor(max_workers=1, thread_name_prefix="openrtc-espeak")
        return _worker


def _before_fork() -> None:
    # A child must not start with the library in the middle of an utterance.
    _lock.acquire()


def _after_fork_in_parent() -> None:
    _lock.release()


def _after_fork_in_child() -> None:
    # The child has no synthesis thread, and the parent's locks may have been held at the fork.
    global _lock, _worker_lock, _worker
    _lock = threading.Lock()
    _worker_lock = threading.Lock()
    _worker = None


if hasattr(os, "register_at_fork"):  # POSIX; Windows has no fork
    os.register_at_fork(
        before=_before_fork,
        after_in_parent=_after_fork_in_parent,
        after_in_child=_after_fork_in_child,
    )


def sample_rate() -> int:
    """espeak-ng's output rate (22050 Hz), loading the library if needed. Blocks briefly."""
    with _lock:
        return _loaded().sample_rate


def voices() -> list[EspeakVoice]:
    """The voices espeak-ng has, loading the library if needed. Blocks briefly."""
    with _lock:
        return _loaded().voices()


def synthesize(
    text: str,
    *,
    voice: str,
    words_per_minute: int,
    sink: Callable[[EspeakChunk], bool],
) -> None:
    """Speak ``text`` in the calling thread, handing each block to ``sink`` as it is made.

    Waits for any other utterance to finish first. ``sink`` returns False to stop early.
    Raises UnknownVoice or EspeakUnavailable.
    """
    with _lock:
        library = _loaded()
        rate = library.sample_rate
        library.synthesize(
            text, voice, words_per_minute, lambda samples: sink(EspeakChunk(rate, samples))
        )


def speak(text: str, *, voice: str = "en-us", words_per_minute: int = 160) -> EspeakChunk:
    """The whole utterance at once, in the calling thread (for scripts and tests)."""
    blocks: list[EspeakChunk] = []
    synthesize(text, voice=voice, words_per_minute=words_per_minute, sink=_append_to(blocks))
    rate = blocks[0].sample_rate if blocks else sample_rate()
    samples = [block.samples for block in blocks]
    return EspeakChunk(rate, np.concatenate(samples) if samples else np.zeros(0, np.int16))


def _append_to(blocks: list[EspeakChunk]) -> Callable[[EspeakChunk], bool]:
    def append(block: EspeakChunk) -> bool:
        blocks.append(block)
        return True

    return append


def prewarm() -> None:
    """Load and initialise the library on the synthesis thread; returns at once."""
    _synth_thread().submit(_prewarm_now)


def _prewarm_now() -> None:
    with contextlib.suppress(EspeakUnavailable):  # the first utterance reports it
        sample_rate()


_DONE = object()


async def stream_espeak(
    text: str,
    *,
    voice: str,
    words_per_minute: int,
    read_timeout: float,
) -> AsyncIterator[EspeakChunk]:
    """Yield audio while espeak-ng is still speaking, so the first frame arrives early."""
    loop = asyncio.get_running_loop()
    queue: asyncio.Queue[object] = asyncio.Queue()
    stop = threading.Event()

    def deliver(chunk: EspeakChunk) -> bool:  # on the synthesis thread
        if stop.is_set():
            return False
        try:
            loop.call_soon_threadsafe(queue.put_nowait, chunk)
        except RuntimeError:  # the loop has closed: nobody is listening any more
            return False
        return True

    job = loop.run_in_executor(
        _synth_thread(),
        lambda: synthesize(text, voice=voice, words_per_minute=words_per_minute, sink=deliver),
    )
    # Runs on the loop after every chunk the job delivered, since those were queued first.
    job.add_done_callback(lambda _: queue.put_nowait(_DONE))
    try:
        while True:
            try:
                async with asyncio.timeout(read_timeout):
                    item = await queue.get()
            except TimeoutError:
                raise APITimeoutError(
                    f"espeak-ng produced no audio for {read_timeout:.1f}s; raise the TTS "
                    "conn_options timeout"
                ) from None
            if item is _DONE:
                break
            assert isinstance(item, EspeakChunk)
            yield item
            # espeak-ng outruns any consumer, so the queue is rarely empty and get() would
            # return without ever suspending: give the loop's other tasks a turn per block.
            await asyncio.sleep(0)
        try:
            job.result()
        except (UnknownVoice, RuntimeError) as exc:  # RuntimeError covers EspeakUnavailable
            raise APIError(str(exc), retryable=False) from None
    finally:
        # Stops an utterance still running (at its next block) or one still waiting its turn.
        stop.set()
        job.cancel()
