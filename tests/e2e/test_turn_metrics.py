"""Per-turn latency of a real call: a caller speaks twice, the agent answers twice.

The worker runs the offline STT, LLM and TTS with the real VAD and end-of-turn model behind a
real livekit-server. Each reply becomes one ``turn`` record (JSONL) and one observation of
``openrtc_turn_latency_seconds`` (Prometheus), with livekit's own figures for its parts.
"""

from __future__ import annotations

import asyncio
import json
import re
from pathlib import Path
from typing import Any

import pytest
from openrtc_demo import AGENTS_DIR
from openrtc_providers_offline import Rule
from openrtc_testing.dispatch import ServerAdmin
from openrtc_testing.env import free_tcp_port, new_room_name, scrape_metrics
from openrtc_testing.localserver import LocalLiveKitServer
from openrtc_testing.plugin import CallerFactory
from openrtc_testing.pools import offline_pool
from openrtc_testing.worker import running_worker

pytestmark = pytest.mark.e2e

REPO = Path(__file__).resolve().parents[2]
SPEECH = REPO / "tests" / "data" / "hello_appointment_16k.wav"
DISPATCH_NAME = "openrtc-e2e-turns"
TIMEOUT = 60.0  # a hang guard for a loaded 2-core machine, not a performance claim
REPLY = "Your appointment is booked for Monday."
REPLY_PLAYS_S = 4.0
"""Long enough for the offline TTS to say ``REPLY``: the next turn must not talk over it."""


def turn_records(path: Path) -> list[dict[str, Any]]:
    lines = path.read_text(encoding="utf-8").splitlines() if path.exists() else []
    return [r for r in map(json.loads, lines) if r["kind"] == "turn"]


def histogram_count(metrics: str, name: str, agent: str) -> float:
    found = re.search(rf'^{name}_count{{agent="{agent}"}} (\S+)$', metrics, re.MULTILINE)
    return float(found.group(1)) if found else 0.0


async def test_a_call_of_two_turns_gives_two_turn_records(
    livekit_server: LocalLiveKitServer,
    livekit_admin: ServerAdmin,
    caller_factory: CallerFactory,
    tmp_path: Path,
) -> None:
    jsonl = tmp_path / "metrics.jsonl"
    port = free_tcp_port()
    pool = offline_pool(
        rules=[Rule(pattern=r"appointment|book", reply=REPLY)],
        dispatch_name=DISPATCH_NAME,
        plugin_settings={"metrics_jsonl": str(jsonl), "prometheus_port": port},
    )
    pool.discover(AGENTS_DIR)
    async with running_worker(pool, livekit_server):
        room = new_room_name("turns")
        await livekit_admin.create_room(room)
        await livekit_admin.create_dispatch(
            agent_name=DISPATCH_NAME, room=room, metadata=json.dumps({"agent": "dental"})
        )
        caller = await caller_factory(room)
        agent = await caller.wait_for_participant(TIMEOUT, agent=True)
        await caller.wait_for_speech(TIMEOUT, participant=agent.identity)
        await asyncio.sleep(REPLY_PLAYS_S)  # the greeting is not a turn; let it finish
        for _ in range(2):
            await caller.say(SPEECH)
            assert caller.last_said_at is not None
            await caller.wait_for_speech(
                TIMEOUT, participant=agent.identity, after=caller.last_said_at
            )
            await asyncio.sleep(REPLY_PLAYS_S)
        metrics = await asyncio.to_thread(scrape_metrics, port)
        await caller.leave()

    assert histogram_count(metrics, "openrtc_turn_latency_seconds", "dental") == 2, metrics
    turns = turn_records(jsonl)
    assert [t["turn"] for t in turns] == [1, 2], turns
    for turn in turns:
        assert turn["agent"] == "dental" and turn["room"] == room, turn
        assert not turn["interrupted"], turn
        latency = turn["latency_s"]
        parts = [turn["end_of_turn_delay_s"], turn["llm_ttft_s"], turn["tts_ttfb_s"]]
        assert latency is not None and all(p is not None and p > 0 for p in parts), turn
        # the turn is decided, then the LLM answers, then the TTS speaks: in sequence, so
        # together they fit in what the caller waited (a few ms of hand-off between them)
        assert 0 < sum(parts) <= latency + 0.05, turn
        assert turn["transcription_delay_s"] is not None, turn
