"""The exporter on its own: settings, and events and snapshots sent to a real OTLP/HTTP
endpoint (``openrtc_testing.otlp``) when it closes."""

from __future__ import annotations

from typing import Any

import pytest
from openrtc_exporter_otel import OtelMetricsExporter
from openrtc_testing.otlp import OtlpReceiver

from openrtc import AgentPool
from openrtc.events import (
    AdmissionRejected,
    AgentStats,
    JobRouted,
    ProviderError,
    RuntimeSnapshot,
    SessionEnded,
    SessionStarted,
    TurnMeasured,
    WorkerHealth,
)
from openrtc.settings import SettingError


def test_off_until_an_endpoint_is_set(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("OPENRTC_OTEL_ENDPOINT", raising=False)
    runtime = AgentPool()._runtime
    assert "otel" not in runtime.host.strategies("openrtc_metrics_exporters", runtime.settings)
    assert runtime.handlers.tracers == {}

    monkeypatch.setenv("OPENRTC_OTEL_ENDPOINT", "http://127.0.0.1:4318/")
    runtime = AgentPool()._runtime
    exporter = runtime.host.strategies("openrtc_metrics_exporters", runtime.settings)["otel"]
    assert exporter.endpoint == "http://127.0.0.1:4318"
    assert list(runtime.handlers.tracers) == ["otel"]
    assert exporter._provider is None  # offering it starts no thread and opens no socket


@pytest.mark.parametrize(
    ("settings", "problem"),
    [
        ({"otel_endpoint": "127.0.0.1:4318"}, "use the collector's OTLP/HTTP base URL"),
        ({"otel_endpoint": "grpc://collector:4317"}, "use the collector's OTLP/HTTP base URL"),
        ({"otel_export_interval": 0}, "use a value >= 0.1"),
    ],
)
def test_bad_settings_name_the_fix(settings: dict[str, Any], problem: str) -> None:
    with pytest.raises(SettingError, match=problem):
        AgentPool(plugin_settings=settings)


def turn(latency_s: float, **labels: str) -> TurnMeasured:
    return TurnMeasured(
        job_id="AJ_1",
        room="room-1",
        agent="dental",
        turn=1,
        latency_s=latency_s,
        end_of_turn_delay_s=0.5,
        transcription_delay_s=0.3,
        llm_ttft_s=0.2,
        tts_ttfb_s=0.1,
        interrupted=True,
        labels=labels,
    )


def test_events_and_the_last_snapshot_arrive_when_the_exporter_closes() -> None:
    with OtlpReceiver() as receiver:
        exporter = OtelMetricsExporter(
            endpoint=receiver.url, service_name="unit", export_interval_s=60.0
        )
        tenant = {"tenant": "acme"}
        exporter.export_event(
            SessionStarted(job_id="AJ_1", room="r", agent="dental", labels=tenant)
        )
        exporter.export_event(JobRouted(job_id="AJ_1", room="r", agent="dental", router="metadata"))
        exporter.export_event(
            AdmissionRejected(
                job_id="AJ_2", room="r", agent="dental", rule="capacity", reason="full"
            )
        )
        exporter.export_event(
            ProviderError(
                job_id="AJ_1",
                room="r",
                agent="dental",
                component="stt",
                provider="FaultySTT",
                recoverable=True,
                error="APIConnectionError: reset",
            )
        )
        exporter.export_event(turn(1.2))
        exporter.export_event(turn(0.8))
        exporter.export_event(
            SessionEnded(
                job_id="AJ_1",
                room="r",
                agent="dental",
                outcome="succeeded",
                duration_s=42.0,
                labels=tenant,
            )
        )
        exporter.export_snapshot(
            RuntimeSnapshot(
                uptime_s=60.0,
                isolation="coroutine",
                active=3,
                started=4,
                succeeded=1,
                failed=0,
                rejected=1,
                draining=True,
                max_concurrent_sessions=50,
                consecutive_failures=0,
                rss_bytes=300 * 2**20,
                per_agent={"dental": AgentStats(active=3, started=4, succeeded=1)},
                health=WorkerHealth(
                    window_s=5.0,
                    loop_lag_p50_s=0.001,
                    loop_lag_p95_s=0.004,
                    loop_lag_p99_s=0.01,
                    loop_lag_max_s=0.2,
                    loop_stall_max_s=0.2,
                    loop_busy=0.3,
                    host_cpu=None,
                ),
            )
        )
        assert receiver.exports == []  # nothing is sent before the interval or the close
        exporter.close()
        exporter.export_event(turn(9.0))  # after close: dropped, never re-opened

        def value(metric: str, **attributes: Any) -> list[float]:
            return [p.value for p in receiver.last(metric, **attributes)]

        assert len(receiver.exports) == 1
        started = receiver.last("openrtc.sessions.started")
        assert [(p.attributes, p.value) for p in started] == [
            ({"agent": "dental", "openrtc.label.tenant": "acme"}, 1)
        ]
        assert value("openrtc.sessions.ended", agent="dental", outcome="succeeded") == [1]
        assert value("openrtc.jobs.routed", agent="dental", router="metadata") == [1]
        assert value("openrtc.admission.rejected", rule="capacity") == [1]
        (latency,) = receiver.last("openrtc.turn.latency", agent="dental")
        assert (latency.value, round(latency.sum, 6)) == (2, 2.0)
        (ttft,) = receiver.last("openrtc.turn.llm_ttft", agent="dental")
        assert (ttft.value, round(ttft.sum, 6)) == (2, 0.4)
        assert value("openrtc.turns.interrupted", agent="dental") == [2]
        assert value("openrtc.provider.errors", component="stt", recoverable=True) == [1]
        assert value("openrtc.session.duration", agent="dental") == [1]
        assert value("openrtc.sessions.active", agent="dental") == [3]
        assert value("openrtc.sessions.limit") == [50]
        assert value("openrtc.worker.draining") == [1]
        assert value("openrtc.worker.memory.resident") == [300 * 2**20]
        assert value("openrtc.worker.loop_lag", quantile="max") == [0.2]
