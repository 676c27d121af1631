"""OpenTelemetry for an OpenRTC worker: its metrics as OTel instruments and one trace per job,
livekit's own spans under OpenRTC's, sent over OTLP/HTTP."""

from openrtc_exporter_otel.exporter import OtelMetricsExporter
from openrtc_exporter_otel.tracing import JOB_SPAN

__all__ = ["JOB_SPAN", "OtelMetricsExporter"]
