"""The exporter: updates the metrics and serves them on ``http://HOST:PORT/metrics``.

prometheus-client is imported on first use, not with the plugin, so ``openrtc --help`` and
``openrtc plugins list`` do not pay for it. The HTTP server starts with the first event or
snapshot (registration hooks must not open sockets) and runs on its own daemon thread, so a
scrape never waits on the worker's event loop and the loop never waits on a scrape.
"""

from __future__ import annotations

import logging
import threading
from typing import TYPE_CHECKING

from openrtc.plugin import MetricsEvent, RuntimeSnapshot

if TYPE_CHECKING:
    from wsgiref.simple_server import WSGIServer

    from openrtc_exporter_prometheus.metrics import WorkerMetrics

logger = logging.getLogger("openrtc.exporter.prometheus")


class PrometheusExporter:
    name = "prometheus"

    def __init__(self, host: str = "127.0.0.1", port: int = 9464) -> None:
        self.host = host
        self.port = port
        self._metrics: WorkerMetrics | None = None
        self._server: WSGIServer | None = None
        self._thread: threading.Thread | None = None
        self._listen_failed = False

    @property
    def metrics(self) -> WorkerMetrics:
        """The metric families, on a registry of their own (made on first use)."""
        if self._metrics is None:
            from prometheus_client import CollectorRegistry

            from openrtc_exporter_prometheus.metrics import WorkerMetrics

            self._metrics = WorkerMetrics(CollectorRegistry(auto_describe=True))
        return self._metrics

    @property
    def url(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"http://{host}:{self.port}/metrics"

    def serve(self) -> None:
        """Start the HTTP endpoint if it is not running; a busy port is logged, not fatal."""
        if self._server is not None or self._listen_failed:
            return
        from prometheus_client import start_http_server

        try:
            self._server, self._thread = start_http_server(
                self.port, addr=self.host, registry=self.metrics.registry
            )
        except OSError as exc:
            # metrics must never stop calls: the worker serves on without an endpoint
            self._listen_failed = True
            logger.error(
                "prometheus exporter cannot listen on %s:%d (%s); set --prometheus-port to a "
                "free port or block it with OPENRTC_DISABLE_PLUGINS=openrtc-exporter-prometheus",
                self.host,
                self.port,
                exc.strerror or exc,
            )
            return
        logger.info("prometheus metrics on %s", self.url)

    def export_event(self, event: MetricsEvent) -> None:
        self.serve()
        self.metrics.observe_event(event)

    def export_snapshot(self, snapshot: RuntimeSnapshot) -> None:
        self.serve()
        self.metrics.observe_snapshot(snapshot)

    def close(self) -> None:
        server, self._server = self._server, None
        if server is None:
            return
        server.shutdown()
        server.server_close()
        if self._thread is not None:
            self._thread.join(timeout=5)
