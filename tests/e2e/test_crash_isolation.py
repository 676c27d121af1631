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
from collections.abc import Callable
from pathlib import Path

import pytest
from openrtc_testing.caller import Caller
from openrtc_testing.dispatch import ServerAdmin
from openrtc_testing.env import new_room_name
from openrtc_testing.localserver import LocalLiveKitServer
from openrtc_testing.process import WorkerProcess

pytestmark = pytest.mark.e2e

REPO = Path(__file__).resolve().parents[2]
SPEECH = REPO / "tests" / "data" / "hello_appointment_16k.wav"
DISPATCH_NAME = "crash-e2e"
TIMEOUT = 90.0
STEADY_CALLS = 4

APP = """
from openrtc_providers_offline import offline_providers

from openrtc import AgentPool

stt, llm, tts = offline_providers()
pool = AgentPool(default_stt=stt, default_llm=llm, default_tts=tts, dispatch_name={dispatch!r})
pool.discover({agents!r})

if __name__ == "__main__":
    pool.run()
"""

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


@pytest.fixture(params=["coroutine", "process", "hybrid"])
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


def processes_settled(worker: WorkerProcess) -> bool:
    """Every session process the worker started has finished initialising (livekit's log)."""
    started = sum("initializing process" in line for line in worker.log)
    return started == sum("process initialized" in line for line in worker.log)


async def wait_until(check: Callable[[], bool], what: str) -> None:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + TIMEOUT
    while not check():
        assert loop.time() < deadline, what
        await asyncio.sleep(0.2)


async def test_one_session_failing_mid_call_leaves_its_siblings_alone(
    livekit_server: LocalLiveKitServer,
    livekit_admin: ServerAdmin,
    tmp_path: Path,
    isolation: str,
) -> None:
    agents = tmp_path / "agents"
    agents.mkdir()
    for name, source in AGENTS.items():
        (agents / name).write_text(textwrap.dedent(source), encoding="utf-8")
    app = tmp_path / "app.py"
    app.write_text(APP.format(dispatch=DISPATCH_NAME, agents=str(agents)), encoding="utf-8")
    # its own process, as operators run it: the callers' audio work stays off its event loop
    worker = WorkerProcess(
        app,
        livekit_server,
        "--isolation",
        isolation,
        "--consecutive-failure-limit",
        "3",
        snapshot_file=tmp_path / "snapshot.json",
        env={"OPENRTC_DISABLE_PLUGINS": "openrtc-exporter-prometheus"},
    )
    calls: list[tuple[Caller, str]] = []
    try:
        await worker.start()
        await worker.wait_for_line("registered")
        calls = list(
            await asyncio.gather(
                *(
                    start_call(livekit_server, livekit_admin, agent)
                    for agent in ["fragile"] + ["steady"] * STEADY_CALLS
                )
            )
        )
        (fragile, fragile_agent), steady = calls[0], calls[1:]
        # process isolation replaces each warm process a job took; on two cores those model
        # loads would compete with the calls, so the callers speak once they are done
        await wait_until(lambda: processes_settled(worker), "session processes never settled")
        # the fragile session fails while a sibling is mid-turn; the other siblings then
        # answer in turn (the offline STT decodes on CPU: five utterances decoded at once on
        # two cores arrive after livekit's endpointing has committed the turn)
        await asyncio.gather(talk(*steady[0]), fragile.say(SPEECH))
        for caller, agent in steady[1:]:
            await talk(caller, agent)

        # the failed session's job ended: its agent left the room while the caller stayed
        await wait_until(
            lambda: fragile_agent not in fragile.room.remote_participants,
            "the failed session's agent stayed in the room",
        )
        await wait_until(lambda: (worker.snapshot() or {}).get("failed") == 1, "no failure")
        snapshot = worker.snapshot()
        assert snapshot is not None
        assert snapshot["active"] == STEADY_CALLS, snapshot
        assert snapshot["per_agent"]["fragile"]["failed"] == 1, snapshot
        # every sibling is still in its call with its agent
        for caller, agent in steady:
            assert agent in caller.room.remote_participants, caller.room_name

        for caller, _ in steady:
            await caller.leave()
        await wait_until(
            lambda: (worker.snapshot() or {}).get("active") == 0, "siblings never ended"
        )
        snapshot = worker.snapshot()
        assert snapshot is not None
        assert snapshot["succeeded"] == STEADY_CALLS and snapshot["failed"] == 1, snapshot
        assert not snapshot["draining"]  # one failure is below consecutive_failure_limit
        assert worker.returncode is None, worker.tail()
    finally:
        for caller, _ in calls:
            await caller.leave()
        await worker.stop()
