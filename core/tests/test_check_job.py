"""AgentPool.check_job: the request handler's own answer, asked without a server."""

from __future__ import annotations

import json

from livekit.agents import Agent

from openrtc import AgentPool
from openrtc.strategies import WorkerState


class Dental(Agent):
    def __init__(self) -> None:
        super().__init__(instructions="dental")


def pool(**settings: object) -> AgentPool:
    made = AgentPool(**settings)  # type: ignore[arg-type]
    made.add("dental", Dental)
    return made


def state(active: int, *, cap: int = 50, draining: bool = False) -> WorkerState:
    return WorkerState(
        active_sessions=active,
        active_by_agent={"dental": active},
        max_concurrent_sessions=cap,
        draining=draining,
    )


def test_routes_and_admits_like_a_dispatched_job() -> None:
    verdict = pool().check_job("room-1", job_metadata=json.dumps({"agent": "dental"}))
    assert verdict.admitted
    assert verdict.decision is not None
    assert (verdict.decision.agent, verdict.decision.router) == ("dental", "metadata")


def test_an_unregistered_agent_is_declined_by_routing_naming_the_registered() -> None:
    verdict = pool().check_job("room-1", job_metadata=json.dumps({"agent": "dentl"}))
    assert not verdict.admitted
    assert verdict.decision is None
    assert verdict.rejected_by == "routing"
    assert "agent 'dentl'" in (verdict.reason or "") and "registered: dental" in (
        verdict.reason or ""
    )


def test_a_full_worker_declines_through_its_capacity_rule() -> None:
    checked = pool(max_concurrent_sessions=2)
    assert checked.check_job("room-1", state=state(1, cap=2)).admitted
    full = checked.check_job("room-1", state=state(2, cap=2))
    assert full.rejected_by == "capacity"
    assert full.decision is not None and full.decision.agent == "dental"


def test_a_draining_worker_declines_everything() -> None:
    verdict = pool().check_job("room-1", state=state(0, draining=True))
    assert verdict.rejected_by == "draining"


def test_asking_counts_nothing() -> None:
    checked = pool()
    checked.check_job("room-1")
    checked.check_job("room-2", job_metadata=json.dumps({"agent": "nobody"}))
    snapshot = checked.runtime_snapshot()
    assert (snapshot.started, snapshot.rejected, snapshot.active) == (0, 0, 0)
