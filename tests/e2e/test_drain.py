"""SIGTERM on a worker started with the real command line: live calls finish, exit code 0."""

from __future__ import annotations

import asyncio
import signal
import textwrap
from pathlib import Path

import pytest
from openrtc_testing.caller import Caller
from openrtc_testing.dispatch import ServerAdmin
from openrtc_testing.env import new_room_name
from openrtc_testing.localserver import LocalLiveKitServer
from openrtc_testing.process import WorkerProcess

pytestmark = pytest.mark.e2e

CALLS = 10
TIMEOUT = 90.0
APP = """
import atexit
import sys

from openrtc_demo import AGENTS_DIR
from openrtc_providers_offline import offline_providers

from openrtc import AgentPool

stt, llm, tts = offline_providers()
pool = AgentPool(default_stt=stt, default_llm=llm, default_tts=tts, dispatch_name="drain-e2e")
pool.discover(AGENTS_DIR)
# the worker leaves without finalizing the interpreter (openrtc.cli.process_exit); what
# an app registers to run at exit must still run
atexit.register(lambda: print("app exit hook ran", file=sys.stderr, flush=True))

if __name__ == "__main__":
    pool.run()
"""


# hybrid: the calls spread over two session hosts, and the drain must wait for every one
ISOLATION_ARGS = {"coroutine": (), "hybrid": ("--isolation", "hybrid", "--hybrid-hosts", "2")}


def descendants(pid: int) -> set[int]:
    found: set[int] = set()
    for task in Path(f"/proc/{pid}/task").iterdir():
        for child in map(int, (task / "children").read_text().split()):
            found |= {child, *descendants(child)}
    return found


def alive(pid: int) -> bool:
    return Path(f"/proc/{pid}").exists()


@pytest.mark.parametrize("isolation", list(ISOLATION_ARGS))
async def test_sigterm_drains_live_calls_and_exits_zero(
    livekit_server: LocalLiveKitServer, livekit_admin: ServerAdmin, tmp_path: Path, isolation: str
) -> None:
    app = tmp_path / "app.py"
    app.write_text(textwrap.dedent(APP), encoding="utf-8")
    worker = WorkerProcess(
        app,
        livekit_server,
        "--max-concurrent-sessions",
        "20",
        "--drain-timeout",
        "120",
        *ISOLATION_ARGS[isolation],
        snapshot_file=tmp_path / "snapshot.json",
        env={
            "OPENRTC_DISABLE_PLUGINS": "openrtc-exporter-prometheus",
            # ten offline calls at once load this 2-core machine (the callers and the server
            # share it) to where the overload guard may refuse some (in hybrid, the host's
            # CPU passes 85 %); this test is about the drain, so the guard only refuses a loop
            # that is really stuck (its own test is tests/e2e/test_overload_guard.py)
            "OPENRTC_OVERLOAD_LOOP_LAG_MS": "1000",
            "OPENRTC_OVERLOAD_LOOP_BUSY": "0.95",
            "OPENRTC_OVERLOAD_HOST_CPU": "0",
        },
    )
    callers: list[Caller] = []
    try:
        await worker.start()
        await worker.wait_for_line("registered")
        helpers = descendants(worker.pid)
        assert len(helpers) == (2 if isolation == "hybrid" else 0), helpers
        rooms = [new_room_name(f"drain-{i}") for i in range(CALLS)]
        for index, room in enumerate(rooms):
            await livekit_admin.create_room(room)
            agent = "dental" if index % 2 else "restaurant"
            await livekit_admin.create_dispatch(
                agent_name="drain-e2e", room=room, metadata=f'{{"agent": "{agent}"}}'
            )
            callers.append(await Caller(livekit_server, room).join())
        try:
            agents = await asyncio.gather(
                *(c.wait_for_participant(TIMEOUT, agent=True) for c in callers)
            )
        except TimeoutError as exc:  # say why: the worker's log has its declines
            raise AssertionError(f"{exc}\nworker log:\n{worker.tail(6000)}") from exc
        await asyncio.gather(
            *(
                c.wait_for_speech(TIMEOUT, participant=a.identity)
                for c, a in zip(callers, agents, strict=True)
            )
        )

        worker.send_signal(signal.SIGTERM)
        await worker.wait_for_line("draining", TIMEOUT)
        # a call that starts after the signal is not taken by the draining worker
        late = new_room_name("late")
        await livekit_admin.create_room(late)
        await livekit_admin.create_dispatch(agent_name="drain-e2e", room=late)
        await asyncio.sleep(3)
        assert not [
            p
            for p in await livekit_admin.list_participants(late)
            if p.identity.startswith("agent-")
        ]
        # every live call still has its agent: nothing was dropped by the drain
        for caller, agent in zip(callers, agents, strict=True):
            present = {p.identity for p in await livekit_admin.list_participants(caller.room_name)}
            assert agent.identity in present, f"{caller.room_name} lost its agent"
        assert worker.returncode is None  # still serving the live calls
        # the callers hang up: the last sessions end and the worker exits by itself
        for caller in callers:
            await caller.leave()
        code = await worker.wait(TIMEOUT)
        assert code == 0, worker.tail()
        await worker.wait_for_line("app exit hook ran", 10)
        # every process the worker started (its session hosts) ended with it
        assert not [pid for pid in helpers if alive(pid)], worker.tail()
        final = worker.snapshot()
        assert final is not None and final["draining"]
        assert final["started"] == CALLS and final["active"] == 0, final
        assert final["failed"] == 0, final
    finally:
        for caller in callers:
            await caller.leave()
        await worker.stop()
