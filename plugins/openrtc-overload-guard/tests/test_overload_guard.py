"""The overload rule and load, asked through a real pool the way the request handler asks."""

from __future__ import annotations

import attrs
import pytest
from livekit.agents import Agent

from openrtc import AgentPool
from openrtc.plugin import WorkerState
from openrtc.plugin import events as ev


class Dental(Agent):
    def __init__(self) -> None:
        super().__init__(instructions="dental")


def health(
    *, lag_p50: float = 0.001, lag_p95: float = 0.005, busy: float = 0.1, host: float | None = 0.3
) -> ev.WorkerHealth:
    return ev.WorkerHealth(
        window_s=10.0,
        loop_lag_p50_s=lag_p50,
        loop_lag_p95_s=max(lag_p50, lag_p95),
        loop_lag_p99_s=max(lag_p50, lag_p95),
        loop_lag_max_s=max(lag_p50, lag_p95),
        loop_stall_max_s=max(lag_p50, lag_p95),
        loop_busy=busy,
        host_cpu=host,
        loop_lag_recent_p95_s=max(lag_p50, lag_p95),
    )


def state(active: int, measured: ev.WorkerHealth | None, *, starting: int = 0) -> WorkerState:
    return WorkerState(
        active_sessions=active,
        active_by_agent={"dental": active},
        max_concurrent_sessions=50,
        draining=False,
        starting_sessions=starting,
        health=measured,
    )


@pytest.fixture
def pool() -> AgentPool:
    made = AgentPool()
    made.add("dental", Dental)
    return made


def test_a_healthy_worker_admits(pool: AgentPool) -> None:
    assert pool.check_job("r", state=state(10, health(busy=0.3))).admitted


def test_no_measurement_means_no_refusal(pool: AgentPool) -> None:
    # check_job outside a serving worker, or the first moment after registration
    assert pool.check_job("r", state=state(49, None)).admitted


def test_a_lagging_loop_refuses_naming_the_figure_and_the_setting(pool: AgentPool) -> None:
    verdict = pool.check_job("r", state=state(3, health(lag_p95=0.117)))
    assert verdict.rejected_by == "overload"
    assert "lag p95 117 ms" in (verdict.reason or "")
    assert "overload.loop_lag_ms=100" in (verdict.reason or "")


def test_a_stall_refuses_calls_only_while_it_is_recent() -> None:
    # a burst of session starts stalled the loop for a second among prompt ticks: the
    # monitor's own figures, through a real pool
    from openrtc.health import LoopMonitor

    monitor = LoopMonitor()
    made = AgentPool()
    made.add("dental", Dental)
    for i in range(120):
        monitor.record_lag(i * 0.05, 0.002)
    monitor.record_lag(6.0, 0.15)  # a hiccup is not a loop falling behind
    monitor.refresh()
    assert made.check_job("r", state=state(8, monitor.health())).admitted
    monitor.record_lag(6.5, 0.35)  # nor is one new call's start on a busy machine
    monitor.refresh()
    assert monitor.health().loop_lag_recent_p95_s > 0.1  # over 3 s alone it would refuse
    assert made.check_job("r", state=state(8, monitor.health())).admitted
    monitor.record_lag(7.0, 1.0)
    monitor.refresh()
    assert made.check_job("r", state=state(8, monitor.health())).rejected_by == "overload"
    for i in range(1, 70):  # 3.5 s of prompt ticks after it: the loop has recovered
        monitor.record_lag(7.0 + i * 0.05, 0.002)
    monitor.refresh()
    recovered = monitor.health()
    # over the 10 s the snapshot reports the stall still shows; it no longer refuses calls
    assert recovered.loop_lag_p95_s > 0.1
    assert recovered.loop_lag_recent_p95_s < 0.01
    assert made.check_job("r", state=state(8, recovered)).admitted


def test_calls_still_starting_count_at_the_measured_cost(pool: AgentPool) -> None:
    # 20 sessions at 0.6 of a core: 0.03 each. With none starting one more fits (0.63 <= 0.7);
    # with 3 still greeting it would not (0.6 + 4 * 0.03 = 0.72), though the loop is not busy
    # yet: that is how a burst is refused before the loop falls behind
    assert pool.check_job("r", state=state(20, health(busy=0.6))).admitted
    verdict = pool.check_job("r", state=state(20, health(busy=0.6), starting=3))
    assert verdict.rejected_by == "overload"
    assert "3 still starting" in (verdict.reason or "")


def test_a_fresh_worker_does_not_price_calls_at_its_first_calls_start(pool: AgentPool) -> None:
    # the first call connecting (and the first session's imports) keeps the loop half busy:
    # that is not what each further call will cost, so the next ones are admitted
    assert pool.check_job("r", state=state(1, health(busy=0.5), starting=1)).admitted
    assert pool.check_job("r", state=state(3, health(busy=0.55), starting=3)).admitted
    # a loop that busy with the calls it has is still full
    assert pool.check_job("r", state=state(3, health(busy=0.69), starting=3)).rejected_by == (
        "overload"
    )


def test_a_session_hosts_loop_is_priced_by_the_sessions_it_runs(pool: AgentPool) -> None:
    # hybrid: 20 live sessions over two hosts, the next host's loop 0.6 busy with its 10.
    # Each of its sessions costs 0.06, so with 2 starting one more would not fit (0.78); read
    # as 0.6 over all 20 it would look like 0.03 each and be admitted (0.69)
    on_host = attrs.evolve(health(busy=0.6), loop_sessions=10)
    assert pool.check_job("r", state=state(20, health(busy=0.6), starting=2)).admitted
    verdict = pool.check_job("r", state=state(20, on_host, starting=2))
    assert verdict.rejected_by == "overload"


def test_host_cpu_refuses_by_default_in_every_mode(pool: AgentPool) -> None:
    # the loop quiet, the host's cores nearly full (livekit's media threads, or other work)
    verdict = pool.check_job("r", state=state(2, health(busy=0.1, host=0.9)))
    assert verdict.rejected_by == "overload"
    assert "host CPU 90% busy (limit overload.host_cpu=0.85)" in str(verdict.reason)
    assert pool.check_job("r", state=state(2, health(busy=0.1, host=0.8))).admitted
    # the setting wins either way
    for value, admitted in ((0, True), (0.95, True), (0.5, False)):
        chosen = AgentPool(plugin_settings={"overload.host_cpu": value})
        chosen.add("dental", Dental)
        assert chosen.check_job("r", state=state(2, health(host=0.9))).admitted is admitted


def test_reported_load_counts_the_host(pool: AgentPool) -> None:
    from openrtc_overload_guard.guard import Limits, load

    limits = Limits.from_settings(pool.settings)
    assert load(state(2, health(busy=0.0, lag_p95=0.0, host=0.68)), limits) == pytest.approx(0.8)
    off = Limits.from_settings(AgentPool(plugin_settings={"overload.host_cpu": 0}).settings)
    assert load(state(2, health(busy=0.0, lag_p95=0.0, host=0.68)), off) < 0.1


def test_a_limit_of_zero_turns_a_signal_off() -> None:
    relaxed = AgentPool(plugin_settings={"overload.loop_lag_ms": 0, "overload.loop_busy": 0})
    relaxed.add("dental", Dental)
    assert relaxed.check_job("r", state=state(3, health(lag_p95=5.0, busy=1.0))).admitted


def test_reported_load_is_full_while_refusing_and_proportional_otherwise(
    pool: AgentPool,
) -> None:
    from openrtc_overload_guard.guard import Limits, load

    limits = Limits.from_settings(pool.settings)
    assert load(state(3, health(lag_p95=0.3)), limits) == 1.0
    assert load(state(10, health(busy=0.35)), limits) == pytest.approx(0.5)
    assert load(state(10, None), limits) is None


def test_the_worker_reports_itself_full_to_livekit_while_overloaded(pool: AgentPool) -> None:
    runtime = pool._runtime  # the load livekit asks the serving worker for
    runtime.state.measure_health(lambda: health(lag_p95=0.3))
    assert runtime.load() == 1.0
    runtime.state.measure_health(lambda: health(busy=0.07, host=0.05))
    assert runtime.load() == pytest.approx(0.1)


def test_turning_full_and_free_is_logged_once_each_with_the_reason(
    caplog: pytest.LogCaptureFixture,
) -> None:
    from openrtc_overload_guard.plugin import FullReports

    reports = FullReports()
    with caplog.at_level("INFO", logger="openrtc.overload"):
        for reason in (None, "overloaded: lag", "overloaded: lag", "overloaded: busy", None, None):
            reports.note(reason)
    assert [r.getMessage() for r in caplog.records] == [
        "reporting the worker full: overloaded: lag",
        "reporting the worker free again",
    ]
