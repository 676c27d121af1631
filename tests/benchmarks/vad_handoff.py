"""What one VAD window costs the event loop: scored in the session's task, or handed to a thread.

livekit's local VAD (``livekit.agents.inference.VAD``) sends each 32 ms window to an executor;
by default every stream has a one-thread executor of its own. ``openrtc-prewarm-livekit``'s
``prewarm.vad_inference=loop`` passes a ``LoopExecutor`` instead, which scores the window in
the stream's own task. This script runs the committed speech clip through ``--streams`` real
VAD streams at once on one event loop, both ways, and prints per window: the loop thread's CPU,
the whole process's CPU (every thread), and the bare ``predict`` call for scale.

Usage:
    uv run --all-packages python tests/benchmarks/vad_handoff.py [--streams 10] [--repeat 5]
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import time
import wave
from pathlib import Path
from typing import Any

import numpy as np

SPEECH_WAV = Path(__file__).resolve().parents[1] / "data" / "hello_appointment_16k.wav"
FRAME = 160  # 10 ms at 16 kHz, what a room track delivers


def speech() -> np.ndarray:
    with wave.open(str(SPEECH_WAV), "rb") as clip:
        pcm = np.frombuffer(clip.readframes(clip.getnframes()), dtype=np.int16)
    return np.concatenate([pcm, np.zeros(16000, dtype=np.int16)])


async def run_streams(executor: Any, streams: int, pcm: np.ndarray) -> tuple[int, float, float]:
    """Windows scored, loop-thread CPU s and process CPU s for ``streams`` streams at once."""
    from livekit import rtc
    from livekit.agents.inference import VAD
    from livekit.agents.vad import VADEventType

    vads = [VAD(executor=executor) if executor is not None else VAD() for _ in range(streams)]
    opened = [vad.stream() for vad in vads]

    async def consume(stream: Any) -> int:
        return sum([event.type == VADEventType.INFERENCE_DONE async for event in stream])

    thread0, process0 = time.thread_time(), time.process_time()
    for stream in opened:
        for start in range(0, len(pcm) - FRAME + 1, FRAME):
            frame = pcm[start : start + FRAME]
            stream.push_frame(rtc.AudioFrame(frame.tobytes(), 16000, 1, FRAME))
        stream.end_input()
    windows = sum(await asyncio.gather(*(consume(stream) for stream in opened)))
    thread_s, process_s = time.thread_time() - thread0, time.process_time() - process0
    for stream in opened:
        await stream.aclose()
    return windows, thread_s, process_s


def predict_us(pcm: np.ndarray, rounds: int = 2000) -> float:
    import livekit.local_inference as local_inference

    vad = local_inference.VAD()
    window = pcm[: local_inference.VAD_WINDOW_SAMPLES]
    for _ in range(50):
        vad.predict(window)
    started = time.perf_counter()
    for _ in range(rounds):
        vad.predict(window)
    return (time.perf_counter() - started) / rounds * 1e6


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--streams", type=int, default=10, help="VAD streams at once")
    parser.add_argument("--repeat", type=int, default=5, help="runs of each way; medians shown")
    args = parser.parse_args()

    import livekit.local_inference as local_inference
    from openrtc_prewarm_livekit.loop_executor import SHARED

    local_inference.init_vad()
    pcm = speech()
    ways = {"thread (livekit's default)": None, "loop (LoopExecutor)": SHARED}
    figures: dict[str, list[tuple[float, float]]] = {way: [] for way in ways}
    for _ in range(args.repeat):
        for way, executor in ways.items():  # interleaved, so drift on a shared host hits both
            windows, thread_s, process_s = asyncio.run(run_streams(executor, args.streams, pcm))
            figures[way].append((thread_s / windows * 1e6, process_s / windows * 1e6))
    print(f"{args.streams} streams x {len(pcm) / 16000:.1f} s of audio, {args.repeat} runs each")
    print(f"bare predict: {predict_us(pcm):.1f} us per window (mean of 2000)")
    print(f"{'way':28} {'loop thread us/window':>22} {'process us/window':>18}")
    medians = {}
    for way, runs in figures.items():
        medians[way] = (
            statistics.median(r[0] for r in runs),
            statistics.median(r[1] for r in runs),
        )
        print(f"{way:28} {medians[way][0]:22.1f} {medians[way][1]:18.1f}")
    (thread_loop, thread_all), (loop_loop, loop_all) = medians.values()
    print(
        f"loop / thread: loop thread {loop_loop / thread_loop:.2f}x, "
        f"process {loop_all / thread_all:.2f}x"
    )


if __name__ == "__main__":
    main()
