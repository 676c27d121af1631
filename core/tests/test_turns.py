"""How a session's chat messages become turn records (``openrtc.turns``).

The messages are plain objects with the three attributes livekit's ``ChatMessage`` gives the
recorder (``role``, ``metrics``, ``interrupted``); a real session's are in
tests/e2e/test_turn_metrics.py."""

from __future__ import annotations

from types import SimpleNamespace
from typing import Any

from openrtc import events
from openrtc.turns import TurnRecorder, TurnWindow


def added(role: str, interrupted: bool = False, **metrics: Any) -> SimpleNamespace:
    item = SimpleNamespace(role=role, metrics=metrics, interrupted=interrupted)
    return SimpleNamespace(item=item)


def recorder() -> tuple[TurnRecorder, list[events.MetricsEvent]]:
    seen: list[events.MetricsEvent] = []
    turns = TurnRecorder("AJ_1", "room-1", "dental", seen.append, {"tenant": "acme"})
    return turns, seen


def test_a_reply_after_the_caller_spoke_is_one_turn_with_both_messages_figures() -> None:
    turns, seen = recorder()
    turns.on_item_added(added("assistant"))  # the greeting answers no one
    turns.on_item_added(added("user", end_of_turn_delay=0.4, transcription_delay=0.3))
    turns.on_item_added(added("assistant", e2e_latency=1.1, llm_node_ttft=0.35, tts_node_ttfb=0.2))
    assert len(seen) == 1
    turn = seen[0]
    assert isinstance(turn, events.TurnMeasured)
    assert (turn.turn, turn.agent, turn.labels) == (1, "dental", {"tenant": "acme"})
    assert (turn.latency_s, turn.end_of_turn_delay_s, turn.transcription_delay_s) == (
        1.1,
        0.4,
        0.3,
    )
    assert (turn.llm_ttft_s, turn.tts_ttfb_s, turn.interrupted) == (0.35, 0.2, False)
    assert turn.as_record()["kind"] == "turn"


def test_turns_count_up_and_a_second_reply_to_one_message_is_not_a_turn() -> None:
    turns, seen = recorder()
    for _ in range(2):
        turns.on_item_added(added("user"))
        turns.on_item_added(added("assistant", interrupted=True))
        turns.on_item_added(added("assistant"))  # after a tool call: the same turn
    assert [(t.turn, t.interrupted) for t in seen if isinstance(t, events.TurnMeasured)] == [
        (1, True),
        (2, True),
    ]


def test_figures_livekit_did_not_measure_are_none_and_odd_items_do_not_raise() -> None:
    turns, seen = recorder()
    turns.on_item_added(added("user", end_of_turn_delay="soon"))
    turns.on_item_added(SimpleNamespace(item=SimpleNamespace(role="assistant", metrics=None)))
    turns.on_item_added(SimpleNamespace())  # no item at all: logged, not raised
    turn = seen[0]
    assert isinstance(turn, events.TurnMeasured)
    assert turn.latency_s is None and turn.end_of_turn_delay_s is None
    assert len(seen) == 1


def measured(agent: str, latency: float | None) -> events.TurnMeasured:
    return events.TurnMeasured(
        job_id="AJ_1",
        room="room-1",
        agent=agent,
        turn=1,
        latency_s=latency,
        end_of_turn_delay_s=None,
        transcription_delay_s=None,
        llm_ttft_s=None,
        tts_ttfb_s=None,
        interrupted=False,
    )


def test_the_window_keeps_the_last_minute_of_waits_per_agent() -> None:
    now = [0.0]
    window = TurnWindow(window_s=60.0, clock=lambda: now[0])
    for at, agent, latency in [
        (0.0, "dental", 9.0),  # leaves the window at 60 s
        (20.0, "dental", 1.0),
        (30.0, "dental", 2.0),
        (40.0, "dental", 3.0),
        (40.0, "dental", None),  # a reply livekit did not time: not a wait
        (50.0, "restaurant", 0.5),
    ]:
        now[0] = at
        window.add(measured(agent, latency))
    now[0] = 70.0
    stats = window.stats()
    assert stats["dental"] == events.TurnStats(turns=3, latency_p50_s=2.0, latency_p95_s=3.0)
    assert stats["restaurant"].turns == 1
    now[0] = 111.0
    assert window.stats() == {}
