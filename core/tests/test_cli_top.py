"""The text view of ``openrtc top`` (``openrtc.cli.top.render``) from readings as workers
send them; a live worker's readings are in tests/e2e/test_top.py."""

from __future__ import annotations

from typing import Any

from openrtc.cli.top import render


def session(agent: str, room: str, age: float, turns: int, wait: float | None) -> dict[str, Any]:
    return {
        "job_id": f"AJ_{room}",
        "room": room,
        "agent": agent,
        "labels": {"tenant": "acme"} if agent == "dental" else {},
        "age_s": age,
        "turns": turns,
        "last_turn_latency_s": wait,
        "state": "thinking" if room == "room-slow" else None,
    }


WORKER = {
    "pid": 4242,
    "version": "v7",
    "isolation": "hybrid",
    "registered": True,
    "draining": True,
    "load": 0.25,
    "active": 3,
    "rss_bytes": 512 * 2**20,
    "health": {"loop_lag_p99_s": 0.004, "loop_busy": 0.31, "host_cpu": 0.62, "loop_cpu_wait": 0.2},
    "turns": {"dental": {"turns": 5, "latency_p50_s": 0.8, "latency_p95_s": 1.9}},
    "sessions": [
        session("dental", "room-young", 10.0, 1, 0.7),
        session("restaurant", "room-old", 300.0, 9, None),
        session("dental", "room-slow", 60.0, 3, 2.5),
    ],
}


def rooms_in(view: str) -> list[str]:
    return [word for line in view.splitlines() for word in line.split() if word.startswith("room-")]


def test_the_header_says_what_an_operator_checks_first() -> None:
    view = render([WORKER], sort="age", agent=None)
    header = view.splitlines()[0]
    for part in ("pid 4242", "version v7", "hybrid", "draining", "load 0.25", "active 3"):
        assert part in header, header
    assert "loop lag p99 4 ms" in header and "RSS 512 MiB" in header, header
    assert "CPU loop 31% waiting 20% host 62%" in header, header
    assert "dental: 5 turns in the last minute, caller waited p50 800 ms, p95 1900 ms" in view


def test_rows_sort_and_filter() -> None:
    assert rooms_in(render([WORKER], sort="age", agent=None)) == [
        "room-old",
        "room-slow",
        "room-young",
    ]
    assert rooms_in(render([WORKER], sort="wait", agent=None))[0] == "room-slow"
    assert rooms_in(render([WORKER], sort="turns", agent=None))[0] == "room-old"
    assert rooms_in(render([WORKER], sort="age", agent="dental")) == ["room-slow", "room-young"]
    assert "acme" in render([WORKER], sort="age", agent="dental")
    slow = next(
        line
        for line in render([WORKER], sort="age", agent=None).splitlines()
        if "room-slow" in line
    )
    assert "thinking" in slow.split()


def test_no_worker_and_no_call_are_said_in_words() -> None:
    assert "no OpenRTC worker" in render([], sort="age", agent=None)
    idle = {**WORKER, "sessions": [], "draining": False, "registered": False}
    view = render([idle], sort="age", agent=None)
    assert "(no live calls)" in view and "not registered" in view.splitlines()[0]
