from __future__ import annotations

import json

import pytest
from openrtc_router_prefix import prefix_router

from openrtc import AgentPool
from openrtc.strategies import RouteRequest

AGENTS = ("dental", "dental-kids", "restaurant")


def route(room: str, separator: str = "-") -> str | None:
    return prefix_router(separator)(
        RouteRequest(job_id="J", room_name=room, job_metadata="", room_metadata="", agents=AGENTS)
    )


@pytest.mark.parametrize(
    ("room", "expected"),
    [
        ("dental-call-1", "dental"),
        ("dental-kids-7", "dental-kids"),
        ("dental-kidsroom", "dental"),
        ("dental", "dental"),
        ("dentalcall", None),
        ("restaurant-x", "restaurant"),
        ("unknown-1", None),
    ],
)
def test_longest_matching_prefix(room: str, expected: str | None) -> None:
    assert route(room) == expected


def test_separator_setting() -> None:
    assert route("dental_1", "_") == "dental"
    assert route("dental-1", "_") is None


def pool_with_agents(**kwargs: object) -> AgentPool:
    from livekit.agents import Agent

    class A(Agent):
        pass

    pool = AgentPool(**kwargs)  # type: ignore[arg-type]
    for name in ("restaurant", "dental"):
        pool.add(name, A)
    return pool


def decide(pool: AgentPool, room: str, job_md: str = "") -> str:
    decision = pool.check_job(room, job_metadata=job_md).decision
    assert decision is not None
    return decision.agent


def test_in_the_default_chain_after_metadata() -> None:
    pool = pool_with_agents()
    assert pool.routers == ("metadata", "prefix", "fallback")
    assert decide(pool, "dental-42") == "dental"
    assert decide(pool, "dental-42", json.dumps({"agent": "restaurant"})) == "restaurant"


def test_blocking_the_plugin_turns_prefix_routing_off() -> None:
    pool = pool_with_agents(disable_plugins=["openrtc-router-prefix"])
    assert "prefix" not in pool.routers
    assert decide(pool, "dental-42") == "restaurant"  # the fallback: first registered
