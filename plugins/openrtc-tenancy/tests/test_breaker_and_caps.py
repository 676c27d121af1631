"""Caps and the circuit breaker of each tenant, fed the events the worker emits."""

from __future__ import annotations

from openrtc_tenancy.breaker import Breaker, BreakerSettings
from openrtc_tenancy.config import parse
from openrtc_tenancy.rules import TenantRules

from openrtc.plugin import AdmissionRequest, WorkerState, events

SETTINGS = BreakerSettings(window_s=60, min_sessions=3, failure_ratio=0.5, cooldown_s=30)


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def request(tenant: str, live: int = 0, job: str = "j") -> AdmissionRequest:
    state = WorkerState(
        active_sessions=live,
        active_by_agent={},
        max_concurrent_sessions=50,
        draining=False,
        active_by_label={"tenant": {tenant: live}},
    )
    return AdmissionRequest(
        job_id=job, room_name="r", agent="a", state=state, labels={"tenant": tenant}
    )


def started(job: str, tenant: str) -> events.SessionStarted:
    return events.SessionStarted(job_id=job, room="r", agent="a", labels={"tenant": tenant})


def ended(job: str, tenant: str, outcome: str) -> events.SessionEnded:
    return events.SessionEnded(
        job_id=job,
        room="r",
        agent="a",
        outcome=outcome,  # type: ignore[arg-type]
        duration_s=1.0,
        labels={"tenant": tenant},
    )


def test_a_breaker_opens_on_the_failure_ratio_once_enough_sessions_ended() -> None:
    clock = Clock()
    breaker = Breaker(SETTINGS, clock)
    assert breaker.ended("a", failed=True) is None  # 1 of 1 failed, but below min_sessions
    assert breaker.ended("b", failed=False) is None
    opened = breaker.ended("c", failed=True)  # 2 of 3 failed
    assert opened is not None and opened.state == "open"
    assert "2 of the last 3 sessions failed" in opened.reason
    assert "circuit breaker open" in (breaker.refusal() or "")


def test_old_outcomes_leave_the_window() -> None:
    clock = Clock()
    breaker = Breaker(SETTINGS, clock)
    breaker.ended("a", failed=True)
    breaker.ended("b", failed=True)
    clock.now += 61
    assert breaker.ended("c", failed=True) is None  # the first two aged out
    assert breaker.state == "closed"


def test_after_the_cooldown_one_probe_decides() -> None:
    clock = Clock()
    breaker = Breaker(SETTINGS, clock)
    for job in "abc":
        breaker.ended(job, failed=True)
    assert "next probe call in 30 s" in (breaker.refusal() or "")
    clock.now += 31
    assert breaker.refusal() is None  # the probe
    assert "a probe call is starting" in (breaker.refusal() or "")
    half = breaker.started("p1")
    assert half is not None and half.state == "half_open"
    assert "waiting on its probe" in (breaker.refusal() or "")
    failed = breaker.ended("p1", failed=True)
    assert failed is not None and failed.state == "open"
    clock.now += 31
    assert breaker.refusal() is None
    breaker.started("p2")
    closed = breaker.ended("p2", failed=False)
    assert closed is not None and closed.state == "closed"
    assert breaker.refusal() is None and breaker.refusal() is None


def test_a_probe_that_never_starts_frees_the_slot() -> None:
    clock = Clock()
    breaker = Breaker(SETTINGS, clock)
    for job in "abc":
        breaker.ended(job, failed=True)
    clock.now += 31
    assert breaker.refusal() is None
    clock.now += 16  # declined by another rule: no session ever started
    assert breaker.refusal() is None


def test_caps_and_rate_per_tenant() -> None:
    clock = Clock()
    config = parse(
        "[tenants.acme]\nmax_sessions = 2\n[tenants.globex]\nsessions_per_minute = 2\n", "t"
    )
    rules = TenantRules(lambda: config, SETTINGS, clock=clock)
    assert rules.check_tenant(request("acme", live=1)) is None
    assert rules.check_tenant(request("acme", live=2)) == (
        "tenant 'acme' at its cap: 2/2 live sessions (max_sessions in the tenancy config)"
    )
    for job in ("g1", "g2"):
        rules.observe(started(job, "globex"))
    assert "2 sessions started in the last 60 s" in (rules.check_tenant(request("globex")) or "")
    clock.now += 61
    assert rules.check_tenant(request("globex")) is None


def test_one_tenants_failures_open_only_its_breaker_with_events() -> None:
    clock = Clock()
    rules = TenantRules(lambda: parse("[tenants.a]\n[tenants.b]\n", "t"), SETTINGS, clock=clock)
    changes = []
    for i in range(3):
        rules.observe(started(f"b{i}", "b"))
        changes += rules.observe(ended(f"b{i}", "b", "failed"))
        rules.observe(started(f"a{i}", "a"))
        changes += rules.observe(ended(f"a{i}", "a", "succeeded"))
    assert [(c.subject, c.state) for c in changes] == [("tenant=b", "open")]
    assert rules.check_breaker(request("a")) is None
    assert "tenant 'b': circuit breaker open" in (rules.check_breaker(request("b")) or "")
    report = rules.report()
    assert report["b"]["state"] == "open" and report["b"]["failures"] == 3  # type: ignore[index]
    assert report["a"]["state"] == "closed"  # type: ignore[index]
    # a cancelled session (a forced stop) is neither a failure nor a success
    assert rules.observe(ended("a9", "a", "cancelled")) == ()


def test_the_worker_reports_full_when_every_listed_tenant_is_at_its_cap() -> None:
    from openrtc_tenancy.load import every_tenant_at_cap

    config = parse("[tenants.acme]\nmax_sessions = 2\n[tenants.bravo]\nmax_sessions = 1\n", "t")
    strict = {"unknown": "reject", "default_tenant": "", "required": True}
    assert every_tenant_at_cap(config, {"acme": 2, "bravo": 1}, **strict)  # type: ignore[arg-type]
    assert not every_tenant_at_cap(config, {"acme": 2}, **strict)  # type: ignore[arg-type]
    # a job naming no tenant, or an unlisted one, could still be taken
    lenient = {**strict, "required": False}
    assert not every_tenant_at_cap(config, {"acme": 2, "bravo": 1}, **lenient)  # type: ignore[arg-type]
    loose = {**strict, "unknown": "default"}
    assert not every_tenant_at_cap(config, {"acme": 2, "bravo": 1}, **loose)  # type: ignore[arg-type]
    uncapped = parse("[tenants.acme]\nmax_sessions = 2\n[tenants.bravo]\n", "t")
    assert not every_tenant_at_cap(uncapped, {"acme": 2, "bravo": 9}, **strict)  # type: ignore[arg-type]


def test_starts_of_a_tenant_without_a_rate_cap_are_not_kept_forever() -> None:
    clock = Clock()
    rules = TenantRules(lambda: parse("[tenants.a]\n", "t"), SETTINGS, clock=clock)
    for job in ("a1", "a2", "a3"):
        rules.observe(started(job, "a"))
    clock.now += 61
    rules.observe(started("a4", "a"))
    assert len(rules._starts["a"]) == 1  # only the last 60 s are held
