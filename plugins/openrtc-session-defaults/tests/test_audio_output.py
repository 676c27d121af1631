"""The agent's voice: published at up to 72 kbit/s by default, at livekit's 48 kbit/s when the
setting says so. A real worker and a real livekit-server; the bitrate is what WebRTC's encoder
of the agent's published track reports as its target."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Any

import pytest
from livekit import rtc
from livekit.agents import Agent, get_job_context
from openrtc_testing.caller import Caller
from openrtc_testing.localserver import LocalLiveKitServer
from openrtc_testing.pools import offline_pool
from openrtc_testing.worker import running_worker

pytestmark = pytest.mark.e2e

DISPATCH_NAME = "openrtc-e2e-audio-output"
TIMEOUT = 60.0  # a hang guard, not a performance claim
agent_rooms: list[rtc.Room] = []


class Speaker(Agent):
    def __init__(self) -> None:
        super().__init__(instructions="say hello")

    async def on_enter(self) -> None:
        agent_rooms.append(get_job_context().room)


def _spec(pool: Any) -> Any:
    from openrtc.plugin import SessionSpec

    return SessionSpec(
        agent="speaker", job_id="j", room_name="r", userdata={}, settings=pool.settings
    )


def test_the_plan_publishes_at_72_kbits_unless_the_setting_leaves_livekits_default() -> None:
    pool = offline_pool()
    config = pool.add("speaker", Speaker)
    options = pool._runtime.handlers.plan(config, _spec(pool)).audio_output
    assert set(options) == {"track_publish_options"}
    assert options["track_publish_options"].audio_encoding.max_bitrate == 72_000
    assert options["track_publish_options"].source == rtc.TrackSource.SOURCE_MICROPHONE

    pool = offline_pool(plugin_settings={"session_defaults.output_bitrate": 0})
    config = pool.add("speaker", Speaker)
    assert pool._runtime.handlers.plan(config, _spec(pool)).audio_output == {}


async def _encoder_target_bitrate(room: rtc.Room) -> int:
    """The target bitrate WebRTC's encoder of the room's published audio track reports."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + TIMEOUT
    while True:
        for publication in room.local_participant.track_publications.values():
            if publication.track is None or publication.kind != rtc.TrackKind.KIND_AUDIO:
                continue
            for stat in await publication.track.get_stats():
                if stat.HasField("outbound_rtp") and stat.outbound_rtp.outbound.target_bitrate:
                    return int(stat.outbound_rtp.outbound.target_bitrate)
        assert loop.time() < deadline, "the agent's audio track never reported its encoder"
        await asyncio.sleep(0.2)


@pytest.mark.parametrize(("setting", "bitrate"), [(None, 72_000), (0, 48_000)])
async def test_a_live_session_publishes_the_agents_voice_at_the_chosen_bitrate(
    livekit_server: LocalLiveKitServer,
    call_agent: Callable[[str, str], Awaitable[Caller]],
    setting: int | None,
    bitrate: int,
) -> None:
    agent_rooms.clear()
    settings = {} if setting is None else {"session_defaults.output_bitrate": setting}
    pool = offline_pool(dispatch_name=DISPATCH_NAME, plugin_settings=settings)
    pool.add("speaker", Speaker, greeting="")
    async with running_worker(pool, livekit_server):
        await call_agent(DISPATCH_NAME, "speaker")
        loop = asyncio.get_running_loop()
        deadline = loop.time() + TIMEOUT
        while not agent_rooms:
            assert loop.time() < deadline, "the agent never entered"
            await asyncio.sleep(0.2)
        assert await _encoder_target_bitrate(agent_rooms[0]) == bitrate
