"""Events from a session running outside the worker reach the worker's exporters
(``openrtc.event_channel``), over a real control socket."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from openrtc import control_socket, events
from openrtc.control_socket import ControlServer, ask
from openrtc.event_channel import (
    EVENT_OP,
    EventForwarder,
    answer_events,
    event_from_record,
    worker_socket,
)


def a_turn() -> events.TurnMeasured:
    return events.TurnMeasured(
        job_id="AJ_1",
        room="room-1",
        agent="dental",
        turn=2,
        latency_s=0.9,
        end_of_turn_delay_s=0.5,
        transcription_delay_s=0.3,
        llm_ttft_s=0.2,
        tts_ttfb_s=None,
        interrupted=True,
        labels={"tenant": "acme"},
    )


def test_a_record_gives_back_the_event_it_was_made_from() -> None:
    turn = a_turn()
    assert event_from_record(turn.as_record()) == turn


@pytest.mark.parametrize(
    "record",
    [
        events.SessionStarted(job_id="AJ_1", room="r", agent="dental").as_record(),
        {"kind": "turn", "job_id": "AJ_1"},
        "turn",
        None,
    ],
)
def test_only_the_kinds_sessions_send_and_only_whole_records_are_taken(record: object) -> None:
    with pytest.raises((TypeError, ValueError)):
        event_from_record(record)


async def test_a_forwarded_turn_is_exported_by_the_worker_once(control_dir: Path) -> None:
    exported: list[events.MetricsEvent] = []
    directory = control_socket.control_dir(str(control_dir))  # made private, as a worker does
    server = ControlServer(directory, {EVENT_OP: answer_events(exported.append)}, pid=4242)
    await server.start()
    try:
        forward = EventForwarder(worker_socket(str(control_dir), 4242))
        forward(events.DrainStarted(reason="not sent", active_sessions=0, version="", pid=1))
        turn = a_turn()
        forward(turn)
        for _ in range(50):
            if exported:
                break
            await asyncio.sleep(0.02)
        bad = await ask(server.path, {"op": EVENT_OP, "record": {"kind": "snapshot"}})
    finally:
        await server.close()
    assert exported == [turn]
    assert "bad event record" in bad["error"]


async def test_a_worker_that_is_gone_costs_one_warning(
    control_dir: Path, caplog: pytest.LogCaptureFixture
) -> None:
    forward = EventForwarder(worker_socket(str(control_dir), 4243))
    for _ in range(3):
        forward(a_turn())
    await asyncio.sleep(0.2)
    warnings = [r for r in caplog.records if "did not reach the worker" in r.getMessage()]
    assert len(warnings) == 1
