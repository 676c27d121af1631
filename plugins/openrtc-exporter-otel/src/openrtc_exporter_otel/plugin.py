"""Settings and hooks. Nothing is exported, traced or installed unless ``otel_endpoint`` is
set: the plugin may sit in every environment and costs nothing until it is pointed somewhere."""

from __future__ import annotations

from typing import Any
from urllib.parse import urlsplit

from openrtc.plugin import JobTracer, MetricsExporter, Setting, Settings, hookimpl
from openrtc_exporter_otel.exporter import OtelMetricsExporter
from openrtc_exporter_otel.tracing import install_tracing, job_tracer


def _http_url(endpoint: str) -> str | None:
    if not endpoint:
        return None
    parts = urlsplit(endpoint)
    if parts.scheme in ("http", "https") and parts.netloc:
        return None
    return "use the collector's OTLP/HTTP base URL, such as http://127.0.0.1:4318"


ENDPOINT = Setting(
    "otel_endpoint",
    "str",
    "",
    "Base URL of an OTLP/HTTP collector (http://HOST:4318); metrics go to /v1/metrics and "
    "traces to /v1/traces. Empty: OpenTelemetry is off.",
    validator=_http_url,
)
SERVICE_NAME = Setting(
    "otel_service_name",
    "str",
    "openrtc",
    "The service.name resource attribute of everything this worker exports.",
)
EXPORT_INTERVAL = Setting(
    "otel_export_interval",
    "float",
    15.0,
    "Seconds between metric exports to the collector (the last one is sent when the worker stops).",
    minimum=0.1,
)


def _endpoint(settings: Settings) -> str:
    return str(settings[ENDPOINT.name]).rstrip("/")


@hookimpl
def openrtc_settings() -> list[Setting]:
    return [ENDPOINT, SERVICE_NAME, EXPORT_INTERVAL]


@hookimpl
def openrtc_metrics_exporters(settings: Settings) -> list[MetricsExporter]:
    endpoint = _endpoint(settings)
    if not endpoint:
        return []
    return [
        OtelMetricsExporter(
            endpoint=endpoint,
            service_name=settings[SERVICE_NAME.name],
            export_interval_s=settings[EXPORT_INTERVAL.name],
        )
    ]


@hookimpl
def openrtc_job_tracers(settings: Settings) -> list[JobTracer]:
    return [job_tracer()] if _endpoint(settings) else []


@hookimpl
def openrtc_prewarm(proc: Any, settings: Settings) -> None:
    # every process that runs sessions prewarms before its first job: the provider must be
    # livekit's before livekit opens the job's first span
    if endpoint := _endpoint(settings):
        install_tracing(endpoint, settings[SERVICE_NAME.name])
