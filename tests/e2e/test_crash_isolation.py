"""Five concurrent calls, one of whose sessions fails mid-call: the other four are untouched.

The failing agent's LLM answers the greeting and then fails for good (a non-retryable provider
error, what a revoked key looks like). livekit closes that session; the kernel counts it failed
and ends its job, so that caller is not left with a silent agent. The four siblings on the
same worker hear their greeting, get an answer to their own speech, and end as succeeded when
their callers hang up.
"""

from __future__ import annotations

import asyncio
import json
import textwrap
from pathlib import Path

import pytest
from openrtc_providers_offline import offline_providers

from openrtc import AgentPool
from openrtc.localserver import LocalLiveKitServer
from openrtc.testing.caller import Caller
from openrtc.testing.dispatch import ServerAdmin
from openrtc.testing.fixtures import new_room_name
from openrtc.testing.worker import running_worker

pytestmark = pytest.mark.e2e

REPO = Path(__file__).resolve().parents[2]
SPEECH = REPO / "tests" / "data" / "hello_appointment_16k.wav"
DISPATCH_NAME = "crash-e2e"
TIMEOUT = 90.0
STEADY_CALLS = 4

AGENTS = {
    "steady.py": """
        from livekit.agents import Agent
        from openrtc import agent_config


        @agent_config(name="steady", greeting="Greet the caller.")
        class Steady(Agent):
            def __init__(self) -> None:
                super().__init__(instructions="Help the caller.")
    """,
    "fragile.py": """
        from livekit.agents import Agent, APIError, llm
        from livekit.agents.voice.agent_session import SessionConnectOptions
        from openrtc import agent_config
        from openrtc_providers_offline import OfflineLLM


        class GoneStream(llm.LLMStream):
            async def _run(self) -> None:
                raise APIError("provider rejected the key", retryable=False)


        class FragileLLM(OfflineLLM):
            # answers the greeting, then fails every turn like a provider that revoked the key
            def __init__(self) -> None:
                super().__init__()
                self.turns = 0

            def chat(self, *, chat_ctx, tools=None, conn_options=None, **kwargs):
                self.turns += 1
                if self.turns == 1:
                    return super().chat(chat_ctx=chat_ctx, tools=tools, **kwargs)
                return GoneStream(
                    self, chat_ctx=chat_ctx, tools=tools or [], conn_options=conn_options
                )


        @agent_config(
            name="fragile",
            llm=FragileLLM(),
            greeting="Greet the caller.",
            session_kwargs={"conn_options": SessionConnectOptions(max_unrecoverable_errors=0)},
        )
        class Fragile(Agent):
            def __init__(self) -> None:
                super().__init__(instructions="Help the caller.")
    """,
}


@pytest.fixture(params=["coroutine", "process"])
def isolation(request: pytest.FixtureRequest) -> str:
    return str(request.param)


async def start_call(
    server: LocalLiveKitServer, admin: ServerAdmin, agent: str
) -> tuple[Caller, str]:
    room = new_room_name(agent)
    await admin.create_room(room)
    caller = await Caller(server, room).join()
    await admin.create_dispatch(
        agent_name=DISPATCH_NAME, room=room, metadata=json.dumps({"agent": agent})
    )
    remote = await caller.wait_for_participant(TIMEOUT, agent=True)
    await caller.wait_for_speech(TIMEOUT, participant=remote.identity)
    return caller, remote.identity


async def talk(caller: Caller, agent_identity: str) -> None:
    """Say one sentence and wait for the agent's spoken answer to it."""
    await caller.say(SPEECH)
    said = caller.last_said_at
    assert said is not None
    loop = asyncio.get_running_loop()
    deadline = loop.time() + TIMEOUT
    while (caller.heard[agent_identity].last_speech_at or 0.0) <= said:
        assert loop.time() < deadline, f"{caller.room_name}: no answer after the caller spoke"
        await asyncio.sleep(0.2)


async def test_one_session_failing_mid_call_leaves_its_siblings_alone(
    livekit_server: LocalLiveKitServer,
    livekit_admin: ServerAdmin,
    tmp_path: Path,
    isolation: str,
) -> None:
    for name, source in AGENTS.items():
        (tmp_path / name).write_text(textwrap.dedent(source), encoding="utf-8")
    stt, llm, tts = offline_providers()
    pool = AgentPool(
        default_stt=stt,
        default_llm=llm,
        default_tts=tts,
        dispatch_name=DISPATCH_NAME,
        isolation=isolation,
        consecutive_failure_limit=3,
    )
    pool.discover(tmp_path)
    calls: list[tuple[Caller, str]] = []
    try:
        async with running_worker(pool, livekit_server):
            calls = list(
                await asyncio.gather(
                    *(
                        start_call(livekit_server, livekit_admin, agent)
                        for agent in ["fragile"] + ["steady"] * STEADY_CALLS
                    )
                )
            )
            (fragile, fragile_agent), steady = calls[0], calls[1:]
            await asyncio.gather(*(talk(c, a) for c, a in steady), fragile.say(SPEECH))

            # the failed session's job ended: its agent left the room while the caller stayed
            loop = asyncio.get_running_loop()
            deadline = loop.time() + TIMEOUT
            while fragile_agent in fragile.room.remote_participants:
                assert loop.time() < deadline, "the failed session's agent stayed in the room"
                await asyncio.sleep(0.2)
            snapshot = pool.runtime_snapshot()
            assert snapshot.failed == 1 and snapshot.active == STEADY_CALLS, snapshot
            assert snapshot.per_agent["fragile"].failed == 1
            # every sibling is still in its call with its agent
            for caller, agent in steady:
                assert agent in caller.room.remote_participants, caller.room_name

            for caller, _ in steady:
                await caller.leave()
            while pool.runtime_snapshot().active:
                assert loop.time() < deadline + TIMEOUT, pool.runtime_snapshot()
                await asyncio.sleep(0.2)
            snapshot = pool.runtime_snapshot()
            assert snapshot.succeeded == STEADY_CALLS and snapshot.failed == 1, snapshot
            assert not snapshot.draining  # one failure is below consecutive_failure_limit
    finally:
        for caller, _ in calls:
            await caller.leave()
