"""Per-turn latency of a real call: a caller speaks twice, the agent answers twice.

The worker, started from the command line, runs the real VAD and end-of-turn model with
cloud-like providers (a scripted transcript, the offline LLM, pre-rendered audio) behind a real
livekit-server. Each reply becomes one ``turn`` record (JSONL) and one observation of
``openrtc_turn_latency_seconds`` (Prometheus), with livekit's own figures for its parts, in
every isolation mode: from a job process or a session host the records travel to the worker
over its control socket (``openrtc.event_channel``).
"""

from __future__ import annotations

import asyncio
import json
import re
from pathlib import Path
from typing import Any

import pytest
from openrtc_demo import AGENTS_DIR
from openrtc_testing.apps import write_pool_app
from openrtc_testing.caller import greeted_caller
from openrtc_testing.dispatch import ServerAdmin
from openrtc_testing.env import free_tcp_port, scrape_metrics
from openrtc_testing.localserver import LocalLiveKitServer
from openrtc_testing.plugin import CallerFactory
from openrtc_testing.process import WorkerProcess

pytestmark = pytest.mark.e2e

REPO = Path(__file__).resolve().parents[2]
BENCHMARKS = REPO / "tests" / "benchmarks"
SPEECH = REPO / "tests" / "data" / "hello_appointment_16k.wav"
DISPATCH_NAME = "openrtc-e2e-turns"
TIMEOUT = 90.0  # a hang guard for a loaded 2-core machine, not a performance claim
REPLY_PLAYS_S = 4.0
"""Long enough for a reply to play out: the next turn must not talk over it."""


def turn_records(path: Path) -> list[dict[str, Any]]:
    lines = path.read_text(encoding="utf-8").splitlines() if path.exists() else []
    return [r for r in map(json.loads, lines) if r["kind"] == "turn"]


def histogram_count(metrics: str, name: str, agent: str) -> float:
    found = re.search(rf'^{name}_count{{agent="{agent}"}} (\S+)$', metrics, re.MULTILINE)
    return float(found.group(1)) if found else 0.0


@pytest.mark.parametrize("isolation", ["coroutine", "process", "hybrid"])
async def test_a_call_of_two_turns_gives_two_turn_records(
    livekit_server: LocalLiveKitServer,
    livekit_admin: ServerAdmin,
    caller_factory: CallerFactory,
    tmp_path: Path,
    control_dir: Path,
    isolation: str,
) -> None:
    jsonl = tmp_path / "metrics.jsonl"
    port = free_tcp_port()
    app = write_pool_app(
        tmp_path / "app.py", dispatch_name=DISPATCH_NAME, import_paths=(BENCHMARKS,)
    )
    worker = WorkerProcess(
        app,
        livekit_server,
        str(AGENTS_DIR),
        *("--isolation", isolation, "--control-dir", str(control_dir)),
        *("--metrics-jsonl", str(jsonl), "--prometheus-port", str(port)),
        snapshot_file=tmp_path / "snapshot.json",
    )
    try:
        await worker.start()
        await worker.wait_for_line("registered (", TIMEOUT)
        caller, agent = await greeted_caller(
            livekit_admin, caller_factory, DISPATCH_NAME, prefix="turns", timeout_s=TIMEOUT
        )
        room = caller.room_name
        await asyncio.sleep(REPLY_PLAYS_S)  # the greeting is not a turn; let it finish
        for _ in range(2):
            await caller.take_turn(SPEECH, agent.identity, TIMEOUT, plays_s=REPLY_PLAYS_S)
        metrics = await asyncio.to_thread(scrape_metrics, port)
        await caller.leave()
        for _ in range(75):  # the JSONL exporter writes from its own thread, snapshots tick
            turns = turn_records(jsonl)
            recent = ((worker.snapshot() or {}).get("turns") or {}).get("dental", {})
            if len(turns) >= 2 and recent.get("turns") == 2:
                break
            await asyncio.sleep(0.2)
    finally:
        await worker.stop()
        worker.save_log(tmp_path / "worker.log")

    assert histogram_count(metrics, "openrtc_turn_latency_seconds", "dental") == 2, metrics
    assert [t["turn"] for t in turns] == [1, 2], (turns, worker.tail())
    # the snapshot's window: both waits, the median being the shorter (nearest rank)
    latencies = sorted(t["latency_s"] for t in turns)
    assert recent == {
        "turns": 2,
        "latency_p50_s": round(latencies[0], 4),
        "latency_p95_s": round(latencies[1], 4),
    }, recent
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
    print(f"\n{isolation}: turn latencies {[round(t['latency_s'], 3) for t in turns]} s")
