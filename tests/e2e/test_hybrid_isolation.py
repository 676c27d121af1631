"""Hybrid isolation through a real livekit-server and a worker started from the command line:
calls spread over the session hosts, and a host killed mid-call fails only its own session."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import textwrap
from collections.abc import Callable
from pathlib import Path

import pytest
from openrtc_testing.caller import Caller
from openrtc_testing.dispatch import ServerAdmin
from openrtc_testing.env import new_room_name
from openrtc_testing.localserver import LocalLiveKitServer
from openrtc_testing.process import WorkerProcess

pytestmark = pytest.mark.e2e

DISPATCH_NAME = "hybrid-e2e"
PID_ATTRIBUTE = "test.pid"
TIMEOUT = 90.0
SPEECH = Path(__file__).resolve().parents[2] / "tests" / "data" / "hello_appointment_16k.wav"

APP = """
import os

from livekit.agents import Agent, get_job_context
from openrtc_providers_offline import offline_providers

from openrtc import AgentPool


class PidAgent(Agent):
    # publishes the pid of the process its session runs in
    def __init__(self) -> None:
        super().__init__(instructions="You answer calls.")

    async def on_enter(self) -> None:
        ctx = get_job_context()
        await ctx.connect()
        await ctx.room.local_participant.set_attributes({{"test.pid": str(os.getpid())}})


stt, llm, tts = offline_providers()
pool = AgentPool(default_stt=stt, default_llm=llm, default_tts=tts, dispatch_name={dispatch!r})
pool.add("pid", PidAgent, greeting="Greet the caller.")

if __name__ == "__main__":
    pool.run()
"""


def children(pid: int) -> set[int]:
    found: set[int] = set()
    for task in Path(f"/proc/{pid}/task").iterdir():
        found |= set(map(int, (task / "children").read_text().split()))
    return found


async def wait_until(check: Callable[[], bool], what: str) -> None:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + TIMEOUT
    while not check():
        assert loop.time() < deadline, what
        await asyncio.sleep(0.2)


async def call(server: LocalLiveKitServer, admin: ServerAdmin) -> tuple[Caller, str, int]:
    """A caller in a new room with its agent: the agent's identity and its session's pid."""
    room = new_room_name("hybrid")
    await admin.create_room(room)
    caller = await Caller(server, room).join()
    await admin.create_dispatch(
        agent_name=DISPATCH_NAME, room=room, metadata=json.dumps({"agent": "pid"})
    )
    agent = await caller.wait_for_participant(TIMEOUT, agent=True)
    await wait_until(lambda: PID_ATTRIBUTE in agent.attributes, "the session never said its pid")
    await caller.wait_for_speech(TIMEOUT, participant=agent.identity)
    return caller, agent.identity, int(agent.attributes[PID_ATTRIBUTE])


async def test_a_killed_host_fails_only_its_own_session_and_is_replaced(
    livekit_server: LocalLiveKitServer, livekit_admin: ServerAdmin, tmp_path: Path
) -> None:
    app = tmp_path / "app.py"
    app.write_text(textwrap.dedent(APP.format(dispatch=DISPATCH_NAME)), encoding="utf-8")
    worker = WorkerProcess(
        app,
        livekit_server,
        "--isolation",
        "hybrid",
        "--hybrid-hosts",
        "2",
        snapshot_file=tmp_path / "snapshot.json",
        env={"OPENRTC_DISABLE_PLUGINS": "openrtc-exporter-prometheus"},
    )
    callers: list[Caller] = []
    try:
        await worker.start()
        await worker.wait_for_line("registered")
        hosts = children(worker.pid)
        assert len(hosts) == 2, hosts  # no process per session: two hosts, nothing else

        first = await call(livekit_server, livekit_admin)
        second = await call(livekit_server, livekit_admin)
        callers += [first[0], second[0]]
        # each job went to the least loaded host: one call on each
        assert {first[2], second[2]} == hosts
        (doomed, doomed_agent, doomed_pid), (kept, kept_agent, _) = first, second

        os.kill(doomed_pid, signal.SIGKILL)
        await wait_until(
            lambda: doomed_agent not in doomed.room.remote_participants,
            "the killed host's agent stayed in its room",
        )
        await wait_until(lambda: (worker.snapshot() or {}).get("failed") == 1, "no failure")
        snapshot = worker.snapshot()
        assert snapshot is not None
        assert (snapshot["active"], snapshot["succeeded"]) == (1, 0), snapshot
        assert snapshot["per_agent"]["pid"]["failed"] == 1, snapshot
        # the other call keeps its agent, which still answers
        assert kept_agent in kept.room.remote_participants
        await kept.say(SPEECH)
        said = kept.last_said_at
        assert said is not None
        await wait_until(
            lambda: (kept.heard[kept_agent].last_speech_at or 0.0) > said,
            "the surviving session did not answer",
        )
        # the dead host was replaced, and a new call is served
        await wait_until(
            lambda: len(children(worker.pid)) == 2 and doomed_pid not in children(worker.pid),
            "the killed host was not replaced",
        )
        third = await call(livekit_server, livekit_admin)
        callers.append(third[0])
        assert third[2] in children(worker.pid)
        assert worker.returncode is None, worker.tail()

        for caller in callers:
            await caller.leave()
        await wait_until(lambda: (worker.snapshot() or {}).get("active") == 0, "calls never ended")
        final = worker.snapshot()
        assert final is not None
        assert (final["started"], final["succeeded"], final["failed"]) == (3, 2, 1), final
    finally:
        for caller in callers:
            await caller.leave()
        await worker.stop()
