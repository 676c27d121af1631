"""The server goes away under a registered worker with a live call, and comes back.

Restarted: livekit-server is stopped (its rooms die with it) and started again on the same
ports a few seconds later. Frozen: SIGSTOP until the worker notices, then 3 s more, then
SIGCONT (its rooms survive). Either way the worker notices, reconnects and registers again
(its retries wait 1, 2, 4, 8, then 10 s, so within about 10 s of the server answering), the
session of the call that was live ends (counted once, nothing left active) by the time its
caller has hung up, a new call is served afterwards, and the worker never exits. The timeline
is printed.

Crashed, caller gone: the server is killed (no one is told their room is gone) and the caller
hangs up while it is down. The agent's connection comes back into a new room of the same name
with no one else in it, where nothing would ever close its session; the job must end on its
own (``openrtc.caller_gone``) and free its slot.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Callable
from pathlib import Path

import pytest
import pytest_asyncio
from openrtc_testing.apps import write_pool_app
from openrtc_testing.calls import ListeningCall
from openrtc_testing.dispatch import ServerAdmin
from openrtc_testing.localserver import LocalLiveKitServer
from openrtc_testing.process import WorkerProcess
from openrtc_testing.server_binary import ServerUnavailable, find_server_binary

pytestmark = pytest.mark.e2e

NAME = "server-faults-e2e"
TIMEOUT = 90.0
REREGISTER_WITHIN_S = 45.0
"""The retry delay caps at 10 s; the rest is room for a loaded machine."""
BENCHMARKS = Path(__file__).resolve().parents[1] / "benchmarks"


@pytest_asyncio.fixture
async def own_server() -> AsyncIterator[LocalLiveKitServer]:
    """A server of this test's own: the session's shared one must not go away."""
    try:
        server = await asyncio.to_thread(LocalLiveKitServer(find_server_binary()).start)
    except ServerUnavailable as exc:
        pytest.fail(str(exc), pytrace=False)
    yield server
    await asyncio.to_thread(server.stop)


def registrations(worker: WorkerProcess) -> int:
    return sum("registered (" in line for line in worker.log)


async def until(check: Callable[[], bool], within_s: float) -> float | None:
    """Seconds until ``check()`` held; None if it did not within ``within_s``."""
    began = time.monotonic()
    while time.monotonic() - began < within_s:
        if check():
            return time.monotonic() - began
        await asyncio.sleep(0.2)
    return None


@pytest.mark.parametrize("fault", ["restart", "freeze", "crash-caller-gone"])
async def test_the_worker_comes_back_with_the_server(
    own_server: LocalLiveKitServer, tmp_path: Path, fault: str
) -> None:
    from openrtc_demo import AGENTS_DIR

    app = tmp_path / "app.py"
    write_pool_app(app, dispatch_name=NAME, import_paths=(BENCHMARKS,))
    worker = WorkerProcess(
        app,
        own_server,
        str(AGENTS_DIR),
        snapshot_file=tmp_path / "snapshot.json",
        env={"OPENRTC_DISABLE_PLUGINS": "openrtc-exporter-prometheus"},
    )
    admin = ServerAdmin(own_server)
    live: ListeningCall | None = None
    try:
        await worker.start()
        await worker.wait_for_line("registered", TIMEOUT)
        live = await ListeningCall(own_server, admin, NAME, prefix="fault").start()
        assert live.error is None, (live.error, worker.tail())

        began = time.monotonic()
        if fault == "freeze":
            own_server.freeze()
            await worker.wait_for_line("lost the connection", TIMEOUT)
            await asyncio.sleep(3.0)
            own_server.thaw()
        else:
            crash = fault == "crash-caller-gone"
            restarted = asyncio.create_task(asyncio.to_thread(own_server.restart, 3.0, crash=crash))
            if crash:
                # the server dies without a word to anyone, the caller hangs up while it is
                # down: the agent's connection comes back into a new, empty room
                await asyncio.sleep(1.0)
                await live.end()
            await restarted
        back = time.monotonic() - began
        noticed = "lost the connection to LiveKit" in "".join(worker.log)
        reregistered = await until(lambda: registrations(worker) >= 2, REREGISTER_WITHIN_S)
        assert noticed and reregistered is not None, worker.tail()

        if fault != "crash-caller-gone":
            # a restart took the call's room with it (the agent and the caller meet again in
            # a new one), after a freeze it may live on: the caller hangs up now; the job must
            # be gone after it, however the call ended
            await live.end()

        def nothing_active() -> bool:
            snapshot = worker.snapshot() or {}
            return snapshot.get("active") == 0

        assert await until(nothing_active, TIMEOUT) is not None, (worker.snapshot(), worker.tail())
        snapshot = worker.snapshot() or {}
        assert snapshot["started"] == 1, snapshot
        assert snapshot["succeeded"] + snapshot["failed"] + snapshot["cancelled"] == 1, snapshot

        after = await ListeningCall(own_server, admin, NAME, prefix="fault").start()
        assert after.error is None, (after.error, worker.tail())
        await after.end()
        assert worker.returncode is None, worker.tail()
        print(
            f"\n{fault}: server answering again {back:.1f} s after the fault began, worker "
            f"registered again {reregistered:.1f} s after that; a new call was served"
        )
    finally:
        if live is not None:
            await live.end()
        await admin.aclose()
        await worker.stop()
        worker.save_log(tmp_path / "worker.log")
