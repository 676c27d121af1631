"""Process isolation through a real livekit-server: sessions run in livekit's job processes,
and the worker's counters, load and admission still see every one of them."""

from __future__ import annotations

import asyncio
import json
import os
from collections.abc import Callable
from pathlib import Path

import pytest
from livekit.agents import Agent, get_job_context
from openrtc_testing.dispatch import ServerAdmin
from openrtc_testing.env import new_room_name
from openrtc_testing.localserver import LocalLiveKitServer
from openrtc_testing.plugin import CallerFactory
from openrtc_testing.pools import offline_pool
from openrtc_testing.worker import running_worker

from openrtc import AgentPool
from openrtc.hookspecs import hookimpl

pytestmark = pytest.mark.e2e

DISPATCH_NAME = "openrtc-e2e-process"
PID_ATTRIBUTE = "test.pid"
TIMEOUT = 60.0
# the worker registers once its first job process is prewarmed (a hang guard only)
REGISTER_TIMEOUT = 90.0


class PidAgent(Agent):
    """Publishes the pid of the process its session runs in."""

    def __init__(self) -> None:
        super().__init__(instructions="You answer calls.")

    async def on_enter(self) -> None:
        ctx = get_job_context()
        await ctx.connect()  # on_enter can run before the session has connected the room
        await ctx.room.local_participant.set_attributes({PID_ATTRIBUTE: str(os.getpid())})


MEMORY_CAP_MB = 1000


class MemoryHogAgent(Agent):
    def __init__(self) -> None:
        super().__init__(instructions="You answer calls.")
        self.ballast = b""

    async def on_enter(self) -> None:
        # written, not just reserved, so the pages count against the process
        self.ballast = b"\x01" * (MEMORY_CAP_MB + 500) * 1024 * 1024


class PrewarmFailsInJobProcesses:
    """A plugin whose prewarm works in the worker that built it and fails anywhere else."""

    def __init__(self) -> None:
        self.worker_pid = os.getpid()

    @hookimpl
    def openrtc_prewarm(self, proc: object) -> None:
        if os.getpid() != self.worker_pid:
            raise RuntimeError("prewarm cannot run in this job process")


class StartFailsAgent(Agent):
    def __init__(self) -> None:
        raise RuntimeError("agent bug: cannot start")


def make_pool(**settings: object) -> AgentPool:
    pool = offline_pool(
        dispatch_name=DISPATCH_NAME,
        isolation="process",
        **settings,  # type: ignore[arg-type]
    )
    pool.add("pid", PidAgent)
    pool.add("broken", StartFailsAgent)
    return pool


async def dispatch(admin: ServerAdmin, room: str, agent: str) -> None:
    await admin.create_room(room)
    await admin.create_dispatch(
        agent_name=DISPATCH_NAME, room=room, metadata=json.dumps({"agent": agent})
    )


async def until(check: Callable[[], bool], what: str) -> None:
    for _ in range(int(TIMEOUT * 10)):
        if check():
            return
        await asyncio.sleep(0.1)
    raise AssertionError(f"timed out waiting for {what}")


def descendants(pid: int | str = "self") -> set[int]:
    found: set[int] = set()
    for task in Path(f"/proc/{pid}/task").iterdir():
        for child in map(int, (task / "children").read_text().split()):
            found |= {child, *descendants(child)}
    return found


async def test_sessions_run_in_child_processes_and_the_worker_counts_them(
    livekit_server: LocalLiveKitServer, livekit_admin: ServerAdmin, caller_factory: CallerFactory
) -> None:
    pool = make_pool()
    async with running_worker(pool, livekit_server, register_timeout=REGISTER_TIMEOUT):
        room = new_room_name("pid")
        await dispatch(livekit_admin, room, "pid")
        caller = await caller_factory(room)
        agent = await caller.wait_for_participant(TIMEOUT, agent=True)
        await until(lambda: PID_ATTRIBUTE in agent.attributes, "the session to publish its pid")
        session_pid = int(agent.attributes[PID_ATTRIBUTE])
        assert session_pid != os.getpid()
        assert session_pid in descendants()
        live = pool.runtime_snapshot()
        assert (live.active, live.started, live.failed) == (1, 1, 0)
        assert live.per_agent["pid"].active == 1

        # the entrypoint raises in its own process; only its exit code tells the worker
        broken_room = new_room_name("broken")
        await dispatch(livekit_admin, broken_room, "broken")
        await caller_factory(broken_room)
        await until(lambda: pool.runtime_snapshot().failed == 1, "the failure to be counted")
        after = pool.runtime_snapshot()
        assert (after.active, after.started, after.succeeded) == (1, 2, 0)
        assert after.per_agent["broken"].failed == 1
        assert after.per_agent["pid"].active == 1
    final = pool.runtime_snapshot()
    assert final.active == 0 and final.succeeded + final.failed + final.cancelled == 2


async def test_simultaneous_dispatches_up_to_the_cap_are_all_served(
    livekit_server: LocalLiveKitServer, livekit_admin: ServerAdmin, caller_factory: CallerFactory
) -> None:
    # no warm process, so each job waits seconds for its own; meanwhile livekit must count an
    # accepted, not yet launched job as one session's load, not (as it would if sized from the
    # warm-process count) as the whole worker's, and the worker must not count it twice
    pool = make_pool(max_concurrent_sessions=3, plugin_settings={"process.num_idle_processes": 0})
    async with running_worker(pool, livekit_server, register_timeout=REGISTER_TIMEOUT):
        rooms = [new_room_name(f"burst-{index}") for index in range(3)]
        await asyncio.gather(*(dispatch(livekit_admin, room, "pid") for room in rooms))
        callers = await asyncio.gather(*(caller_factory(room) for room in rooms))
        agents = await asyncio.gather(
            *(caller.wait_for_participant(TIMEOUT, agent=True) for caller in callers)
        )
        assert all(agent.attributes.get("openrtc.agent") == "pid" for agent in agents)
        snapshot = pool.runtime_snapshot()
        assert (snapshot.active, snapshot.rejected) == (3, 0)


async def test_a_session_over_its_memory_cap_is_killed_and_counted_failed(
    livekit_server: LocalLiveKitServer,
    livekit_admin: ServerAdmin,
    caller_factory: CallerFactory,
    caplog: pytest.LogCaptureFixture,
) -> None:
    # a prewarmed session process needs a few hundred MB; the hog takes far more mid-call
    pool = make_pool(plugin_settings={"process.job_memory_limit_mb": MEMORY_CAP_MB})
    pool.add("hog", MemoryHogAgent)
    async with running_worker(pool, livekit_server, register_timeout=REGISTER_TIMEOUT):
        room = new_room_name("memory")
        await dispatch(livekit_admin, room, "hog")
        caller = await caller_factory(room)
        await caller.wait_for_participant(TIMEOUT, agent=True)
        await until(lambda: pool.runtime_snapshot().failed == 1, "the capped session to fail")
        snapshot = pool.runtime_snapshot()
        assert (snapshot.active, snapshot.succeeded) == (0, 0)
        assert snapshot.per_agent["hog"].failed == 1
    assert any("exceeded memory limit" in message for message in caplog.messages)


async def test_a_job_that_no_job_process_can_run_is_counted_failed_not_left_active(
    livekit_server: LocalLiveKitServer, livekit_admin: ServerAdmin, caller_factory: CallerFactory
) -> None:
    pool = make_pool(
        plugins={"failing-prewarm": PrewarmFailsInJobProcesses()},
        plugin_settings={"process.num_idle_processes": 0},
    )
    async with running_worker(pool, livekit_server, register_timeout=REGISTER_TIMEOUT):
        room = new_room_name("unlaunchable")
        await dispatch(livekit_admin, room, "pid")
        await caller_factory(room)
        await until(lambda: pool.runtime_snapshot().failed == 1, "the job to be given up")
        snapshot = pool.runtime_snapshot()
        assert (snapshot.active, snapshot.started) == (0, 1)
