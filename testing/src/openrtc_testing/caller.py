"""A scripted human caller: joins a room with the real `livekit` SDK, speaks, and listens.

The Caller publishes a microphone track, plays speech into it in real time, and measures the
remote audio it receives (how much, how much of it is speech, when speech first arrived). It also
keeps the transcriptions agents publish, from `lk.transcription` text streams and from the legacy
`transcription_received` event.
"""

from __future__ import annotations

import asyncio
import bisect
import contextlib
import json
import secrets
import time
import wave
from collections.abc import Awaitable, Callable, Coroutine
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

import numpy as np
from livekit import rtc

from openrtc_testing.dispatch import ServerAddress, ServerAdmin, make_token
from openrtc_testing.env import new_room_name

T = TypeVar("T")

TRANSCRIPTION_TOPIC = "lk.transcription"
FRAME_MS = 20
# Speech from TTS or a person sits well above this; Opus-decoded silence and comfort noise
# stay far below it. In int16 units (full scale 32767), roughly -38 dBFS.
DEFAULT_SPEECH_RMS = 400.0
# A pause at least this long separates two utterances in `AudioStats.speech_onsets`.
UTTERANCE_GAP_S = 0.5


@dataclass
class AudioStats:
    """What one remote participant's audio sounded like, as received."""

    received_s: float = 0.0
    speech_s: float = 0.0
    peak_rms: float = 0.0
    first_audio_at: float | None = None
    first_speech_at: float | None = None
    last_speech_at: float | None = None
    speech_onsets: list[float] = field(default_factory=list)
    speech_frame_times: list[float] = field(default_factory=list, repr=False)
    pcm: bytearray = field(default_factory=bytearray, repr=False)


@dataclass(frozen=True)
class TranscriptEvent:
    """One transcription an agent published. `participant_identity` is whom it transcribes:
    agents send a user's transcript under the user's identity and their own under theirs."""

    participant_identity: str
    text: str
    final: bool
    segment_id: str
    track_sid: str
    source: str  # "text_stream" or "legacy"
    received_at: float


def read_wav(path: str | Path) -> tuple[bytes, int]:
    """16-bit mono PCM and its sample rate, from a WAV file."""
    with wave.open(str(path), "rb") as wav:
        if wav.getsampwidth() != 2 or wav.getnchannels() != 1:
            raise ValueError(
                f"{path} must be 16-bit mono PCM; convert it with `sox in.wav -b 16 -c 1 out.wav`"
            )
        return wav.readframes(wav.getnframes()), wav.getframerate()


def frame_rms(frame: rtc.AudioFrame) -> float:
    samples = np.frombuffer(frame.data, dtype=np.int16).astype(np.float64)
    if samples.size == 0:
        return 0.0
    return float(np.sqrt(np.mean(samples * samples)))


class Caller:
    """One participant in a room, driven by a test. Create, `await join()`, then talk."""

    def __init__(
        self,
        server: ServerAddress,
        room: str,
        identity: str | None = None,
        *,
        sample_rate: int = 16_000,
        speech_rms: float = DEFAULT_SPEECH_RMS,
        attributes: dict[str, str] | None = None,
    ) -> None:
        self.server = server
        self.room_name = room
        self.identity = identity or f"caller-{secrets.token_hex(3)}"
        self.sample_rate = sample_rate
        self.speech_rms = speech_rms
        self.attributes = attributes
        self.heard: dict[str, AudioStats] = {}
        self.transcripts: list[TranscriptEvent] = []
        self.joined_at: float | None = None
        # When the last `say()` finished speaking (before its trailing silence), monotonic.
        self.last_said_at: float | None = None
        self.room = rtc.Room()
        self._source: rtc.AudioSource | None = None
        self._publication: rtc.LocalTrackPublication | None = None
        self._tasks: set[asyncio.Task[None]] = set()
        self._changed = asyncio.Event()
        self._left = False

    @property
    def track_sid(self) -> str | None:
        """The sid of this caller's microphone track, once published."""
        return None if self._publication is None else self._publication.sid

    async def join(self, timeout_s: float = 15.0, *, microphone: bool = True) -> Caller:
        """Connect and publish a microphone track; ``microphone=False`` only listens (the agent
        then has no audio to run its VAD on: a call that costs the worker little)."""
        token = make_token(
            self.server, room=self.room_name, identity=self.identity, attributes=self.attributes
        )
        self.room.on("track_subscribed", self._on_track_subscribed)
        self.room.on("transcription_received", self._on_legacy_transcription)
        self.room.on("participant_connected", lambda *_: self._notify())
        self.room.register_text_stream_handler(TRANSCRIPTION_TOPIC, self._on_transcription_stream)
        await asyncio.wait_for(
            self.room.connect(self.server.url, token, rtc.RoomOptions(auto_subscribe=True)),
            timeout_s,
        )
        if microphone:
            await self.publish_microphone(timeout_s)
        self.joined_at = time.monotonic()
        return self

    async def publish_microphone(self, timeout_s: float = 15.0) -> None:
        """Publish the microphone track of a caller that joined with ``microphone=False``."""
        self._source = rtc.AudioSource(self.sample_rate, 1, queue_size_ms=200)
        track = rtc.LocalAudioTrack.create_audio_track("microphone", self._source)
        options = rtc.TrackPublishOptions(source=rtc.TrackSource.SOURCE_MICROPHONE)
        self._publication = await asyncio.wait_for(
            self.room.local_participant.publish_track(track, options), timeout_s
        )

    async def say(
        self,
        speech: str | Path | bytes,
        *,
        sample_rate: int | None = None,
        trailing_silence_s: float = 0.6,
    ) -> float:
        """Play a WAV file or raw 16-bit mono PCM into the microphone at real-time speed.

        Returns the seconds of speech played. Silence follows so a VAD hears the turn end.
        """
        source = self._require_source()
        if isinstance(speech, bytes):
            pcm, rate = speech, sample_rate or self.sample_rate
        else:
            pcm, rate = read_wav(speech)
        silence = np.zeros(self.sample_rate * FRAME_MS // 1000, dtype=np.int16).tobytes()
        await self._play(source, self._frames(pcm, rate))
        # What is still queued plays out after this; that moment is when the speech ended.
        self.last_said_at = time.monotonic() + source.queued_duration
        await self._play(source, [silence] * round(trailing_silence_s * 1000 / FRAME_MS))
        await source.wait_for_playout()
        return len(pcm) / 2 / rate

    async def take_turn(
        self, speech: str | Path, agent: str, timeout_s: float, *, plays_s: float = 4.0
    ) -> float:
        """Say ``speech``, wait until ``agent`` (its identity) answers, then ``plays_s`` more
        for the reply to play out, so a next turn does not talk over it. Returns the seconds
        from the end of the speech to the reply's first audio, as the caller heard them."""
        await self.say(speech)
        assert self.last_said_at is not None
        heard = await self.wait_for_speech(timeout_s, participant=agent, after=self.last_said_at)
        await asyncio.sleep(plays_s)
        return heard - self.last_said_at

    async def _play(self, source: rtc.AudioSource, chunks: list[bytes]) -> None:
        # The source's short queue makes capture_frame block, which paces us at real time.
        for chunk in chunks:
            frame = rtc.AudioFrame(chunk, self.sample_rate, 1, len(chunk) // 2)
            await source.capture_frame(frame)

    def _frames(self, pcm: bytes, rate: int) -> list[bytes]:
        if rate != self.sample_rate:
            resampler = rtc.AudioResampler(rate, self.sample_rate, num_channels=1)
            resampled = resampler.push(bytearray(pcm)) + resampler.flush()
            pcm = b"".join(bytes(f.data) for f in resampled)
        step = self.sample_rate * FRAME_MS // 1000 * 2
        chunks = [pcm[i : i + step] for i in range(0, len(pcm), step)]
        if chunks and len(chunks[-1]) < step:
            chunks[-1] = chunks[-1] + bytes(step - len(chunks[-1]))
        return chunks

    async def wait_for_speech(
        self, timeout_s: float, *, after: float | None = None, participant: str | None = None
    ) -> float:
        """Wait until a remote participant's audio is speech; return when (time.monotonic()).

        `after` ignores speech heard before that moment, e.g. a greeting before `say()`.
        """

        def heard_speech() -> float | None:
            firsts = []
            for identity, stats in self.heard.items():
                if participant is not None and identity != participant:
                    continue
                times = stats.speech_frame_times
                index = 0 if after is None else bisect.bisect_right(times, after)
                if index < len(times):
                    firsts.append(times[index])
            return min(firsts, default=None)

        try:
            return await self._wait_until(heard_speech, timeout_s)
        except TimeoutError:
            raise TimeoutError(
                f"{self.identity} heard no speech within {timeout_s:.1f} s in room "
                f"{self.room_name!r}; heard so far: {self.describe_heard()}"
            ) from None

    async def wait_for_audio(
        self, timeout_s: float, *, participant: str | None = None, seconds: float = 0.0
    ) -> AudioStats:
        """Wait until more than `seconds` of audio (speech or not) arrived from a participant."""

        def flowing() -> AudioStats | None:
            for identity, stats in self.heard.items():
                if participant in (None, identity) and stats.received_s > seconds:
                    return stats
            return None

        try:
            return await self._wait_until(flowing, timeout_s)
        except TimeoutError:
            raise TimeoutError(
                f"{self.identity} received no audio from {participant or 'anyone'} within "
                f"{timeout_s:.1f} s in room {self.room_name!r}; heard: {self.describe_heard()}"
            ) from None

    async def wait_for_transcript(self, timeout_s: float, *, contains: str = "") -> TranscriptEvent:
        """Wait for a final transcription whose text contains `contains` (case-insensitive)."""
        needle = contains.lower()

        def found() -> TranscriptEvent | None:
            for event in self.transcripts:
                if event.final and needle in event.text.lower():
                    return event
            return None

        try:
            return await self._wait_until(found, timeout_s)
        except TimeoutError:
            texts = [event.text for event in self.transcripts]
            raise TimeoutError(
                f"no final transcript containing {contains!r} within {timeout_s:.1f} s; got {texts}"
            ) from None

    async def wait_for_participant(
        self, timeout_s: float, *, identity: str | None = None, agent: bool = False
    ) -> rtc.RemoteParticipant:
        """Wait for a remote participant by identity, or for any agent when `agent=True`."""
        agent_kind = rtc.ParticipantKind.PARTICIPANT_KIND_AGENT

        def present() -> rtc.RemoteParticipant | None:
            for remote in self.room.remote_participants.values():
                if identity is not None and remote.identity != identity:
                    continue
                if agent and remote.kind != agent_kind:
                    continue
                return remote
            return None

        try:
            return await self._wait_until(present, timeout_s)
        except TimeoutError:
            seen = sorted(self.room.remote_participants)
            raise TimeoutError(
                f"no {'agent' if agent else 'participant'} {identity or ''} joined "
                f"{self.room_name!r} within {timeout_s:.1f} s; present: {seen}"
            ) from None

    def describe_heard(self) -> str:
        if not self.heard:
            return "no remote audio track"
        return "; ".join(
            f"{who}: {s.received_s:.2f} s received, {s.speech_s:.2f} s speech, "
            f"peak rms {s.peak_rms:.0f}"
            for who, s in self.heard.items()
        )

    def heard_wav(self, participant: str, path: str | Path) -> Path:
        """Write what `participant` sounded like (16 kHz mono) to a WAV, for a human to hear."""
        out = Path(path)
        with wave.open(str(out), "wb") as wav:
            wav.setnchannels(1)
            wav.setsampwidth(2)
            wav.setframerate(16_000)
            wav.writeframes(bytes(self.heard[participant].pcm))
        return out

    async def leave(self) -> None:
        """Stop listening and disconnect; safe to call more than once."""
        if self._left:
            return
        self._left = True
        for task in list(self._tasks):
            task.cancel()
        for task in list(self._tasks):
            with contextlib.suppress(asyncio.CancelledError):
                await task
        self._tasks.clear()
        self.room.unregister_text_stream_handler(TRANSCRIPTION_TOPIC)
        await self.room.disconnect()
        if self._source is not None:
            await self._source.aclose()
            self._source = None

    async def _wait_until(self, check: Callable[[], T | None], timeout_s: float) -> T:
        async with asyncio.timeout(timeout_s):
            while True:
                self._changed.clear()
                result = check()
                if result is not None:
                    return result
                await self._changed.wait()

    def _notify(self) -> None:
        self._changed.set()

    def _require_source(self) -> rtc.AudioSource:
        if self._source is None:
            raise RuntimeError(f"{self.identity} has not joined; `await caller.join()` first")
        return self._source

    def _spawn(self, coro: Coroutine[Any, Any, None]) -> None:
        task = asyncio.get_running_loop().create_task(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    def _on_track_subscribed(
        self,
        track: rtc.Track,
        publication: rtc.RemoteTrackPublication,
        participant: rtc.RemoteParticipant,
    ) -> None:
        if track.kind == rtc.TrackKind.KIND_AUDIO:
            self._spawn(self._listen(track, participant.identity))

    async def _listen(self, track: rtc.Track, identity: str) -> None:
        stats = self.heard.setdefault(identity, AudioStats())
        stream = rtc.AudioStream.from_track(track=track, sample_rate=16_000, num_channels=1)
        try:
            async for event in stream:
                self._measure(stats, event.frame)
        finally:
            await stream.aclose()

    def _measure(self, stats: AudioStats, frame: rtc.AudioFrame) -> None:
        now = time.monotonic()
        rms = frame_rms(frame)
        stats.received_s += frame.duration
        stats.peak_rms = max(stats.peak_rms, rms)
        stats.pcm.extend(bytes(frame.data))
        if stats.first_audio_at is None:
            stats.first_audio_at = now
        self._notify()
        if rms >= self.speech_rms:
            if stats.last_speech_at is None or now - stats.last_speech_at >= UTTERANCE_GAP_S:
                stats.speech_onsets.append(now)
            stats.speech_s += frame.duration
            stats.first_speech_at = stats.first_speech_at or now
            stats.last_speech_at = now
            stats.speech_frame_times.append(now)

    def _on_legacy_transcription(
        self,
        segments: list[rtc.TranscriptionSegment],
        participant: rtc.Participant | None,
        publication: rtc.TrackPublication | None,
    ) -> None:
        who = participant.identity if participant is not None else ""
        track_sid = publication.sid if publication is not None else ""
        now = time.monotonic()
        for segment in segments:
            self.transcripts.append(
                TranscriptEvent(
                    who, segment.text, segment.final, segment.id, track_sid, "legacy", now
                )
            )
        self._notify()

    def _on_transcription_stream(self, reader: rtc.TextStreamReader, identity: str) -> None:
        self._spawn(self._read_transcription(reader, identity))

    async def _read_transcription(self, reader: rtc.TextStreamReader, identity: str) -> None:
        try:
            text = await reader.read_all()
        except rtc.StreamError:
            # the room went away mid-stream (a hang-up): a half transcript says nothing
            return
        # Attributes are complete only after the stream ends: the final flag comes with it.
        attributes = reader.info.attributes or {}
        self.transcripts.append(
            TranscriptEvent(
                participant_identity=identity,
                text=text,
                final=attributes.get("lk.transcription_final", "false") == "true",
                segment_id=attributes.get("lk.segment_id", ""),
                track_sid=attributes.get("lk.transcribed_track_id", ""),
                source="text_stream",
                received_at=time.monotonic(),
            )
        )
        self._notify()


async def greeted_caller(
    admin: ServerAdmin,
    join: Callable[[str], Awaitable[Caller]],
    agent_name: str,
    *,
    agent: str = "dental",
    prefix: str = "call",
    timeout_s: float = 60.0,
) -> tuple[Caller, rtc.RemoteParticipant]:
    """Make a room, dispatch ``agent_name`` to it with ``{"agent": agent}`` metadata, join it
    with ``join(room)`` (a ``caller_factory``), and return once the agent's greeting started:
    the caller and the agent participant."""
    room = new_room_name(prefix)
    await admin.create_room(room)
    await admin.create_dispatch(
        agent_name=agent_name, room=room, metadata=json.dumps({"agent": agent})
    )
    caller = await join(room)
    participant = await caller.wait_for_participant(timeout_s, agent=True)
    await caller.wait_for_speech(timeout_s, participant=participant.identity)
    return caller, participant
