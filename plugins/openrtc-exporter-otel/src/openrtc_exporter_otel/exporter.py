"""The metrics exporter: OpenRTC's events and snapshots as OpenTelemetry metrics over OTLP/HTTP.

The SDK is imported and the meter provider made on the first event or snapshot (registration
hooks must not start threads), on a provider of its own: the process-wide one is the user's.
Recording is in memory on the worker's loop; a reader thread sends every
``otel_export_interval`` seconds, so the loop never waits on the collector. Closing sends the
last figures and this process's finished spans.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING

from openrtc.plugin import MetricsEvent, RuntimeSnapshot
from openrtc_exporter_otel.tracing import flush_traces

if TYPE_CHECKING:
    from opentelemetry.sdk.metrics import MeterProvider

    from openrtc_exporter_otel.instruments import Instruments

logger = logging.getLogger("openrtc.exporter.otel")

SHUTDOWN_TIMEOUT_MS = 5000
"""How long a stopping worker waits for the collector to take the last figures."""


class OtelMetricsExporter:
    name = "otel"

    def __init__(self, *, endpoint: str, service_name: str, export_interval_s: float) -> None:
        self.endpoint = endpoint
        self.service_name = service_name
        self.export_interval_s = export_interval_s
        self._provider: MeterProvider | None = None
        self._instruments: Instruments | None = None
        self._closed = False

    @property
    def instruments(self) -> Instruments:
        if self._instruments is None:
            from opentelemetry.exporter.otlp.proto.http.metric_exporter import (
                OTLPMetricExporter,
            )
            from opentelemetry.sdk.metrics import MeterProvider
            from opentelemetry.sdk.metrics.export import PeriodicExportingMetricReader
            from opentelemetry.sdk.resources import Resource

            from openrtc_exporter_otel.instruments import Instruments

            reader = PeriodicExportingMetricReader(
                OTLPMetricExporter(endpoint=f"{self.endpoint}/v1/metrics"),
                export_interval_millis=self.export_interval_s * 1000,
            )
            self._provider = MeterProvider(
                metric_readers=[reader],
                resource=Resource.create({"service.name": self.service_name}),
                shutdown_on_exit=False,  # close() sends the last figures, in order
            )
            self._instruments = Instruments(self._provider.get_meter("openrtc"))
            logger.info(
                "metrics go to %s/v1/metrics every %g s", self.endpoint, self.export_interval_s
            )
        return self._instruments

    def export_event(self, event: MetricsEvent) -> None:
        if not self._closed:
            self.instruments.observe_event(event)

    def export_snapshot(self, snapshot: RuntimeSnapshot) -> None:
        if not self._closed:
            self.instruments.snapshot = snapshot

    def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        flush_traces()
        if self._provider is not None:
            # collects once more (the final snapshot's gauges too) and sends it
            self._provider.shutdown(timeout_millis=SHUTDOWN_TIMEOUT_MS)
