"""Prometheus metrics for an OpenRTC worker, on their own registry and HTTP endpoint."""

from openrtc_exporter_prometheus.exporter import PrometheusExporter

__all__ = ["PrometheusExporter"]
