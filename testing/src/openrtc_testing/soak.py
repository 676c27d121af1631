"""Many short calls against one worker at a steady concurrency, with its resources sampled.

A soak shows what a worker keeps after calls end: memory, asyncio tasks, threads, file
descriptors, child processes. Calls are ``ListeningCall``s held a fixed time; after every
``sample_every`` finished calls, once the calls in flight are done, the worker is sampled:
RSS, threads, open fds and child processes from ``/proc``, its asyncio tasks over its control
socket (``info``). Used by ``tests/benchmarks/soak.py``.
"""

from __future__ import annotations

import asyncio
import os
from pathlib import Path
from typing import Any

import attrs

from openrtc.control_socket import ask
from openrtc_testing.calls import ListeningCall, hold_call
from openrtc_testing.dispatch import ServerAddress, ServerAdmin


@attrs.frozen
class Sample:
    calls: int
    """Calls finished when the sample was taken."""
    rss_mib: float
    threads: int
    """Threads but livekit's native audio capture threads (``audio_capture_threads``)."""
    audio_capture_threads: int
    """livekit rtc's ``AudioSourceCapture`` threads, one per live call. Known to grow by one
    per call the server ends while the agent is still in the room (``KNOWN_LEAK``), so
    counted apart from ``threads``."""
    fds: int
    children: int
    asyncio_tasks: int
    active: int
    """Sessions the worker still counted live (0 between batches)."""
    loop_lag_p99_ms: float | None


COUNTED = ("asyncio_tasks", "threads", "fds", "children", "audio_capture_threads")
"""What a worker must not keep more of once its calls ended."""
SLACK = {"threads": 2, "audio_capture_threads": 2, "fds": 2}
"""More of these after warm-up is not a leak: thread pools (asyncio's executor, livekit's
runtime) start their threads lazily, up to a bound, and a file descriptor or two may be open
at the moment of a sample (the snapshot file being replaced, a connection; the 1,000-call
soak read 24, 23, 23, 24 at its samples). A leak grows with the calls."""
AUDIO_CAPTURE_THREAD = "AudioSourceCapt"
KNOWN_LEAK = (
    "livekit rtc keeps one native AudioSourceCapture thread per call that the server ends "
    "under a present agent (room deleted, participant removed): the engine closes the peer "
    "connection first, then the room unpublishes the agent's track; RtpSender removal fails "
    "on the closed connection and LocalParticipant::unpublish_track returns before "
    "publication.set_track(None), so the publication and its track keep each other (and the "
    "track its native source and the source its thread) alive for good. It happens with "
    "livekit's own thread executor too; a call the agent leaves first ends its thread"
)
AGENT_LEAVES_WITHIN_S = 15.0
"""How long a soak call waits, after its caller hung up, for the agent to leave before the
room is deleted: the ordinary end of a call, which does not hit ``KNOWN_LEAK``."""


@attrs.define
class SoakResult:
    samples: list[Sample] = attrs.field(factory=list)
    failed_calls: list[str] = attrs.field(factory=list)
    waited_full_s: float = 0.0
    """Seconds calls waited to be placed while the worker reported itself full."""

    @property
    def warm(self) -> Sample:
        """The sample after the first batch: imports done, caches filled."""
        return self.samples[1]

    def grew(self) -> dict[str, tuple[int, int]]:
        """Each counted resource there is more of at the end than after warm-up, beyond its
        ``SLACK``: ``{name: (after warm-up, at the end)}``."""
        last = self.samples[-1]
        pairs = {name: (getattr(self.warm, name), getattr(last, name)) for name in COUNTED}
        return {
            name: pair for name, pair in pairs.items() if pair[1] > pair[0] + SLACK.get(name, 0)
        }


def _descendants(pid: int) -> set[int]:
    found: set[int] = set()
    for task in Path(f"/proc/{pid}/task").iterdir():
        try:
            children = (task / "children").read_text().split()
        except OSError:
            continue
        for child in map(int, children):
            found |= {child, *_descendants(child)}
    return found


def thread_names(pid: int) -> dict[str, int]:
    """How many of the process's threads carry each name: where a growing count comes from."""
    names: dict[str, int] = {}
    for task in Path(f"/proc/{pid}/task").iterdir():
        try:
            name = (task / "comm").read_text().strip()
        except OSError:
            continue
        names[name] = names.get(name, 0) + 1
    return dict(sorted(names.items()))


def _rss_mib(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return 0.0


async def sample(pid: int, control_socket: Path, calls: int) -> Sample:
    info: dict[str, Any] = await ask(control_socket, {"op": "info"})
    names = thread_names(pid)
    capture = names.get(AUDIO_CAPTURE_THREAD, 0)
    return Sample(
        calls=calls,
        rss_mib=round(_rss_mib(pid), 1),
        threads=sum(names.values()) - capture,
        audio_capture_threads=capture,
        fds=len(os.listdir(f"/proc/{pid}/fd")),
        children=len(_descendants(pid)),
        asyncio_tasks=int(info["asyncio_tasks"]),
        active=int(info["active"]),
        loop_lag_p99_ms=info.get("loop_lag_p99_ms"),
    )


async def soak(
    server: ServerAddress,
    admin: ServerAdmin,
    *,
    agent_name: str,
    worker_pid: int,
    control_socket: Path,
    calls: int,
    concurrency: int,
    hold_s: float,
    sample_every: int,
) -> SoakResult:
    """Run ``calls`` calls, ``concurrency`` at a time, sampling between batches of
    ``sample_every`` (the first sample before any call)."""
    result = SoakResult()

    async def settled_sample(done: int) -> None:
        # let the worker end the last batch's jobs before counting what it kept
        for _ in range(100):
            taken = await sample(worker_pid, control_socket, done)
            if taken.active == 0:
                break
            await asyncio.sleep(0.2)
        result.samples.append(taken)

    gate = asyncio.Semaphore(concurrency)

    async def until_available() -> None:
        # LiveKit drops a dispatch while its only worker reports itself full (the first
        # calls' imports stall the loop, and the overload guard says so for a few seconds):
        # wait, as a dispatcher that retries would, and count the time
        began = loop.time()
        while True:
            info = await ask(control_socket, {"op": "info"})
            if info.get("load", 0.0) < 1.0:
                break
            await asyncio.sleep(0.2)  # the worker's state is polled, there is no event
        result.waited_full_s += loop.time() - began

    loop = asyncio.get_running_loop()
    # calls arrive one at a time, spaced so that about `concurrency` are live: a steady load,
    # not bursts (a burst of session starts stalls a worker's loop, and its overload guard
    # then rightly reports it full for a while, which is tests/e2e/test_overload_guard.py's)
    spacing = hold_s / concurrency

    async def one() -> None:
        async with gate:
            await until_available()
            call = ListeningCall(server, admin, agent_name, prefix="soak")
            held = await hold_call(call, hold_s, agent_leaves_within_s=AGENT_LEAVES_WITHIN_S)
        if not held.ok:
            result.failed_calls.append(call.error or f"dropped: {call.room}")

    await settled_sample(0)
    done = 0
    while done < calls:
        batch = min(sample_every, calls - done)
        started = []
        for _ in range(batch):
            started.append(asyncio.ensure_future(one()))
            await asyncio.sleep(spacing)
        await asyncio.gather(*started)
        done += batch
        await settled_sample(done)
    return result
