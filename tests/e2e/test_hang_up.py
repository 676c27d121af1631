"""A caller who hangs up frees the job's slot with the call, not when the room is deleted.

The caller leaves and the room stays (the server deletes an emptied room about 20 s later, its
departure timeout). With ``session_close_ends_job`` (the default) the job ends as soon as
livekit closes the session: the snapshot's ``active`` is 0 again within a few seconds, in
every isolation mode, and the session counts as succeeded. Turned off, the job outlives the
call as livekit's own executor lets it.
"""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

import pytest
from openrtc_testing.apps import write_pool_app
from openrtc_testing.calls import ListeningCall
from openrtc_testing.dispatch import ServerAdmin
from openrtc_testing.localserver import LocalLiveKitServer
from openrtc_testing.process import WorkerProcess

pytestmark = pytest.mark.e2e

NAME = "hang-up-e2e"
TIMEOUT = 90.0
DEPARTURE_S = 20.0
"""livekit-server's default departure timeout: how long an emptied room, and with livekit's
own behaviour its job, lives on."""
FREED_WITHIN_S = 8.0
"""Well inside the departure timeout: a job still live then outlived its call. What the slot
waits for (measured: about 4.7 s in all) is livekit's: the agent hears of the hang-up some
2.5 s after the caller left, and closing the session waits up to its
``session_close_transcript_timeout`` (2 s) for the caller's last transcript; the job then
ends within milliseconds."""
GREETED_S = 6.0
"""Longer than the pre-rendered greeting the agent plays first."""
BENCHMARKS = Path(__file__).resolve().parents[1] / "benchmarks"
MODES = {
    "coroutine": (),
    "process": ("--isolation", "process", "--process-num-idle-processes", "1"),
    "hybrid": ("--isolation", "hybrid", "--hybrid-hosts", "1"),
}


def worker(tmp: Path, server: LocalLiveKitServer, *extra: str) -> WorkerProcess:
    from openrtc_demo import AGENTS_DIR

    app = tmp / "app.py"
    write_pool_app(app, dispatch_name=NAME, import_paths=(BENCHMARKS,))
    return WorkerProcess(
        app,
        server,
        str(AGENTS_DIR),
        *extra,
        snapshot_file=tmp / "snapshot.json",
        env={"OPENRTC_DISABLE_PLUGINS": "openrtc-exporter-prometheus"},
    )


def active(process: WorkerProcess) -> int | None:
    snapshot = process.snapshot()
    return None if snapshot is None else int(snapshot["active"])


async def active_becomes(process: WorkerProcess, value: int, within_s: float) -> float | None:
    """Seconds until the snapshot's ``active`` is ``value``; None if not within ``within_s``."""
    began = time.monotonic()
    while time.monotonic() - began < within_s:
        if active(process) == value:
            return time.monotonic() - began
        await asyncio.sleep(0.1)
    return None


async def hang_up(
    server: LocalLiveKitServer, admin: ServerAdmin, process: WorkerProcess
) -> float | None:
    """One call; the caller leaves and the room stays. Seconds until the slot was free."""
    call = await ListeningCall(server, admin, NAME, prefix="hang-up").start()
    assert call.error is None, (call.error, process.tail())
    assert await active_becomes(process, 1, TIMEOUT) is not None, process.snapshot()
    assert call.caller is not None
    # after the greeting: a session closed mid-speech spends livekit's interruption timeout
    # (about 2 s) stopping it before it reports closed, which is livekit's to change
    await asyncio.sleep(GREETED_S)
    await call.caller.leave()
    return await active_becomes(process, 0, FREED_WITHIN_S)


@pytest.mark.parametrize("mode", list(MODES))
async def test_a_hang_up_frees_the_slot_at_once(
    livekit_server: LocalLiveKitServer, livekit_admin: ServerAdmin, tmp_path: Path, mode: str
) -> None:
    serving = worker(tmp_path, livekit_server, *MODES[mode])
    try:
        await serving.start()
        await serving.wait_for_line("registered", TIMEOUT)
        freed = await hang_up(livekit_server, livekit_admin, serving)
        assert freed is not None, f"still active {FREED_WITHIN_S} s after the hang-up"
        print(f"\n{mode}: slot free {freed:.2f} s after the caller left")
        snapshot = serving.snapshot() or {}
        assert (snapshot["started"], snapshot["succeeded"], snapshot["failed"]) == (1, 1, 0)
        assert "ending the job" in "".join(serving.log), serving.tail()
    finally:
        await serving.stop()


async def test_turned_off_the_job_outlives_the_call_as_in_livekit(
    livekit_server: LocalLiveKitServer, livekit_admin: ServerAdmin, tmp_path: Path
) -> None:
    serving = worker(tmp_path, livekit_server, "--no-session-close-ends-job")
    try:
        await serving.start()
        await serving.wait_for_line("registered", TIMEOUT)
        assert await hang_up(livekit_server, livekit_admin, serving) is None
        assert active(serving) == 1
        # it ends when the server deletes the emptied room
        assert await active_becomes(serving, 0, DEPARTURE_S + TIMEOUT) is not None
    finally:
        await serving.stop()
