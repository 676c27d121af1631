"""Turn latency: how long callers wait for a reply with 1 and with N calls live, from the
worker's own turn records; and what recording a turn costs the worker.

Starts a livekit-server and one worker (cloud-like providers: a scripted transcript, the
offline LLM, pre-rendered audio; the real VAD and end-of-turn model; ``--isolation`` as given)
writing JSONL. For each N in ``--sessions``, N callers join at once, wait for the greeting and
then speak ``--turns`` times, each time waiting for the reply to start and play. The worker's
``turn`` records of those calls give the p50/p95 of the wait and of each part.

The cost of recording: ``TurnRecorder`` turning a real caller message and reply (livekit's
``ChatMessage`` with its metrics) into a record and handing it to the JSONL exporter,
against handing the exporter a ``session_started`` record, the per-call work the worker
already did before turns were recorded. Medians over ``--repeat`` rounds.

With openrtc-exporter-otel installed, the same per-turn cost for its histograms.
``--sessions ""`` measures the costs only, without a server.

Usage:
    uv run --all-packages python tests/benchmarks/turn_latency.py [--sessions 1,10]
        [--turns 3] [--isolation coroutine] [--repeat 20000]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import sys
import tempfile
import time
from collections.abc import Awaitable
from pathlib import Path
from typing import Any

from openrtc_demo import AGENTS_DIR
from openrtc_testing.apps import write_pool_app
from openrtc_testing.caller import Caller, greeted_caller
from openrtc_testing.dispatch import ServerAdmin
from openrtc_testing.localserver import LocalLiveKitServer
from openrtc_testing.process import WorkerProcess
from openrtc_testing.server_binary import find_server_binary

from openrtc import events
from openrtc.health import percentile
from openrtc.turns import TurnRecorder

HERE = Path(__file__).resolve().parent
SPEECH = HERE.parents[1] / "tests" / "data" / "hello_appointment_16k.wav"
NAME = "turn-latency"
TIMEOUT = 120.0
PLAYS_S = 4.0
"""A greeting or reply plays out before the caller speaks again."""
PARTS = ("latency_s", "end_of_turn_delay_s", "transcription_delay_s", "llm_ttft_s", "tts_ttfb_s")


async def one_call(server: LocalLiveKitServer, admin: ServerAdmin, turns: int) -> str:
    def join(room: str) -> Awaitable[Caller]:
        return Caller(server, room).join()

    caller, agent = await greeted_caller(admin, join, NAME, prefix="turns", timeout_s=TIMEOUT)
    try:
        await asyncio.sleep(PLAYS_S)
        for _ in range(turns):
            await caller.take_turn(SPEECH, agent.identity, TIMEOUT, plays_s=PLAYS_S)
    finally:
        await caller.leave()
    return caller.room_name


def records(path: Path, rooms: set[str]) -> list[dict[str, Any]]:
    lines = path.read_text(encoding="utf-8").splitlines() if path.exists() else []
    return [r for r in map(json.loads, lines) if r["kind"] == "turn" and r["room"] in rooms]


def summary(turns: list[dict[str, Any]]) -> dict[str, tuple[float, float] | None]:
    out: dict[str, tuple[float, float] | None] = {}
    for part in PARTS:
        values = sorted(t[part] for t in turns if t[part] is not None)
        out[part] = (percentile(values, 0.5), percentile(values, 0.95)) if values else None
    return out


async def measure_calls(args: argparse.Namespace) -> list[tuple[int, int, int, dict[str, Any]]]:
    server = await asyncio.to_thread(LocalLiveKitServer(find_server_binary()).start)
    admin = ServerAdmin(server)
    rows = []
    with tempfile.TemporaryDirectory(prefix="turns-") as tmp:
        jsonl = Path(tmp) / "metrics.jsonl"
        app = write_pool_app(Path(tmp) / "app.py", dispatch_name=NAME, import_paths=(HERE,))
        worker = WorkerProcess(
            app,
            server,
            str(AGENTS_DIR),
            *("--isolation", args.isolation, "--metrics-jsonl", str(jsonl)),
            env={"OPENRTC_DISABLE_PLUGINS": "openrtc-exporter-prometheus"},
        )
        try:
            await worker.start()
            await worker.wait_for_line("registered (", TIMEOUT)
            for n in args.sessions:
                calls = [one_call(server, admin, args.turns) for _ in range(n)]
                done = await asyncio.gather(*calls, return_exceptions=True)
                rooms = {room for room in done if isinstance(room, str)}
                await asyncio.sleep(1.0)  # the JSONL writer thread
                turns = records(jsonl, rooms)
                rows.append((n, len(rooms), len(turns), summary(turns)))
                per_call = sorted(sum(t["room"] == room for t in turns) for room in rooms)
                cut_off = sum(t["interrupted"] for t in turns)
                print(f"N={n}: turn records per call {per_call}, {cut_off} interrupted")
        finally:
            await worker.stop()
            worker.save_log(Path(args.keep_log)) if args.keep_log else None
            if args.keep_log:
                Path(args.keep_log).with_suffix(".jsonl").write_bytes(jsonl.read_bytes())
            await admin.aclose()
            await asyncio.to_thread(server.stop)
    return rows


def recording_cost(repeat: int) -> tuple[float, float]:
    """Median seconds per turn recorded into the JSONL exporter, and per session_started."""
    from livekit.agents.llm import ChatMessage
    from openrtc_exporter_jsonl.exporter import JsonlExporter

    with tempfile.TemporaryDirectory(prefix="turn-cost-") as tmp:
        exporter = JsonlExporter(Path(tmp) / "cost.jsonl", max_pending=repeat * 2 + 10)
        recorder = TurnRecorder("AJ_1", "room-1", "dental", exporter.export_event)
        user = ChatMessage(
            role="user",
            content=["I would like to book an appointment."],
            metrics={"end_of_turn_delay": 0.5, "transcription_delay": 0.3},
        )
        reply = ChatMessage(
            role="assistant",
            content=["Your appointment is booked."],
            metrics={"e2e_latency": 1.0, "llm_node_ttft": 0.3, "tts_node_ttfb": 0.2},
        )
        added_user, added_reply = SimpleEvent(user), SimpleEvent(reply)
        per_turn, per_start = [], []
        for _ in range(repeat):
            began = time.perf_counter()
            recorder.on_item_added(added_user)
            recorder.on_item_added(added_reply)
            per_turn.append(time.perf_counter() - began)
            began = time.perf_counter()
            exporter.export_event(events.SessionStarted(job_id="AJ_1", room="r", agent="dental"))
            per_start.append(time.perf_counter() - began)
        exporter.close()
    return statistics.median(per_turn), statistics.median(per_start)


def otel_cost(repeat: int) -> float:
    """Median seconds for the OpenTelemetry exporter to record one turn (the latency and its
    four parts into histograms), with its SDK exporting to a local OTLP endpoint."""
    from openrtc_exporter_otel import OtelMetricsExporter
    from openrtc_testing.otlp import OtlpReceiver

    turn = events.TurnMeasured(
        job_id="AJ_1",
        room="room-1",
        agent="dental",
        turn=1,
        latency_s=1.0,
        end_of_turn_delay_s=0.5,
        transcription_delay_s=0.3,
        llm_ttft_s=0.3,
        tts_ttfb_s=0.2,
        interrupted=False,
    )
    with OtlpReceiver() as receiver:
        exporter = OtelMetricsExporter(
            endpoint=receiver.url, service_name="cost", export_interval_s=3600.0
        )
        exporter.export_event(turn)  # the SDK and the instruments are made on first use
        took = []
        for _ in range(repeat):
            began = time.perf_counter()
            exporter.export_event(turn)
            took.append(time.perf_counter() - began)
        exporter.close()
    return statistics.median(took)


class SimpleEvent:
    """What livekit hands a ``conversation_item_added`` listener: the item."""

    def __init__(self, item: Any) -> None:
        self.item = item


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--sessions", default="1,10")
    parser.add_argument("--turns", type=int, default=3)
    parser.add_argument("--isolation", default="coroutine")
    parser.add_argument("--repeat", type=int, default=20_000)
    parser.add_argument("--keep-log", default="", help="save the worker's log (and JSONL) here")
    args = parser.parse_args()
    args.sessions = [int(n) for n in args.sessions.split(",") if n.strip()]

    rows = asyncio.run(measure_calls(args)) if args.sessions else []
    print(f"\nturn waits, {args.isolation} isolation, {args.turns} turns per call (p50 / p95, s)")
    print(f"{'N':>4} {'calls':>6} {'turns':>6}  " + "  ".join(f"{p:>22}" for p in PARTS))
    for n, served, count, figures in rows:
        cells = [
            "-" if figures[p] is None else f"{figures[p][0]:.3f} / {figures[p][1]:.3f}"
            for p in PARTS
        ]
        print(f"{n:>4} {served:>6} {count:>6}  " + "  ".join(f"{c:>22}" for c in cells))

    turn_s, start_s = recording_cost(args.repeat)
    print(
        f"\nrecording one turn (two messages -> one JSONL record): {turn_s * 1e6:.1f} us "
        f"median; exporting a session_started record: {start_s * 1e6:.1f} us "
        f"(ratio {turn_s / start_s:.1f}x), over {args.repeat} rounds"
    )
    otel_s = otel_cost(args.repeat)
    print(
        f"recording one turn in the OpenTelemetry exporter (five histograms): "
        f"{otel_s * 1e6:.1f} us median (ratio to a session_started record {otel_s / start_s:.1f}x)"
    )
    # a turn is a reply to what the caller said: an utterance the agent answers together with
    # the next one (or never) has no record of its own, so fewer records than utterances is
    # possible; a call with none at all is not
    spoken = {n: n * args.turns for n in args.sessions}
    for n, served, count, _ in rows:
        print(f"N={n}: {served} calls served, {spoken[n]} utterances, {count} turn records")
    return 0 if all(served == n and count >= served for n, served, count, _ in rows) else 1


if __name__ == "__main__":
    sys.exit(main())
