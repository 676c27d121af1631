"""What publishing the agent's voice costs, per session, at livekit's bitrate and at OpenRTC's.

Every live session publishes one audio track from a livekit ``AudioSource`` with a queue, as
livekit-agents' room output does. That source hands WebRTC 10 ms of silence whenever the agent
is not speaking, so the Opus encoder of every session runs all the time, on a thread of its own
(``AudioEncoderQueue``). This script connects ``--tracks`` participants to a local
livekit-server, each publishing such a track, and measures for each bitrate (0: livekit's
default, 48 kbit/s; 72000: ``session_defaults.output_bitrate``'s default), while the agents
speak and then while they are silent: the encoder threads' CPU, the whole process's CPU and
the bits sent, per track. Thread CPU comes from /proc (Linux only).

Usage:
    uv run --all-packages python tests/benchmarks/audio_output_cost.py [--tracks 10] [--repeat 3]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import time
import wave
from pathlib import Path
from typing import Any

import numpy as np
from density_sampler import thread_cores, thread_cpu

SPEECH_WAV = Path(__file__).resolve().parents[1] / "data" / "hello_appointment_16k.wav"
RATE = 24_000  # livekit-agents' room output publishes at 24 kHz
FRAME = RATE // 100  # 10 ms
ENCODER_THREAD = "AudioEncoderQue"  # comm names are cut at 15 characters


def speech_24k() -> np.ndarray:
    with wave.open(str(SPEECH_WAV), "rb") as clip:
        pcm16k = np.frombuffer(clip.readframes(clip.getnframes()), dtype=np.int16)
    at_24k = np.arange(0, len(pcm16k), 16_000 / RATE)
    return np.interp(at_24k, np.arange(len(pcm16k)), pcm16k).astype(np.int16)


async def speak(source: Any, pcm: np.ndarray) -> None:
    """Feed ``pcm`` in 10 ms frames, over and over; the source's queue paces it in real time."""
    from livekit import rtc

    frames = len(pcm) // FRAME
    index = 0
    while True:
        chunk = pcm[(index % frames) * FRAME : (index % frames + 1) * FRAME]
        await source.capture_frame(rtc.AudioFrame(chunk.tobytes(), RATE, 1, FRAME))
        index += 1


async def bytes_sent(tracks: list[Any]) -> int:
    total = 0
    for track in tracks:
        for stat in await track.get_stats():
            if stat.HasField("outbound_rtp"):
                total += stat.outbound_rtp.sent.bytes_sent
    return total


async def measure(
    server: Any, bitrate: int, tracks: int, seconds: float
) -> dict[str, dict[str, float]]:
    """Per track, while the agents speak and then while they are silent (silence after speech,
    as in a call: Opus picks its mode with some hysteresis): encoder ms/s, process ms/s and
    kbit/s sent, each over ``seconds``."""
    from livekit import api, rtc

    rooms, sources, published = [], [], []
    pcm = speech_24k()
    try:
        for index in range(tracks):
            token = (
                api.AccessToken(server.api_key, server.api_secret)
                .with_identity(f"agent-{index}")
                .with_grants(api.VideoGrants(room_join=True, room=f"audio-out-{bitrate}-{index}"))
                .to_jwt()
            )
            room = rtc.Room()
            rooms.append(room)
            await room.connect(server.url, token)
            source = rtc.AudioSource(RATE, 1, queue_size_ms=200)  # as livekit-agents' output
            track = rtc.LocalAudioTrack.create_audio_track("agent", source)
            options = rtc.TrackPublishOptions(source=rtc.TrackSource.SOURCE_MICROPHONE)
            if bitrate:
                options.audio_encoding.max_bitrate = bitrate
            await room.local_participant.publish_track(track, options)
            sources.append(source)
            published.append(track)
        feeders = [asyncio.create_task(speak(source, pcm)) for source in sources]
        await asyncio.sleep(3.0)  # past the connections' start
        speaking = await _steady(published, tracks, seconds)
        for feeder in feeders:
            feeder.cancel()
        await asyncio.sleep(1.0)  # the queued audio plays out
        silent = await _steady(published, tracks, seconds)
    finally:
        for room in rooms:
            await room.disconnect()
    return {"speaking": speaking, "silent": silent}


async def _steady(tracks: list[Any], count: int, seconds: float) -> dict[str, float]:
    cpu_before, sent_before = thread_cpu(os.getpid()), await bytes_sent(tracks)
    started = time.monotonic()
    await asyncio.sleep(seconds)
    after = thread_cpu(os.getpid())
    sent = await bytes_sent(tracks) - sent_before
    elapsed = time.monotonic() - started
    cores = thread_cores(cpu_before, after, elapsed)
    return {
        "encoder_ms": 1000 * cores.get(ENCODER_THREAD, 0.0) / count,
        "process_ms": 1000 * sum(cores.values()) / count,
        "kbit_s": sent * 8 / 1000 / elapsed / count,
    }


async def run(args: argparse.Namespace) -> None:
    from openrtc_testing.localserver import LocalLiveKitServer

    results: dict[tuple[str, int], list[dict[str, float]]] = {}
    with LocalLiveKitServer() as server:
        for _ in range(args.repeat):  # interleaved, so drift on a shared machine hits both
            for bitrate in args.bitrates:
                phases = await measure(server, bitrate, args.tracks, args.seconds)
                for phase, row in phases.items():
                    results.setdefault((phase, bitrate), []).append(row)
    print(
        f"{args.tracks} tracks, {args.seconds:g} s each, median of {args.repeat} runs, per track:"
    )
    print(
        f"{'agent':<9} {'bitrate':>15} {'encoder ms/s':>13} {'process ms/s':>13} "
        f"{'kbit/s':>8} {'encoder vs first':>17}"
    )
    for phase in ("silent", "speaking"):
        first = None
        for bitrate in args.bitrates:
            rows = results[(phase, bitrate)]
            med = {key: statistics.median(row[key] for row in rows) for key in rows[0]}
            first = first or med["encoder_ms"]
            label = "livekit (48000)" if bitrate == 0 else str(bitrate)
            print(
                f"{phase:<9} {label:>15} {med['encoder_ms']:>13.1f} {med['process_ms']:>13.1f} "
                f"{med['kbit_s']:>8.1f} {med['encoder_ms'] / first:>16.2f}x"
            )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--tracks", type=int, default=10)
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument(
        "--bitrates",
        type=lambda text: [int(v) for v in text.split(",")],
        default=[0, 72_000],
        help="comma-separated bit/s; 0 is livekit's default (default: 0,72000)",
    )
    asyncio.run(run(parser.parse_args()))


if __name__ == "__main__":
    main()
