"""The audio a session hears: at 16 kHz without gain control by default, livekit's 24 kHz when
the setting says so. A real worker, a real caller speaking through a real livekit-server, and
an agent that notes the sample rate of the frames its STT stage receives."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterable, Awaitable, Callable
from pathlib import Path
from typing import Any

import pytest
from livekit import rtc
from livekit.agents import Agent, ModelSettings
from openrtc_testing.caller import Caller
from openrtc_testing.localserver import LocalLiveKitServer
from openrtc_testing.pools import offline_pool
from openrtc_testing.worker import running_worker

pytestmark = pytest.mark.e2e

SPEECH = Path(__file__).resolve().parents[3] / "tests" / "data" / "hello_appointment_16k.wav"
DISPATCH_NAME = "openrtc-e2e-audio-input"
TIMEOUT = 60.0  # a hang guard, not a performance claim
heard: list[tuple[int, int]] = []  # (sample rate, frame ms) at the STT stage


class Listener(Agent):
    def __init__(self) -> None:
        super().__init__(instructions="listen")

    def stt_node(self, audio: AsyncIterable[rtc.AudioFrame], model_settings: ModelSettings) -> Any:
        async def noted() -> AsyncIterable[rtc.AudioFrame]:
            async for frame in audio:
                heard.append((frame.sample_rate, round(frame.duration * 1000)))
                yield frame

        return Agent.default.stt_node(self, noted(), model_settings)


def test_the_plan_carries_the_defaults_and_the_settings_change_them() -> None:
    from openrtc.plugin import SessionSpec

    for settings, expected in (
        ({}, {"sample_rate": 16_000, "auto_gain_control": False}),
        (
            {"session_defaults.input_sample_rate": 0, "session_defaults.input_gain_control": True},
            {"auto_gain_control": True},
        ),
        (
            {"session_defaults.input_frame_ms": 100},
            {"sample_rate": 16_000, "auto_gain_control": False, "frame_size_ms": 100},
        ),
    ):
        pool = offline_pool(plugin_settings=settings)
        config = pool.add("listener", Listener)
        spec = SessionSpec(
            agent="listener", job_id="j", room_name="r", userdata={}, settings=pool.settings
        )
        assert pool._runtime.handlers.plan(config, spec).audio_input == expected


def test_transcripts_follow_the_audio_unless_the_setting_turns_it_off() -> None:
    from openrtc.plugin import SessionSpec

    for settings, expected in (
        ({}, {}),  # livekit's default: synchronised
        ({"session_defaults.sync_transcription": False}, {"sync_transcription": False}),
    ):
        pool = offline_pool(plugin_settings=settings)
        config = pool.add("listener", Listener)
        spec = SessionSpec(
            agent="listener", job_id="j", room_name="r", userdata={}, settings=pool.settings
        )
        assert pool._runtime.handlers.plan(config, spec).text_output == expected


@pytest.mark.parametrize(
    ("settings", "rate", "frame_ms"),
    [
        ({}, 16_000, 50),
        ({"session_defaults.input_sample_rate": 24_000}, 24_000, 50),
        ({"session_defaults.input_frame_ms": 100}, 16_000, 100),
    ],
)
async def test_a_live_session_hears_the_caller_at_the_chosen_rate_and_frame(
    livekit_server: LocalLiveKitServer,
    call_agent: Callable[[str, str], Awaitable[Caller]],
    settings: dict[str, int],
    rate: int,
    frame_ms: int,
) -> None:
    heard.clear()
    pool = offline_pool(dispatch_name=DISPATCH_NAME, plugin_settings=settings)
    pool.add("listener", Listener, greeting="")
    async with running_worker(pool, livekit_server):
        caller = await call_agent(DISPATCH_NAME, "listener")
        await caller.say(SPEECH)
        loop = asyncio.get_running_loop()
        deadline = loop.time() + TIMEOUT
        while len(heard) < 10:
            assert loop.time() < deadline, "the agent's STT stage never received audio"
            await asyncio.sleep(0.2)
    assert {sample_rate for sample_rate, _ in heard} == {rate}
    # most frames are the stream's own; livekit joins what it buffered before the agent was
    # listening into longer ones
    durations = [ms for _, ms in heard]
    assert max(set(durations), key=durations.count) == frame_ms
