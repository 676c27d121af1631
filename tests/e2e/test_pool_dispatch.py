"""A pool of two agents behind a real livekit-server, driven by real callers.

Everything is real: the worker registers over LiveKit's agent protocol, the server dispatches,
the caller publishes speech through WebRTC, the session runs Silero VAD and the offline
STT/LLM/TTS, and the caller measures the agent's audio. Every test runs in both isolation
modes: sessions as coroutines of the worker, and sessions in livekit's job processes, where the
counters the test reads are still the worker's own.
"""

from __future__ import annotations

import asyncio
import json
import logging
from pathlib import Path

import pytest
from livekit.agents import Agent
from openrtc_demo import AGENTS_DIR
from openrtc_providers_offline import Rule
from openrtc_testing.dispatch import ServerAdmin
from openrtc_testing.env import new_room_name
from openrtc_testing.localserver import LocalLiveKitServer
from openrtc_testing.plugin import CallerFactory
from openrtc_testing.pools import offline_pool
from openrtc_testing.worker import running_worker

from openrtc import AgentPool

pytestmark = pytest.mark.e2e

REPO = Path(__file__).resolve().parents[2]
SPEECH = REPO / "tests" / "data" / "hello_appointment_16k.wav"
DISPATCH_NAME = "openrtc-e2e"
TIMEOUT = 60.0  # a hang guard for a loaded 2-core machine, not a performance claim
# process isolation registers once its first job process is prewarmed; the first one in a
# test run also starts livekit's forkserver. A hang guard, not a performance claim.
REGISTER_TIMEOUT = 90.0


@pytest.fixture(params=["coroutine", "process"])
def isolation(request: pytest.FixtureRequest) -> str:
    return str(request.param)


def make_pool(isolation: str, **settings: object) -> AgentPool:
    pool = offline_pool(
        rules=[Rule(pattern=r"appointment|book", reply="Your appointment is booked for Monday.")],
        dispatch_name=DISPATCH_NAME,
        isolation=isolation,
        **settings,  # type: ignore[arg-type]
    )
    pool.discover(AGENTS_DIR)
    return pool


async def dispatch(admin: ServerAdmin, room: str, agent: str | None) -> None:
    metadata = json.dumps({"agent": agent}) if agent is not None else ""
    await admin.create_room(room)
    await admin.create_dispatch(agent_name=DISPATCH_NAME, room=room, metadata=metadata)


async def test_explicit_dispatch_reaches_the_named_agent_and_answers(
    livekit_server: LocalLiveKitServer,
    livekit_admin: ServerAdmin,
    caller_factory: CallerFactory,
    isolation: str,
) -> None:
    pool = make_pool(isolation)
    assert pool.list_agents() == ["dental", "restaurant"]
    async with running_worker(pool, livekit_server, register_timeout=REGISTER_TIMEOUT):
        room = new_room_name("dental-call")
        await dispatch(livekit_admin, room, "dental")
        caller = await caller_factory(room)
        agent = await caller.wait_for_participant(TIMEOUT, agent=True)
        assert agent.attributes.get("openrtc.agent") == "dental"
        assert agent.attributes.get("openrtc.router") == "metadata"
        greeting_at = await caller.wait_for_speech(TIMEOUT, participant=agent.identity)
        await asyncio.sleep(4)  # let the greeting finish before talking over it
        await caller.say(SPEECH)
        assert caller.last_said_at is not None and caller.last_said_at > greeting_at
        reply_at = await caller.wait_for_speech(
            TIMEOUT, participant=agent.identity, after=caller.last_said_at
        )
        assert reply_at > caller.last_said_at
        snapshot = pool.runtime_snapshot()
        assert snapshot.per_agent["dental"].started == 1
        assert "restaurant" not in snapshot.per_agent
        assert snapshot.active == 1
    final = pool.runtime_snapshot()
    # the caller was still in the room when the worker stopped: its session ended at the
    # drain_timeout, cancelled
    assert final.active == 0 and final.succeeded + final.failed + final.cancelled == 1


async def test_two_rooms_two_agents_one_worker(
    livekit_server: LocalLiveKitServer,
    livekit_admin: ServerAdmin,
    caller_factory: CallerFactory,
    isolation: str,
) -> None:
    pool = make_pool(isolation)
    async with running_worker(pool, livekit_server, register_timeout=REGISTER_TIMEOUT):
        rooms = {"dental": new_room_name("a"), "restaurant": new_room_name("b")}
        for agent, room in rooms.items():
            await dispatch(livekit_admin, room, agent)
        callers = {agent: await caller_factory(room) for agent, room in rooms.items()}
        for agent, caller in callers.items():
            remote = await caller.wait_for_participant(TIMEOUT, agent=True)
            assert remote.attributes.get("openrtc.agent") == agent
            await caller.wait_for_speech(TIMEOUT, participant=remote.identity)
        snapshot = pool.runtime_snapshot()
        assert snapshot.active == 2
        assert {name: stats.active for name, stats in snapshot.per_agent.items()} == {
            "dental": 1,
            "restaurant": 1,
        }


async def test_unknown_agent_is_declined_and_the_next_dispatch_is_served(
    livekit_server: LocalLiveKitServer,
    livekit_admin: ServerAdmin,
    caller_factory: CallerFactory,
    caplog: pytest.LogCaptureFixture,
    isolation: str,
) -> None:
    caplog.set_level(logging.INFO, logger="openrtc")
    pool = make_pool(isolation)
    async with running_worker(pool, livekit_server, register_timeout=REGISTER_TIMEOUT):
        bad_room = new_room_name("bad")
        await dispatch(livekit_admin, bad_room, "dentl")
        bad_caller = await caller_factory(bad_room)

        def declined() -> bool:
            return any(
                "agent 'dentl'" in m and "registered: dental, restaurant" in m
                for m in caplog.messages
            )

        for _ in range(int(TIMEOUT * 10)):
            if declined():
                break
            await asyncio.sleep(0.1)
        assert declined(), caplog.messages[-20:]
        assert pool.runtime_snapshot().rejected >= 1
        assert not [
            p
            for p in bad_caller.room.remote_participants.values()
            if p.attributes.get("openrtc.agent")
        ]

        good_room = new_room_name("good")
        await dispatch(livekit_admin, good_room, "restaurant")
        caller = await caller_factory(good_room)
        remote = await caller.wait_for_participant(TIMEOUT, agent=True)
        assert remote.attributes.get("openrtc.agent") == "restaurant"
        await caller.wait_for_speech(TIMEOUT, participant=remote.identity)


class BrokenAgent(Agent):
    def __init__(self) -> None:
        raise RuntimeError("agent bug: cannot start")


async def test_failing_sessions_are_counted_and_the_supervisor_drains(
    livekit_server: LocalLiveKitServer,
    livekit_admin: ServerAdmin,
    caller_factory: CallerFactory,
    isolation: str,
) -> None:
    pool = make_pool(isolation, consecutive_failure_limit=2)
    pool.add("broken", BrokenAgent)
    async with running_worker(pool, livekit_server, register_timeout=REGISTER_TIMEOUT) as serving:
        for index in range(2):
            room = new_room_name(f"broken-{index}")
            await dispatch(livekit_admin, room, "broken")
            await caller_factory(room)
            for _ in range(int(TIMEOUT * 10)):
                if pool.runtime_snapshot().failed > index:
                    break
                await asyncio.sleep(0.1)
        snapshot = pool.runtime_snapshot()
        assert snapshot.failed == 2 and snapshot.succeeded == 0
        assert snapshot.per_agent["broken"].failed == 2
        # two failures in a row: the worker drains by itself and its serve() returns
        await asyncio.wait_for(serving, timeout=TIMEOUT)
        assert pool.runtime_snapshot().draining


def child_pids(pid: int | str = "self") -> set[int]:
    children: set[int] = set()
    for task in Path(f"/proc/{pid}/task").iterdir():
        try:
            text = (task / "children").read_text().split()
        except FileNotFoundError:  # the thread ended between the listing and the read
            continue
        children.update(int(pid) for pid in text)
    return children


def command_line(pid: int) -> bytes:
    return Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ")


def job_processes() -> set[int]:
    """Processes started for jobs: children of this process, or of livekit's forkserver.
    multiprocessing keeps the forkserver and its resource tracker for the life of this
    process, as it does for any user of either, so they are not counted themselves (run
    alone, this test is the one that starts them)."""
    found: set[int] = set()
    for pid in child_pids():
        command = command_line(pid)
        if b"multiprocessing.forkserver" in command:
            found.update(child_pids(pid))
        elif b"multiprocessing.resource_tracker" not in command:
            found.add(pid)
    return found


async def test_clean_shutdown_leaves_no_tasks_processes_or_agents(
    livekit_server: LocalLiveKitServer, livekit_admin: ServerAdmin, isolation: str
) -> None:
    from openrtc_testing.caller import Caller

    tasks_before = asyncio.all_tasks()
    children_before = job_processes()
    pool = make_pool(isolation)
    room = new_room_name("shutdown")
    caller = Caller(livekit_server, room)
    async with running_worker(pool, livekit_server, register_timeout=REGISTER_TIMEOUT):
        await dispatch(livekit_admin, room, "restaurant")
        await caller.join()
        remote = await caller.wait_for_participant(TIMEOUT, agent=True)
        await caller.wait_for_speech(TIMEOUT, participant=remote.identity)
    # the worker drained and stopped with the call still up: the agent left the room
    participants = await livekit_admin.list_participants(room)
    assert [p.identity for p in participants] == [caller.identity]
    await caller.leave()
    await asyncio.sleep(0.5)
    leaked = [t for t in asyncio.all_tasks() - tasks_before if t is not asyncio.current_task()]
    assert leaked == [], [t.get_name() for t in leaked]
    assert job_processes() <= children_before
    assert pool.runtime_snapshot().active == 0
