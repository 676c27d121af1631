"""Run espeak-ng as a subprocess and stream its WAV output as mono int16 chunks."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from dataclasses import dataclass

import numpy as np
from livekit.agents import APIError, APITimeoutError

from ._audio import Int16Array, WavFormat, parse_wav_header

_READ_SIZE = 16_384


@dataclass(frozen=True)
class EspeakChunk:
    sample_rate: int
    samples: Int16Array


async def stream_espeak(
    binary: str,
    text: str,
    *,
    voice: str,
    words_per_minute: int,
    read_timeout: float,
) -> AsyncIterator[EspeakChunk]:
    """Yield audio while espeak-ng is still speaking, so the first frame arrives early."""
    proc = await asyncio.create_subprocess_exec(
        binary,
        "--stdout",
        "--stdin",
        "-v",
        voice,
        "-s",
        str(words_per_minute),
        stdin=asyncio.subprocess.PIPE,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    assert proc.stdin is not None and proc.stdout is not None and proc.stderr is not None
    # Text goes through stdin so a sentence starting with "-" is never read as an option;
    # newlines would split it into separately phrased lines.
    proc.stdin.write(" ".join(text.split()).encode())
    proc.stdin.close()
    stderr_task = asyncio.create_task(proc.stderr.read())
    try:
        head = b""
        fmt: WavFormat | None = None
        while fmt is None:
            data = await _read(proc.stdout, read_timeout)
            if not data:
                break
            head += data
            fmt = parse_wav_header(head)
        if fmt is None:
            await proc.wait()
            err = (await stderr_task).decode(errors="replace").strip()
            raise APIError(
                f"espeak-ng exited with code {proc.returncode} before producing audio: {err}; "
                f"check that voice {voice!r} exists (`espeak-ng --voices`)",
                retryable=False,
            )
        block = fmt.num_channels * 2
        pending = head[fmt.data_offset :]
        while True:
            usable = len(pending) - len(pending) % block
            if usable:
                yield EspeakChunk(fmt.sample_rate, _mono(pending[:usable], fmt.num_channels))
                pending = pending[usable:]
            data = await _read(proc.stdout, read_timeout)
            if not data:
                break
            pending += data
        await proc.wait()
        if proc.returncode != 0:
            err = (await stderr_task).decode(errors="replace").strip()
            raise APIError(f"espeak-ng failed with code {proc.returncode}: {err}", retryable=False)
    finally:
        if proc.returncode is None:
            proc.kill()
            await proc.wait()
        stderr_task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await stderr_task


async def _read(stream: asyncio.StreamReader, limit_s: float) -> bytes:
    try:
        async with asyncio.timeout(limit_s):
            return await stream.read(_READ_SIZE)
    except TimeoutError:
        raise APITimeoutError(
            f"espeak-ng produced no audio for {limit_s:.1f}s; raise the TTS conn_options timeout"
        ) from None


def _mono(raw: bytes, num_channels: int) -> Int16Array:
    samples: Int16Array = np.frombuffer(raw, dtype=np.int16)
    if num_channels == 1:
        return samples
    mixed: Int16Array = samples.reshape(-1, num_channels).mean(axis=1).astype(np.int16)
    return mixed
