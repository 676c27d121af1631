"""Microphone and speaker for ``openrtc console`` in audio mode, as livekit session I/O.

PortAudio (through sounddevice, a livekit-agents dependency) calls the stream callbacks on its
own thread; they only move bytes under a lock and hand events to the session's loop. The
speaker reports each segment's playback to the session the way a room's audio track does, so
interruptions and transcripts stay in step with what was really heard.
"""

from __future__ import annotations

import asyncio
import threading
import time
from typing import Any

from livekit import rtc
from livekit.agents.voice import io

SAMPLE_RATE = 24_000
BLOCK_SAMPLES = SAMPLE_RATE // 50  # 20 ms per callback
BYTES_PER_SAMPLE = 2  # 16-bit mono


class MicrophoneInput(io.AudioInput):
    """Frames captured by the microphone, in order; dropped while the session is detached."""

    def __init__(self) -> None:
        super().__init__(label="console microphone")
        self._frames: asyncio.Queue[rtc.AudioFrame] = asyncio.Queue()
        self._attached = True

    def push(self, frame: rtc.AudioFrame) -> None:
        """Called on the session's loop for every captured block."""
        if self._attached:
            self._frames.put_nowait(frame)

    async def __anext__(self) -> rtc.AudioFrame:
        return await self._frames.get()

    def on_attached(self) -> None:
        self._attached = True

    def on_detached(self) -> None:
        self._attached = False


class SpeakerOutput(io.AudioOutput):
    """Plays the agent's speech; a segment ends when its audio has played or was cleared."""

    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        super().__init__(
            label="console speaker",
            capabilities=io.AudioOutputCapabilities(pause=False),
            sample_rate=SAMPLE_RATE,
        )
        self._loop = loop
        self._lock = threading.Lock()
        self._pending = bytearray()
        self._captured_s = 0.0
        self._played_s = 0.0
        self._started = False
        self._drained = asyncio.Event()
        self._interrupted = asyncio.Event()
        self._finishing: asyncio.Task[None] | None = None

    async def capture_frame(self, frame: rtc.AudioFrame) -> None:
        if self._finishing is not None and not self._finishing.done():
            # the previous segment is still playing: its end must be reported on its own
            await self._finishing
        await super().capture_frame(frame)
        with self._lock:
            self._pending += bytes(frame.data)
            self._captured_s += frame.duration
        self._drained.clear()

    def flush(self) -> None:
        super().flush()
        if self._captured_s > 0 and (self._finishing is None or self._finishing.done()):
            self._finishing = self._loop.create_task(self._report_segment_end())

    def clear_buffer(self) -> None:
        with self._lock:
            self._pending.clear()
        if self._captured_s > 0:
            self._interrupted.set()

    def fill(self, out: Any, frames: int) -> None:
        """Write the next ``frames`` samples into ``out``; called on PortAudio's thread."""
        wanted = frames * BYTES_PER_SAMPLE
        with self._lock:
            size = min(len(self._pending), wanted)
            out[:size] = self._pending[:size]
            del self._pending[:size]
            self._played_s += size / BYTES_PER_SAMPLE / SAMPLE_RATE
            first = size > 0 and not self._started
            self._started = self._started or size > 0
            emptied = size > 0 and not self._pending
        out[size:wanted] = bytes(wanted - size)
        if first:
            self._loop.call_soon_threadsafe(self._playback_started, time.time())
        if emptied:
            self._loop.call_soon_threadsafe(self._drained.set)

    def _playback_started(self, created_at: float) -> None:
        self.on_playback_started(created_at=created_at)

    async def _report_segment_end(self) -> None:
        waits = [
            asyncio.ensure_future(self._drained.wait()),
            asyncio.ensure_future(self._interrupted.wait()),
        ]
        try:
            await asyncio.wait(waits, return_when=asyncio.FIRST_COMPLETED)
        finally:
            for wait in waits:
                wait.cancel()
        interrupted = self._interrupted.is_set()
        with self._lock:
            position = min(self._played_s, self._captured_s) if interrupted else self._captured_s
            self._pending.clear()
            self._captured_s = self._played_s = 0.0
            self._started = False
        self._interrupted.clear()
        self._drained.clear()
        self.on_playback_finished(playback_position=position, interrupted=interrupted)


class LocalAudio:
    """The default microphone and speaker, opened as 24 kHz mono streams."""

    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        self.input = MicrophoneInput()
        self.output = SpeakerOutput(loop)
        self._loop = loop
        self._streams: list[Any] = []

    @classmethod
    def open(cls, loop: asyncio.AbstractEventLoop) -> LocalAudio:
        import sounddevice  # type: ignore[import-untyped]

        audio = cls(loop)
        common = {
            "samplerate": SAMPLE_RATE,
            "channels": 1,
            "dtype": "int16",
            "blocksize": BLOCK_SAMPLES,
        }
        audio._streams = [
            sounddevice.RawInputStream(callback=audio._captured, **common),
            sounddevice.RawOutputStream(callback=audio._playback, **common),
        ]
        for stream in audio._streams:
            stream.start()
        return audio

    def _captured(self, data: Any, frames: int, _time: Any, _status: Any) -> None:
        frame = rtc.AudioFrame(
            data=bytes(data), sample_rate=SAMPLE_RATE, num_channels=1, samples_per_channel=frames
        )
        self._loop.call_soon_threadsafe(self.input.push, frame)

    def _playback(self, out: Any, frames: int, _time: Any, _status: Any) -> None:
        self.output.fill(out, frames)

    def close(self) -> None:
        for stream in self._streams:
            stream.stop()
            stream.close()
        self._streams = []
