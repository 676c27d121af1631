"""OpenTelemetry from a real call, received by a real OTLP/HTTP endpoint.

A worker started from the command line with ``--otel-endpoint`` serves one call of one turn
behind a real livekit-server (real VAD and end-of-turn model; a scripted transcript, the offline
LLM and pre-rendered audio), in every isolation mode. What arrives at the endpoint, decoded
with opentelemetry-proto: one trace for the job, livekit's ``job_entrypoint`` at its root,
OpenRTC's ``openrtc.job`` under it with the routing and admission it was given, and livekit's
``agent_session`` under that; and the metrics, the turn's latency among them.
"""

from __future__ import annotations

import asyncio
import signal
from pathlib import Path

import pytest
from openrtc_demo import AGENTS_DIR
from openrtc_testing.apps import write_pool_app
from openrtc_testing.caller import greeted_caller
from openrtc_testing.dispatch import ServerAdmin
from openrtc_testing.localserver import LocalLiveKitServer
from openrtc_testing.otlp import OtlpReceiver, Span
from openrtc_testing.plugin import CallerFactory
from openrtc_testing.process import WorkerProcess

pytestmark = pytest.mark.e2e

REPO = Path(__file__).resolve().parents[3]
BENCHMARKS = REPO / "tests" / "benchmarks"
SPEECH = REPO / "tests" / "data" / "hello_appointment_16k.wav"
DISPATCH_NAME = "openrtc-e2e-otel"
TIMEOUT = 90.0  # a hang guard for a loaded 2-core machine, not a performance claim
REPLY_PLAYS_S = 4.0


async def arrived(receiver: OtlpReceiver, room: str, what: str) -> tuple[Span, Span]:
    """OpenRTC's span of the call in ``room`` and livekit's root span of the same job, once
    both have reached the endpoint (spans travel in batches, after the job ends)."""
    for _ in range(int(TIMEOUT / 0.2)):
        mine = [
            s for s in receiver.spans_named("openrtc.job") if s.attributes["openrtc.room"] == room
        ]
        if mine:
            job_id = mine[0].attributes["openrtc.job_id"]
            roots = [
                s
                for s in receiver.spans_named("job_entrypoint")
                if s.attributes.get("lk.job_id") == job_id
            ]
            if roots:
                assert len(mine) == 1 and len(roots) == 1, (mine, roots)
                return mine[0], roots[0]
        await asyncio.sleep(0.2)
    raise AssertionError(f"{what}: no openrtc.job and job_entrypoint spans for room {room}")


@pytest.mark.parametrize("isolation", ["coroutine", "process", "hybrid"])
async def test_a_call_is_one_trace_and_its_metrics_reach_the_collector(
    livekit_server: LocalLiveKitServer,
    livekit_admin: ServerAdmin,
    caller_factory: CallerFactory,
    otlp_receiver: OtlpReceiver,
    tmp_path: Path,
    control_dir: Path,
    isolation: str,
) -> None:
    app = write_pool_app(
        tmp_path / "app.py", dispatch_name=DISPATCH_NAME, import_paths=(BENCHMARKS,)
    )
    worker = WorkerProcess(
        app,
        livekit_server,
        str(AGENTS_DIR),
        *("--isolation", isolation, "--control-dir", str(control_dir)),
        *("--otel-endpoint", otlp_receiver.url, "--otel-service-name", "otel-e2e"),
        *("--otel-export-interval", "0.5"),
        snapshot_file=tmp_path / "snapshot.json",
    )
    try:
        await worker.start()
        await worker.wait_for_line("registered (", TIMEOUT)
        caller, agent = await greeted_caller(
            livekit_admin, caller_factory, DISPATCH_NAME, prefix="otel", timeout_s=TIMEOUT
        )
        room = caller.room_name
        await asyncio.sleep(REPLY_PLAYS_S)  # the greeting is not a turn; let it finish
        await caller.take_turn(SPEECH, agent.identity, TIMEOUT, plays_s=REPLY_PLAYS_S)
        await caller.leave()
        job, root = await arrived(otlp_receiver, room, worker.tail())
        for _ in range(int(TIMEOUT / 0.2)):  # the job's end reaches the worker's counters
            snapshot = worker.snapshot() or {}
            if snapshot.get("active") == 0 and snapshot.get("succeeded") == 1:
                break
            await asyncio.sleep(0.2)
        version = snapshot.get("deployment")
        worker.send_signal(signal.SIGTERM)
        exit_code = await worker.wait(TIMEOUT)
    finally:
        await worker.stop()
        worker.save_log(tmp_path / "worker.log")

    # one trace: livekit's root > openrtc.job > livekit's session
    assert job.trace_id == root.trace_id and job.parent_id == root.span_id, (job, root)
    trace = otlp_receiver.trace(job.trace_id)
    sessions = [s for s in trace if s.name == "agent_session"]
    assert len(sessions) == 1 and sessions[0].parent_id == job.span_id, trace
    under_session = {s.name for s in trace if s.parent_id == sessions[0].span_id}
    assert {"agent_turn", "user_turn"} <= under_session, under_session
    # no span of this job went to another trace
    assert not [
        s
        for s in otlp_receiver.spans
        if s.attributes.get("lk.job_id") == job.attributes["openrtc.job_id"]
        and s.trace_id != job.trace_id
    ]
    assert job.attributes | {"openrtc.job_id": "-"} == {
        "openrtc.job_id": "-",
        "openrtc.room": room,
        "openrtc.agent": "dental",
        "openrtc.router": "metadata",
        "openrtc.version": version,
        "openrtc.isolation": isolation,
        "openrtc.admitted_by": job.attributes["openrtc.admitted_by"],
        "openrtc.shutdown_reason": job.attributes["openrtc.shutdown_reason"],
    }, job.attributes
    assert "capacity" in job.attributes["openrtc.admitted_by"], job.attributes
    assert job.attributes["openrtc.shutdown_reason"], job.attributes
    assert job.resource["service.name"] == "otel-e2e"

    # the metrics: the worker's last export, sent as it stopped
    assert exit_code == 0, worker.tail()
    started = otlp_receiver.last("openrtc.sessions.started", agent="dental")
    assert [p.value for p in started] == [1], started
    ended = otlp_receiver.last("openrtc.sessions.ended", agent="dental", outcome="succeeded")
    assert [p.value for p in ended] == [1], ended
    latency = otlp_receiver.last("openrtc.turn.latency", agent="dental")
    assert [p.value for p in latency] == [1] and 0 < latency[0].sum < TIMEOUT, latency
    parts = [
        otlp_receiver.last(f"openrtc.turn.{p}", agent="dental") for p in ("llm_ttft", "tts_ttfb")
    ]
    assert all(len(p) == 1 and 0 < p[0].sum <= latency[0].sum for p in parts), [
        (p.metric, p.value, p.sum) for points in [*parts, latency] for p in points
    ]
    active = otlp_receiver.last("openrtc.sessions.active", agent="dental")
    assert [p.value for p in active] == [0], active
    print(
        f"\n{isolation}: {len(trace)} spans in the job's trace; turn latency {latency[0].sum:.3f} s"
    )
