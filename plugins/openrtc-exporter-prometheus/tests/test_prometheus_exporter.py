"""The exporter on its own: events move counters, snapshots move gauges, scraped over HTTP."""

from __future__ import annotations

import logging
import socket
import urllib.error
from collections.abc import Callable
from typing import Any

import attrs
import pytest
from openrtc_exporter_prometheus import PrometheusExporter
from prometheus_client import REGISTRY

from openrtc import AgentPool
from openrtc.events import (
    AdmissionRejected,
    AgentReloaded,
    AgentStats,
    DrainStarted,
    JobRouted,
    ProviderError,
    RuntimeSnapshot,
    SessionEnded,
    SessionStarted,
    WorkerLost,
    WorkerRegistered,
)
from openrtc.settings import SettingError

Scraper = Callable[[int], Any]


def snapshot(*, dental_active: int, draining: bool = False) -> RuntimeSnapshot:
    return RuntimeSnapshot(
        uptime_s=12.5,
        isolation="coroutine",
        active=dental_active,
        started=1,
        succeeded=0,
        failed=0,
        rejected=1,
        draining=draining,
        max_concurrent_sessions=50,
        consecutive_failures=0,
        rss_bytes=200 * 2**20,
        per_agent={"dental": AgentStats(active=dental_active, started=1)},
        deployment="v7",
    )


@pytest.fixture
def exporter(free_port: int) -> Any:
    made = PrometheusExporter(host="127.0.0.1", port=free_port)
    yield made
    made.close()


def test_events_and_snapshots_reach_the_endpoint_with_conventional_names(
    exporter: PrometheusExporter, scrape: Scraper
) -> None:
    exporter.export_event(WorkerRegistered(isolation="coroutine", agents=("dental", "restaurant")))
    before = scrape(exporter.port)
    # declared agents exist at zero before their first call
    assert before.value("openrtc_sessions_started_total", agent="restaurant") == 0
    assert before.value("openrtc_sessions_ended_total", agent="dental", outcome="failed") == 0

    exporter.export_event(JobRouted(job_id="j1", room="r1", agent="dental", router="metadata"))
    exporter.export_event(SessionStarted(job_id="j1", room="r1", agent="dental"))
    exporter.export_event(
        AdmissionRejected(job_id="j2", room="r2", agent=None, rule="routing", reason="no agent")
    )
    exporter.export_snapshot(snapshot(dental_active=1))
    during = scrape(exporter.port)
    assert during.value("openrtc_sessions_started_total", agent="dental") == 1
    assert during.value("openrtc_jobs_routed_total", agent="dental", router="metadata") == 1
    assert during.value("openrtc_admission_rejected_total", agent="", rule="routing") == 1
    assert during.value("openrtc_active_sessions", agent="dental") == 1
    assert during.value("openrtc_max_concurrent_sessions") == 50
    assert during.value("openrtc_uptime_seconds") == 12.5
    assert during.value("openrtc_resident_memory_bytes") == 200 * 2**20
    assert during.value("openrtc_draining") == 0
    assert during.value("openrtc_worker_info", isolation="coroutine", deployment="v7") == 1

    exporter.export_event(
        SessionEnded(job_id="j1", room="r1", agent="dental", outcome="succeeded", duration_s=42.0)
    )
    exporter.export_event(DrainStarted(reason="test", active_sessions=0))
    for lost in (3, 2):  # two workers of this host found dead at start-up
        exporter.export_event(
            WorkerLost(
                pid=4182,
                version="v6",
                active_sessions=lost,
                per_agent={"dental": lost},
                snapshot_at=0.0,
                found_by=4200,
            )
        )
    for outcome in ("applied", "failed", "applied"):
        exporter.export_event(
            AgentReloaded(
                file="agents/dental.py",
                agents=("dental",),
                outcome=outcome,  # type: ignore[arg-type]
                error=None,
                sessions_moving=0,
                sessions_kept=0,
                duration_s=0.01,
            )
        )
    exporter.export_snapshot(snapshot(dental_active=0, draining=True))
    after = scrape(exporter.port)
    assert after.value("openrtc_sessions_ended_total", agent="dental", outcome="succeeded") == 1
    assert after.value("openrtc_session_duration_seconds_count", agent="dental") == 1
    assert after.value("openrtc_session_duration_seconds_sum", agent="dental") == 42.0
    assert after.value("openrtc_session_duration_seconds_bucket", agent="dental", le="60.0") == 1
    assert after.value("openrtc_session_duration_seconds_bucket", agent="dental", le="30.0") == 0
    assert after.value("openrtc_active_sessions", agent="dental") == 0
    assert after.value("openrtc_draining") == 1
    assert after.value("openrtc_drains_total") == 1
    assert after.value("openrtc_sessions_lost_total") == 5
    assert after.value("openrtc_reloads_total", outcome="applied") == 2
    assert after.value("openrtc_reloads_total", outcome="failed") == 1
    for counter in ("sessions_started", "sessions_ended", "jobs_routed", "admission_rejected"):
        assert f"# TYPE openrtc_{counter}_total counter" in after.text
    names = {name for name, _ in after.samples}
    assert all(n.startswith("openrtc_") for n in names)


def test_own_registry_keeps_other_libraries_metrics_out(
    exporter: PrometheusExporter, scrape: Scraper
) -> None:
    exporter.export_snapshot(snapshot(dental_active=0))
    body = scrape(exporter.port).text
    default_names = {m.name for m in REGISTRY.collect()}
    assert "python_gc_objects_collected" in default_names  # the process-wide one is not served
    assert "python_gc_objects_collected" not in body and "process_cpu" not in body
    assert exporter.metrics.registry is not REGISTRY


def test_close_stops_the_endpoint(free_port: int, scrape: Scraper) -> None:
    exporter = PrometheusExporter(port=free_port)
    exporter.export_snapshot(snapshot(dental_active=0))
    scrape(free_port)
    exporter.close()
    with pytest.raises(urllib.error.URLError):
        scrape(free_port)
    exporter.close()  # twice is harmless


def test_a_busy_port_is_one_logged_line_and_metrics_still_count(
    free_port: int, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.ERROR, logger="openrtc.exporter.prometheus")
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as squatter:
        squatter.bind(("127.0.0.1", free_port))
        squatter.listen()
        exporter = PrometheusExporter(port=free_port)
        exporter.export_event(SessionStarted(job_id="j", room="r", agent="dental"))
        exporter.export_snapshot(snapshot(dental_active=1))
        exporter.close()
    errors = [m for m in caplog.messages if "cannot listen" in m]
    assert len(errors) == 1
    assert f"127.0.0.1:{free_port}" in errors[0] and "--prometheus-port" in errors[0]
    counted = exporter.metrics.registry.get_sample_value(
        "openrtc_sessions_started_total", {"agent": "dental"}
    )
    assert counted == 1


def test_exporter_is_offered_with_its_settings(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("OPENRTC_PROMETHEUS_PORT", raising=False)
    monkeypatch.delenv("OPENRTC_PROMETHEUS_HOST", raising=False)
    runtime = AgentPool()._runtime
    offered = runtime.host.strategies("openrtc_metrics_exporters", runtime.settings)
    default = offered["prometheus"]
    assert (default.host, default.port) == ("127.0.0.1", 9464)
    monkeypatch.setenv("OPENRTC_PROMETHEUS_PORT", "9999")
    runtime = AgentPool(plugin_settings={"prometheus_host": "::1"})._runtime
    chosen = runtime.host.strategies("openrtc_metrics_exporters", runtime.settings)["prometheus"]
    assert (chosen.host, chosen.port, chosen.url) == ("::1", 9999, "http://[::1]:9999/metrics")
    assert chosen._server is None  # offering an exporter opens no socket


@pytest.mark.parametrize(
    ("settings", "problem"),
    [
        ({"prometheus_port": 70000}, "use a TCP port from 1 to 65535"),
        ({"prometheus_port": 0}, "use a value >= 1"),
        ({"prometheus_host": " "}, "use an address such as 127.0.0.1"),
    ],
)
def test_bad_settings_name_the_fix(settings: dict[str, Any], problem: str) -> None:
    with pytest.raises(SettingError, match=problem):
        AgentPool(plugin_settings=settings)


def test_the_worker_health_in_a_snapshot_becomes_gauges(
    exporter: PrometheusExporter, scrape: Scraper
) -> None:
    from openrtc.events import WorkerHealth

    measured = WorkerHealth(
        window_s=10.0,
        loop_lag_p50_s=0.002,
        loop_lag_p95_s=0.04,
        loop_lag_p99_s=0.09,
        loop_lag_max_s=0.3,
        loop_stall_max_s=1.5,
        loop_busy=0.42,
        host_cpu=None,
    )
    unmeasured = scrape_after(exporter, scrape, snapshot(dental_active=1))
    assert unmeasured.value("openrtc_loop_busy_ratio") is None  # not serving yet: no figure
    healthy = attrs.evolve(snapshot(dental_active=1), health=measured)
    scraped = scrape_after(exporter, scrape, healthy)
    assert scraped.value("openrtc_loop_lag_seconds", quantile="0.99") == 0.09
    assert scraped.value("openrtc_loop_lag_seconds", quantile="max") == 0.3
    assert scraped.value("openrtc_loop_stall_max_seconds") == 1.5
    assert scraped.value("openrtc_loop_busy_ratio") == 0.42
    assert scraped.value("openrtc_host_cpu_ratio") is None  # no /proc/stat: no made-up zero
    assert scraped.value("openrtc_loop_cpu_wait_ratio") is None  # no schedstat: none either
    waited = attrs.evolve(healthy, health=attrs.evolve(measured, loop_cpu_wait=0.35))
    assert scrape_after(exporter, scrape, waited).value("openrtc_loop_cpu_wait_ratio") == 0.35


def scrape_after(exporter: PrometheusExporter, scrape: Scraper, snap: RuntimeSnapshot) -> Any:
    exporter.export_snapshot(snap)
    return scrape(exporter.port)


def test_job_labels_become_their_own_metric_families(
    exporter: PrometheusExporter, scrape: Scraper
) -> None:
    from openrtc.events import AdmissionStateChanged, LabelStats

    acme, bravo = {"tenant": "acme"}, {"tenant": "bravo"}
    exporter.export_event(SessionStarted(job_id="j1", room="r1", agent="dental", labels=acme))
    exporter.export_event(
        SessionEnded(
            job_id="j1", room="r1", agent="dental", outcome="failed", duration_s=3.0, labels=bravo
        )
    )
    exporter.export_event(
        AdmissionRejected(
            job_id="j2", room="r2", agent="dental", rule="tenant", reason="cap", labels=acme
        )
    )
    breaker = {"rule": "tenant_breaker", "subject": "tenant=bravo"}
    exporter.export_event(AdmissionStateChanged(**breaker, state="open", reason="failing"))
    exporter.export_snapshot(
        attrs.evolve(
            snapshot(dental_active=1), per_label={"tenant": {"acme": LabelStats(active=1)}}
        )
    )
    seen = scrape(exporter.port)
    assert seen.value("openrtc_tenant_sessions_started_total", tenant="acme") == 1
    assert seen.value("openrtc_tenant_sessions_ended_total", tenant="bravo", outcome="failed") == 1
    assert seen.value("openrtc_tenant_sessions_ended_total", tenant="acme", outcome="failed") == 0
    assert seen.value("openrtc_tenant_admission_rejected_total", tenant="acme", rule="tenant") == 1
    assert seen.value("openrtc_tenant_active_sessions", tenant="acme") == 1
    assert seen.value("openrtc_admission_state", **breaker, state="open") == 1
    exporter.export_event(AdmissionStateChanged(**breaker, state="half_open", reason="probe"))
    seen = scrape(exporter.port)
    assert seen.value("openrtc_admission_state", **breaker, state="open") == 0
    assert seen.value("openrtc_admission_state", **breaker, state="half_open") == 1


def test_provider_errors_count_by_component_and_whether_the_session_went_on(
    exporter: PrometheusExporter, scrape: Scraper
) -> None:
    def error(recoverable: bool, component: str = "llm") -> ProviderError:
        return ProviderError(
            job_id="j1",
            room="r1",
            agent="dental",
            component=component,
            provider="FaultyLLM",
            recoverable=recoverable,
            error="APIConnectionError: the provider dropped the stream",
        )

    for event in (error(True), error(True), error(False), error(True, "tts")):
        exporter.export_event(event)
    scraped = scrape(exporter.port)
    name = "openrtc_provider_errors_total"
    assert scraped.value(name, agent="dental", component="llm", recoverable="true") == 2
    assert scraped.value(name, agent="dental", component="llm", recoverable="false") == 1
    assert scraped.value(name, agent="dental", component="tts", recoverable="true") == 1
    assert "dropped the stream" not in scraped.text  # messages are the JSONL's, never labels
