"""Job labels: decided once with the route, seen by admission rules, counted per value, and
shown to rules that learn from outcomes; through a real pool's request path."""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from types import SimpleNamespace
from typing import Any

import pytest
from livekit.agents import Agent

from openrtc import AgentPool
from openrtc.labels import LabelKeyConflict
from openrtc.plugin import (
    AdmissionRequest,
    AdmissionRule,
    JobLabeler,
    LabelError,
    RouteRequest,
    events,
    hookimpl,
)
from openrtc.routing import decision_attributes, decision_from_attributes
from openrtc.strategies import RouteDecision


class Dental(Agent):
    def __init__(self) -> None:
        super().__init__(instructions="dental")


def region_of(request: RouteRequest) -> Mapping[str, str]:
    region = json.loads(request.job_metadata or "{}").get("region")
    if region is None:
        return {}
    if region not in ("eu", "us"):
        raise LabelError(f"region {region!r} is not one of eu, us")
    return {"region": region}


class RegionPlugin:
    """Labels jobs by region; refuses a second live call of a region, and records what it sees."""

    def __init__(self) -> None:
        self.seen: list[Mapping[str, str]] = []
        self.observed: list[str] = []

    def check(self, request: AdmissionRequest) -> str | None:
        self.seen.append(dict(request.labels))
        region = request.labels.get("region")
        live = request.state.active_by_label.get("region", {}).get(region or "", 0)
        return f"region {region} is busy" if region and live >= 1 else None

    def observe(self, event: events.MetricsEvent) -> Sequence[events.MetricsEvent]:
        self.observed.append(event.kind)
        if isinstance(event, events.SessionEnded) and event.outcome == "failed":
            return [
                events.AdmissionStateChanged(
                    rule="one-per-region",
                    subject=f"region={event.labels.get('region')}",
                    state="noted",
                    reason="a session failed",
                )
            ]
        return []

    @hookimpl
    def openrtc_job_labelers(self) -> list[JobLabeler]:
        return [JobLabeler(name="region", keys=("region",), label=region_of)]

    @hookimpl
    def openrtc_admission_rules(self) -> list[AdmissionRule]:
        return [
            AdmissionRule(
                name="one-per-region",
                check=self.check,
                observe=self.observe,
                report=lambda: {"observed": len(self.observed)},
            )
        ]


class Recorder:
    name = "recorder"

    def __init__(self) -> None:
        self.events: list[events.MetricsEvent] = []

    def export_event(self, event: events.MetricsEvent) -> None:
        self.events.append(event)

    def export_snapshot(self, snapshot: Any) -> None:
        pass

    def close(self) -> None:
        pass


def pool_with(plugin: object) -> AgentPool:
    pool = AgentPool(plugins={"regions": plugin})
    pool.add("dental", Dental)
    return pool


def request(job_id: str, metadata: dict[str, str]) -> Any:
    """What the request handler reads of livekit's JobRequest, and what it calls back."""
    answers: list[str] = []

    async def accept(**kwargs: Any) -> None:
        answers.append("accept")
        request.attributes = kwargs["attributes"]

    async def reject(**kwargs: Any) -> None:
        answers.append("reject")

    job = SimpleNamespace(
        id=job_id,
        metadata=json.dumps(metadata),
        room=SimpleNamespace(name=f"room-{job_id}", metadata=""),
    )
    request = SimpleNamespace(job=job, accept=accept, reject=reject, answers=answers)
    return request


def test_labels_reach_the_admission_rules_and_travel_with_the_decision() -> None:
    plugin = RegionPlugin()
    verdict = pool_with(plugin).check_job("r", job_metadata='{"region": "eu"}')
    assert verdict.admitted
    assert verdict.decision is not None and verdict.decision.labels == {"region": "eu"}
    assert plugin.seen == [{"region": "eu"}]
    # accept attributes carry them to the entrypoint, in whatever process runs it
    back = decision_from_attributes(decision_attributes(verdict.decision))
    assert back == RouteDecision(
        agent="dental", router=verdict.decision.router, labels={"region": "eu"}
    )


def test_a_labeler_that_declines_names_itself_and_the_problem() -> None:
    verdict = pool_with(RegionPlugin()).check_job("r", job_metadata='{"region": "mars"}')
    assert verdict.rejected_by == "region"
    assert verdict.reason == "region 'mars' is not one of eu, us"


def test_two_labelers_of_one_key_are_refused_when_the_pool_is_built() -> None:
    class Another:
        @hookimpl
        def openrtc_job_labelers(self) -> list[JobLabeler]:
            return [JobLabeler(name="geo", keys=("region",), label=lambda r: {})]

    with pytest.raises(LabelKeyConflict, match="'region' is declared by both"):
        AgentPool(plugins={"regions": RegionPlugin(), "geo": Another()})


async def test_counters_per_label_and_rules_that_learn_from_outcomes() -> None:
    plugin = RegionPlugin()
    pool = pool_with(plugin)
    runtime = pool._runtime
    recorder = Recorder()
    runtime.exporters = [recorder]
    handlers = runtime.handlers

    first, second, third = (request(j, {"region": "eu"}) for j in ("j1", "j2", "j3"))
    await handlers.handle_request(first)
    await handlers.handle_request(second)  # one eu call is live: the rule refuses
    assert (first.answers, second.answers) == (["accept"], ["reject"])
    assert first.attributes["openrtc.label.region"] == "eu"
    snap = pool.runtime_snapshot()
    eu = snap.per_label["region"]["eu"]
    assert (eu.active, eu.started, eu.rejected) == (1, 1, 1)
    assert eu.rejected_by_rule == {"one-per-region": 1}

    from openrtc.plugin import JobEnded

    runtime._job_ended(JobEnded("j1", "room-j1", "dental", succeeded=False))
    await handlers.handle_request(third)  # the eu slot is free again
    assert third.answers == ["accept"]

    ended = next(e for e in recorder.events if isinstance(e, events.SessionEnded))
    assert ended.labels == {"region": "eu"} and ended.outcome == "failed"
    changed = [e for e in recorder.events if isinstance(e, events.AdmissionStateChanged)]
    assert [(c.subject, c.state) for c in changed] == [("region=eu", "noted")]
    # the rule saw every event once, never the one it answered with
    assert plugin.observed.count("admission_state_changed") == 0
    assert plugin.observed.count("session_ended") == 1
    snap = pool.runtime_snapshot()
    eu = snap.per_label["region"]["eu"]
    assert (eu.active, eu.started, eu.failed) == (1, 2, 1)
    assert snap.admission["one-per-region"] == {"observed": len(plugin.observed)}
    record = snap.as_record()
    assert record["per_label"]["region"]["eu"]["failed"] == 1
