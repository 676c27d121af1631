"""Routing plugins and shared prewarm, through a real livekit-server."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import pytest
from openrtc_demo import AGENTS_DIR
from openrtc_providers_offline import offline_providers

from openrtc import AgentPool
from openrtc.hookspecs import hookimpl
from openrtc.localserver import LocalLiveKitServer
from openrtc.testing.dispatch import ServerAdmin
from openrtc.testing.fixtures import CallerFactory, new_room_name
from openrtc.testing.worker import running_worker

pytestmark = pytest.mark.e2e

DISPATCH_NAME = "openrtc-e2e-routing"
TIMEOUT = 45.0


class PrewarmCounter:
    """Counts the kernel's prewarm calls in this process (the real models load beside it)."""

    def __init__(self) -> None:
        self.calls = 0

    @hookimpl
    def openrtc_prewarm(self, proc: Any) -> None:
        self.calls += 1


def make_pool(counter: PrewarmCounter, **settings: Any) -> AgentPool:
    stt, llm, tts = offline_providers()
    pool = AgentPool(
        default_stt=stt,
        default_llm=llm,
        default_tts=tts,
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


async def test_prefix_routing_and_prewarm_once(
    livekit_server: LocalLiveKitServer, livekit_admin: ServerAdmin, caller_factory: CallerFactory
) -> None:
    counter = PrewarmCounter()
    pool = make_pool(counter)
    async with running_worker(pool, livekit_server):
        results = await asyncio.gather(
            served_by(livekit_admin, caller_factory, new_room_name("restaurant")),
            served_by(
                livekit_admin, caller_factory, new_room_name("restaurant"), {"agent": "dental"}
            ),
            served_by(livekit_admin, caller_factory, new_room_name("lobby")),
        )
        assert results == ["restaurant/prefix", "dental/metadata", "dental/fallback"]
        assert pool.runtime_snapshot().started == 3
    assert counter.calls == 1  # three sessions, one prewarm: they share the worker process


async def test_blocked_prefix_router_is_not_used(
    livekit_server: LocalLiveKitServer, livekit_admin: ServerAdmin, caller_factory: CallerFactory
) -> None:
    pool = make_pool(PrewarmCounter(), disable_plugins=["openrtc-router-prefix"])
    async with running_worker(pool, livekit_server):
        assert (
            await served_by(livekit_admin, caller_factory, new_room_name("restaurant"))
            == "dental/fallback"
        )
