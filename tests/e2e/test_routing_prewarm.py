"""Routing plugins and prewarm, through a real livekit-server, in both isolation modes."""

from __future__ import annotations

import asyncio
import json
import os
from pathlib import Path
from typing import Any

import pytest
from openrtc_demo import AGENTS_DIR
from openrtc_testing.dispatch import ServerAdmin
from openrtc_testing.env import new_room_name
from openrtc_testing.localserver import LocalLiveKitServer
from openrtc_testing.plugin import CallerFactory
from openrtc_testing.pools import offline_pool
from openrtc_testing.worker import running_worker

from openrtc import AgentPool
from openrtc.hookspecs import hookimpl

pytestmark = pytest.mark.e2e

DISPATCH_NAME = "openrtc-e2e-routing"
TIMEOUT = 45.0
# process isolation registers once its first job process is prewarmed (a hang guard only)
REGISTER_TIMEOUT = 90.0


class PrewarmCounter:
    """Records the pid of every prewarm call (the real models load beside it) in a file, the
    one place that sees the calls made in job processes too."""

    def __init__(self, log: Path) -> None:
        self.log = log

    @hookimpl
    def openrtc_prewarm(self, proc: Any) -> None:
        with self.log.open("a") as out:
            out.write(f"{os.getpid()}\n")

    def pids(self) -> list[int]:
        return [int(line) for line in self.log.read_text().split()] if self.log.exists() else []


def make_pool(counter: PrewarmCounter, **settings: Any) -> AgentPool:
    pool = offline_pool(
        dispatch_name=DISPATCH_NAME,
        plugins={"counter": counter},
        **settings,
    )
    pool.discover(AGENTS_DIR)  # dental, restaurant: the fallback is dental
    return pool


async def served_by(
    admin: ServerAdmin, callers: CallerFactory, room: str, metadata: dict[str, str] | None = None
) -> str:
    await admin.create_room(room)
    await admin.create_dispatch(
        agent_name=DISPATCH_NAME, room=room, metadata=json.dumps(metadata) if metadata else ""
    )
    caller = await callers(room)
    remote = await caller.wait_for_participant(TIMEOUT, agent=True)
    await caller.wait_for_speech(TIMEOUT, participant=remote.identity)
    return remote.attributes["openrtc.agent"] + "/" + remote.attributes["openrtc.router"]


@pytest.mark.parametrize("isolation", ["coroutine", "process"])
async def test_prefix_routing_and_where_prewarm_runs(
    livekit_server: LocalLiveKitServer,
    livekit_admin: ServerAdmin,
    caller_factory: CallerFactory,
    tmp_path: Path,
    isolation: str,
) -> None:
    counter = PrewarmCounter(tmp_path / "prewarm.pids")
    pool = make_pool(counter, isolation=isolation)
    async with running_worker(pool, livekit_server, register_timeout=REGISTER_TIMEOUT):
        results = await asyncio.gather(
            served_by(livekit_admin, caller_factory, new_room_name("restaurant")),
            served_by(
                livekit_admin, caller_factory, new_room_name("restaurant"), {"agent": "dental"}
            ),
            served_by(livekit_admin, caller_factory, new_room_name("lobby")),
        )
        assert results == ["restaurant/prefix", "dental/metadata", "dental/fallback"]
        assert pool.runtime_snapshot().started == 3
    pids = counter.pids()
    if isolation == "coroutine":
        assert pids == [os.getpid()]  # three sessions, one prewarm: they share the worker
    else:
        # each session process prewarms itself, once; the worker never does
        assert len(pids) >= 3 and len(set(pids)) == len(pids), pids
        assert os.getpid() not in pids


async def test_blocked_prefix_router_is_not_used(
    livekit_server: LocalLiveKitServer,
    livekit_admin: ServerAdmin,
    caller_factory: CallerFactory,
    tmp_path: Path,
) -> None:
    pool = make_pool(
        PrewarmCounter(tmp_path / "prewarm.pids"), disable_plugins=["openrtc-router-prefix"]
    )
    async with running_worker(pool, livekit_server, register_timeout=REGISTER_TIMEOUT):
        assert (
            await served_by(livekit_admin, caller_factory, new_room_name("restaurant"))
            == "dental/fallback"
        )
