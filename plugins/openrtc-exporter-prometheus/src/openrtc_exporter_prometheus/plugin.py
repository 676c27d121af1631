from __future__ import annotations

from openrtc.plugin import MetricsExporter, Setting, Settings, hookimpl
from openrtc_exporter_prometheus.exporter import PrometheusExporter


def _port_range(port: int) -> str | None:
    return None if port <= 65535 else "use a TCP port from 1 to 65535"


def _not_blank(host: str) -> str | None:
    return None if host.strip() else "use an address such as 127.0.0.1 or 0.0.0.0"


PORT = Setting(
    "prometheus_port",
    "int",
    9464,
    "TCP port of the Prometheus /metrics endpoint.",
    minimum=1,
    validator=_port_range,
)
HOST = Setting(
    "prometheus_host",
    "str",
    "127.0.0.1",
    "Address the Prometheus /metrics endpoint listens on (0.0.0.0: every interface).",
    validator=_not_blank,
)


@hookimpl
def openrtc_settings() -> list[Setting]:
    return [PORT, HOST]


@hookimpl
def openrtc_metrics_exporters(settings: Settings) -> list[MetricsExporter]:
    return [PrometheusExporter(host=settings[HOST.name], port=settings[PORT.name])]
