"""Every job request reaches OpenRTC's admission rules: livekit's own availability estimate
does not refuse calls behind their back.

A plugin reports a constant share of the worker's load once a call is live (as a load hook
measuring something other than the job count would, a GPU's memory say), and takes a moment
to answer. livekit-agents, left
to itself, estimates each job request still being answered at the load divided by the live
jobs and answers "not available" once that sum reaches the threshold, before the request
handler runs: with 0.5 reported and one live call, the second of several requests arriving
together was refused, with no log line and no count. Now the worker takes all of them (its
cap is 50, no rule refuses), and a refusal, when there is one, is a rule's, counted.
"""

from __future__ import annotations

import asyncio
import json
import textwrap
from pathlib import Path

import pytest
from openrtc_testing.caller import Caller
from openrtc_testing.dispatch import ServerAdmin
from openrtc_testing.env import new_room_name
from openrtc_testing.localserver import LocalLiveKitServer
from openrtc_testing.process import WorkerProcess

pytestmark = pytest.mark.e2e

TIMEOUT = 60.0
TOGETHER = 3
"""Calls dispatched at once while one is live."""
APP = """
import threading
import time

from livekit.agents import Agent
from openrtc_providers_offline import offline_providers

from openrtc import AgentPool
from openrtc.plugin import hookimpl


class Quiet(Agent):
    def __init__(self) -> None:
        super().__init__(instructions="quiet")


class HalfFullOnceBusy:
    @hookimpl
    def openrtc_worker_load(self, state, settings):
        if threading.current_thread() is not threading.main_thread():
            # livekit asks for the load from a thread at every job request. This hook takes
            # a moment (a device query would) and answers on a half-second boundary, so
            # requests that arrived together are answered together: the moment livekit's
            # estimate added them up (on a busy worker's loop, the same happens unaided)
            time.sleep(0.3)
            time.sleep(-time.time() % 0.5)
        return 0.5 if state.active_sessions else 0.0


stt, llm, tts = offline_providers()
pool = AgentPool(
    default_stt=stt,
    default_llm=llm,
    default_tts=tts,
    dispatch_name="avail-e2e",
    plugins={"half-full": HalfFullOnceBusy()},
)
pool.add("quiet", Quiet, greeting="")

if __name__ == "__main__":
    pool.run()
"""


async def joined_caller(admin: ServerAdmin, server: LocalLiveKitServer, tag: str) -> Caller:
    room = new_room_name(tag)
    await admin.create_room(room)
    return await Caller(server, room).join()


async def dispatch(admin: ServerAdmin, caller: Caller) -> None:
    await admin.create_dispatch(
        agent_name="avail-e2e", room=caller.room_name, metadata=json.dumps({"agent": "quiet"})
    )


async def test_requests_arriving_together_all_reach_the_admission_rules(
    livekit_server: LocalLiveKitServer, livekit_admin: ServerAdmin, tmp_path: Path
) -> None:
    app = tmp_path / "app.py"
    app.write_text(textwrap.dedent(APP), encoding="utf-8")
    worker = WorkerProcess(
        app,
        livekit_server,
        snapshot_file=tmp_path / "snapshot.json",
        env={"OPENRTC_DISABLE_PLUGINS": "openrtc-exporter-prometheus"},
    )
    callers: list[Caller] = []
    try:
        await worker.start()
        await worker.wait_for_line("registered")
        first = await joined_caller(livekit_admin, livekit_server, "avail-first")
        callers.append(first)
        await dispatch(livekit_admin, first)
        await first.wait_for_participant(TIMEOUT, agent=True)
        await asyncio.sleep(3.0)  # one status report with the load of one live call: 0.5

        together = [
            await joined_caller(livekit_admin, livekit_server, f"avail-{i}")
            for i in range(TOGETHER)
        ]
        callers.extend(together)
        await asyncio.gather(*(dispatch(livekit_admin, c) for c in together))
        results = await asyncio.gather(
            *(c.wait_for_participant(TIMEOUT, agent=True) for c in together),
            return_exceptions=True,
        )
        missed = [
            c.room_name
            for c, r in zip(together, results, strict=True)
            if isinstance(r, BaseException)
        ]
        snap = worker.snapshot() or {}
        assert not missed, f"calls never answered: {missed}\n{snap}\n{worker.tail()}"
        assert snap.get("rejected", 0) == 0, snap
    finally:
        for caller in callers:
            await caller.leave()
        await worker.stop()
