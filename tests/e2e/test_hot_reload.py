"""Hot reload against a real server: a save reaches the next call, a bad save changes nothing.

The agent says which version of its file it is when a call starts; the caller reads it from
the transcription livekit-agents publishes, so what is checked is what a caller would hear.
"""

from __future__ import annotations

import asyncio
import json
import re
import textwrap
from pathlib import Path
from typing import Any

import attrs
import pytest
from openrtc_testing.dispatch import ServerAdmin
from openrtc_testing.env import new_room_name
from openrtc_testing.localserver import LocalLiveKitServer
from openrtc_testing.plugin import CallerFactory
from openrtc_testing.pools import offline_pool
from openrtc_testing.worker import running_worker

from openrtc import events
from openrtc.hookspecs import hookimpl

pytestmark = pytest.mark.e2e

DISPATCH_NAME = "openrtc-e2e-reload"
WAIT_S = 60.0  # a hang guard only

AGENT = """
from livekit.agents import Agent

from openrtc import agent_config


@agent_config(name="dental")
class DentalAgent(Agent):
    def __init__(self) -> None:
        super().__init__(instructions="You book dental appointments.")

    async def on_enter(self) -> None:
        await self.session.say("this is {version}")

    async def llm_node(self, chat_ctx, tools, model_settings):
        # the chat history the instance was handed shows in the reply
        turns = sum(1 for item in chat_ctx.items if getattr(item, "role", None) == "user")
        yield f"reply from {version} after {{turns}} turns. " + {filler!r}
"""
FILLER = "Let me read you the opening hours of the practice on every day of the week."
SPEECH = Path(__file__).resolve().parents[1] / "data" / "hello_appointment_16k.wav"


def agent_source(version: str, filler: str = "") -> str:
    return textwrap.dedent(AGENT.format(version=version, filler=filler))


def agent_file(tmp_path: Path, version: str, filler: str = "") -> Path:
    """An agents directory holding dental.py at ``version``; returns the file."""
    agents = tmp_path / "agents"
    agents.mkdir()
    source = agents / "dental.py"
    source.write_text(agent_source(version, filler))
    return source


async def watching(pool: Any) -> None:
    """Wait until the serving pool's watcher is in place (a save before it is not seen)."""
    hot = pool._runtime.hot_reload
    assert hot is not None, "reload=on did not start the watcher"
    await asyncio.wait_for(hot.watching.wait(), WAIT_S)


async def dial(admin: ServerAdmin, callers: CallerFactory, prefix: str) -> Any:
    """A caller in a new room with a dispatch to dental."""
    room = new_room_name(prefix)
    await admin.create_room(room)
    await admin.create_dispatch(
        agent_name=DISPATCH_NAME, room=room, metadata=json.dumps({"agent": "dental"})
    )
    return await callers(room)


@attrs.define(eq=False)  # pluggy keeps plugins in sets
class Recorder:
    """An in-process exporter: the reload events as every exporter receives them."""

    name: str = "recorder"
    reloads: list[events.AgentReloaded] = attrs.field(factory=list)

    @hookimpl
    def openrtc_metrics_exporters(self) -> list[Any]:
        return [self]

    def export_event(self, event: events.MetricsEvent) -> None:
        if isinstance(event, events.AgentReloaded):
            self.reloads.append(event)

    def export_snapshot(self, snapshot: Any) -> None:
        pass

    def close(self) -> None:
        pass

    async def wait_for(self, count: int) -> events.AgentReloaded:
        for _ in range(int(WAIT_S * 10)):
            if len(self.reloads) >= count:
                return self.reloads[count - 1]
            await asyncio.sleep(0.1)
        raise AssertionError(f"{count} reload events expected, got {self.reloads}")


async def version_heard(admin: ServerAdmin, callers: CallerFactory) -> str:
    caller = await dial(admin, callers, "reload")
    heard = await caller.wait_for_transcript(WAIT_S, contains="this is")
    await caller.leave()
    return heard.text.removeprefix("this is ").strip(" .")


@pytest.mark.parametrize("isolation", ["coroutine", "process"])
async def test_a_save_reaches_the_next_call_and_a_bad_save_changes_nothing(
    livekit_server: LocalLiveKitServer,
    livekit_admin: ServerAdmin,
    caller_factory: CallerFactory,
    tmp_path: Path,
    caplog: pytest.LogCaptureFixture,
    isolation: str,
) -> None:
    # process isolation: the warm job process started with version one is replaced, and a
    # job process started after the bad save runs the text the worker validated, not the file
    source = agent_file(tmp_path, "version one")
    recorder = Recorder()
    pool = offline_pool(
        dispatch_name=DISPATCH_NAME, reload="on", isolation=isolation, plugins={"rec": recorder}
    )
    pool.discover(source.parent)
    caplog.set_level("INFO", logger="openrtc.reload")
    async with running_worker(pool, livekit_server, register_timeout=WAIT_S):
        await watching(pool)
        assert await version_heard(livekit_admin, caller_factory) == "version one"

        source.write_text(agent_source("version two"))
        applied = await recorder.wait_for(1)
        assert (applied.outcome, applied.agents, applied.error) == ("applied", ("dental",), None)
        assert await version_heard(livekit_admin, caller_factory) == "version two"

        source.write_text(source.read_text().replace("def on_enter(self)", "def on_enter(self"))
        failed = await recorder.wait_for(2)
        assert failed.outcome == "failed"
        assert "dental.py:" in (failed.error or "") and "SyntaxError" in (failed.error or "")
        assert await version_heard(livekit_admin, caller_factory) == "version two"
        # the warm process that took that call was started before the bad save; this call's
        # was started after it, while the file on disk did not compile
        assert await version_heard(livekit_admin, caller_factory) == "version two"
    lines = [r.getMessage() for r in caplog.records if r.name == "openrtc.reload"]
    assert any(line.startswith("reloaded dental from ") for line in lines), lines
    assert any("the running code is unchanged" in line for line in lines), lines


BROKEN_SAVES = {
    "syntax error": "from livekit.agents import Agent\n\nclass DentalAgent(Agent:\n",
    "raises at import": "import os\n\nraise RuntimeError(os.environ.get('NO_SUCH', 'no db'))\n",
}


async def test_a_live_call_moves_to_the_new_code_at_its_next_turn_with_its_history(
    livekit_server: LocalLiveKitServer,
    livekit_admin: ServerAdmin,
    caller_factory: CallerFactory,
    tmp_path: Path,
    caplog: pytest.LogCaptureFixture,
) -> None:
    source = agent_file(tmp_path, "version one", FILLER)
    recorder = Recorder()
    pool = offline_pool(dispatch_name=DISPATCH_NAME, reload="on", plugins={"rec": recorder})
    pool.discover(source.parent)
    caplog.set_level("INFO", logger="openrtc.reload")
    async with running_worker(pool, livekit_server):
        await watching(pool)
        caller = await dial(livekit_admin, caller_factory, "reload-live")
        agent = await caller.wait_for_participant(WAIT_S, agent=True)
        await caller.wait_for_transcript(WAIT_S, contains="this is version one")
        tracks = set(agent.track_publications)
        await asyncio.sleep(2)  # the greeting plays out

        async def turn(expected: str) -> None:
            await caller.say(SPEECH)
            heard = await caller.wait_for_transcript(WAIT_S, contains=expected)
            assert heard.participant_identity == agent.identity
            await asyncio.sleep(1)

        # two bad saves: the call keeps version one, one log line each
        for number, broken in enumerate(BROKEN_SAVES.values(), start=1):
            source.write_text(broken)
            assert (await recorder.wait_for(number)).outcome == "failed"
            await turn(f"reply from version one after {number} turns")

        await caller.say(SPEECH)
        # the good save lands while the agent is in the middle of its (long) reply
        await caller.wait_for_speech(WAIT_S, participant=agent.identity, after=caller.last_said_at)
        source.write_text(agent_source("version two", FILLER))
        applied = await recorder.wait_for(3)
        assert (applied.outcome, applied.sessions_moving, applied.sessions_kept) == (
            "applied",
            1,
            0,
        )
        third = await caller.wait_for_transcript(WAIT_S, contains="after 3 turns")
        assert third.text.strip() == f"reply from version one after 3 turns. {FILLER}"
        await asyncio.sleep(1)
        # the new instance answers, and its chat history holds the three turns before it
        await turn("reply from version two after 4 turns")

        # no second greeting: the new instance's on_enter did not run (livekit publishes each
        # line twice, as a text stream and as a legacy transcription: the stream is read)
        greetings = [
            t.text
            for t in caller.transcripts
            if "this is" in t.text and t.final and t.source == "text_stream"
        ]
        assert greetings == ["this is version one"], greetings
        assert pool._runtime.handlers.live.moved == 1
        # the same agent participant and audio track throughout
        assert agent.identity in caller.room.remote_participants
        assert set(agent.track_publications) == tracks
        await caller.leave()
    failures = [r.getMessage() for r in caplog.records if "reload failed" in r.getMessage()]
    assert len(failures) == 2, failures
    assert "SyntaxError" in failures[0] and "RuntimeError: no db" in failures[1]


async def test_five_live_calls_all_move_once_none_dropped(
    livekit_server: LocalLiveKitServer,
    livekit_admin: ServerAdmin,
    caller_factory: CallerFactory,
    tmp_path: Path,
) -> None:
    source = agent_file(tmp_path, "version one")
    recorder = Recorder()
    pool = offline_pool(
        dispatch_name=DISPATCH_NAME,
        reload="on",
        plugins={"rec": recorder},
        # the five callers run in the worker's process and loop here, which the overload
        # guard would count as the worker's own load; this test is about reload, not that
        plugin_settings={"overload.loop_lag_ms": 0, "overload.loop_busy": 0},
    )
    pool.discover(source.parent)
    async with running_worker(pool, livekit_server):
        await watching(pool)

        async def join(index: int) -> Any:
            caller = await dial(livekit_admin, caller_factory, f"reload-five-{index}")
            await caller.wait_for_transcript(WAIT_S, contains="this is version one")
            return caller

        callers = await asyncio.gather(*(join(i) for i in range(5)))
        await asyncio.sleep(2)
        source.write_text(agent_source("version two"))
        applied = await recorder.wait_for(1)
        assert (applied.sessions_moving, applied.sessions_kept) == (5, 0)

        async def talk(caller: Any) -> None:
            await caller.say(SPEECH)
            await caller.wait_for_transcript(WAIT_S, contains="reply from version two")

        try:
            await asyncio.gather(*(talk(c) for c in callers))
            await asyncio.sleep(3)  # a second answer to the same turn would have arrived by now
            for caller in callers:
                replies = [
                    t.text.strip()
                    for t in caller.transcripts
                    if t.final and t.source == "text_stream" and "reply from" in t.text
                ]
                assert replies, "a call was dropped"
                assert all(r.startswith("reply from version two") for r in replies), replies
                # the VAD may cut one line into two turns on a loaded machine; each turn is
                # answered once. The first turn's reply is then cut off by the second part
                # ("reply from version two after"): a reply without its count is one that
                # was interrupted, never a second answer to a turn
                turns = [m[1] for r in replies if (m := re.search(r"after (\d+) turns", r))]
                assert turns and len(turns) == len(set(turns)), replies
                interrupted = [r for r in replies if not re.search(r"after \d+ turns", r)]
                assert all(
                    "reply from version two after N turns.".startswith(re.sub(r"\d+", "N", r))
                    for r in interrupted
                ), replies
            assert pool._runtime.handlers.live.moved == 5
            assert pool.runtime_snapshot().active == 5  # none dropped
        finally:
            for caller in callers:
                await caller.leave()


HYBRID_APP = """
from openrtc_providers_offline import offline_providers

from openrtc import AgentPool

stt, llm, tts = offline_providers()
pool = AgentPool(default_stt=stt, default_llm=llm, default_tts=tts, dispatch_name={dispatch!r})
pool.discover({agents!r})

if __name__ == "__main__":
    pool.run()
"""


async def test_session_hosts_run_the_reloaded_code_and_move_their_live_calls(
    livekit_server: LocalLiveKitServer,
    livekit_admin: ServerAdmin,
    caller_factory: CallerFactory,
    tmp_path: Path,
) -> None:
    # hybrid isolation: the sessions run in a host forked at start; the worker sends it the
    # texts it ran, the host runs them and moves its live call like the worker would
    from openrtc_testing.process import WorkerProcess

    source = agent_file(tmp_path, "version one")
    app = tmp_path / "app.py"
    app.write_text(HYBRID_APP.format(dispatch=DISPATCH_NAME, agents=str(source.parent)))
    worker = WorkerProcess(
        app,
        livekit_server,
        "--isolation",
        "hybrid",
        "--hybrid-hosts",
        "1",
        "--reload",
        "on",
        env={"OPENRTC_DISABLE_PLUGINS": "openrtc-exporter-prometheus"},
    )
    try:
        await worker.start()
        await worker.wait_for_line("hot reload: watching")
        await worker.wait_for_line("registered")
        caller = await dial(livekit_admin, caller_factory, "reload-hybrid")
        await caller.wait_for_transcript(WAIT_S, contains="this is version one")
        await asyncio.sleep(1)  # the watcher was in place before the call; now save
        source.write_text(agent_source("version two"))
        await worker.wait_for_line("reloaded dental from")
        line = await worker.wait_for_line("in session host")
        assert "1 live session(s) move" in line, line
        await caller.say(SPEECH)
        reply = await caller.wait_for_transcript(WAIT_S, contains="reply from")
        assert reply.text.startswith("reply from version two after 1 turns"), reply.text
        assert await version_heard(livekit_admin, caller_factory) == "version two"
        await caller.leave()
        assert worker.returncode is None, worker.tail()
    finally:
        await worker.stop()
