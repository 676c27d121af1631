"""Hot reload against a real server: a save reaches the next call, a bad save changes nothing.

The agent says which version of its file it is when a call starts; the caller reads it from
the transcription livekit-agents publishes, so what is checked is what a caller would hear.
"""

from __future__ import annotations

import asyncio
import json
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
"""


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
    room = new_room_name("reload")
    await admin.create_room(room)
    await admin.create_dispatch(
        agent_name=DISPATCH_NAME, room=room, metadata=json.dumps({"agent": "dental"})
    )
    caller = await callers(room)
    heard = await caller.wait_for_transcript(WAIT_S, contains="this is")
    await caller.leave()
    return heard.text.removeprefix("this is ").strip(" .")


async def test_a_save_reaches_the_next_call_and_a_bad_save_changes_nothing(
    livekit_server: LocalLiveKitServer,
    livekit_admin: ServerAdmin,
    caller_factory: CallerFactory,
    tmp_path: Path,
    caplog: pytest.LogCaptureFixture,
) -> None:
    agents = tmp_path / "agents"
    agents.mkdir()
    source = agents / "dental.py"
    source.write_text(textwrap.dedent(AGENT.format(version="version one")))
    recorder = Recorder()
    pool = offline_pool(dispatch_name=DISPATCH_NAME, reload="on", plugins={"rec": recorder})
    pool.discover(agents)
    caplog.set_level("INFO", logger="openrtc.reload")
    async with running_worker(pool, livekit_server):
        hot = pool._runtime.hot_reload
        assert hot is not None, "reload=on did not start the watcher"
        await asyncio.wait_for(hot.watching.wait(), WAIT_S)
        assert await version_heard(livekit_admin, caller_factory) == "version one"

        source.write_text(textwrap.dedent(AGENT.format(version="version two")))
        applied = await recorder.wait_for(1)
        assert (applied.outcome, applied.agents, applied.error) == ("applied", ("dental",), None)
        assert await version_heard(livekit_admin, caller_factory) == "version two"

        source.write_text(source.read_text().replace("def on_enter(self)", "def on_enter(self"))
        failed = await recorder.wait_for(2)
        assert failed.outcome == "failed"
        assert "dental.py:" in (failed.error or "") and "SyntaxError" in (failed.error or "")
        assert await version_heard(livekit_admin, caller_factory) == "version two"
    lines = [r.getMessage() for r in caplog.records if r.name == "openrtc.reload"]
    assert any(line.startswith("reloaded dental from ") for line in lines), lines
    assert any("the running code is unchanged" in line for line in lines), lines
