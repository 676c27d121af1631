"""A real OTLP/HTTP endpoint: what a worker sends arrives over loopback HTTP and is decoded with
opentelemetry-proto, the collector's own message types. No collector binary is needed, and no
part of the OpenTelemetry SDK is mocked."""

from __future__ import annotations

import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from opentelemetry.proto.collector.metrics.v1.metrics_service_pb2 import (
    ExportMetricsServiceRequest,
    ExportMetricsServiceResponse,
)
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import (
    ExportTraceServiceRequest,
    ExportTraceServiceResponse,
)
from opentelemetry.proto.common.v1.common_pb2 import AnyValue


def plain(value: AnyValue) -> Any:
    """An attribute's value as Python: a string, number, bool or tuple of them."""
    kind = value.WhichOneof("value")
    if kind == "array_value":
        return tuple(plain(v) for v in value.array_value.values)
    return getattr(value, kind) if kind else None


class Span:
    def __init__(self, proto: Any, resource: dict[str, Any]) -> None:
        self.name: str = proto.name
        self.trace_id: str = proto.trace_id.hex()
        self.span_id: str = proto.span_id.hex()
        self.parent_id: str = proto.parent_span_id.hex()
        self.attributes = {a.key: plain(a.value) for a in proto.attributes}
        self.resource = resource

    def __repr__(self) -> str:
        return f"Span({self.name} {self.span_id} parent={self.parent_id or '-'})"


class Point:
    """One metric data point: a sum's or gauge's value, or a histogram's count and sum."""

    def __init__(self, metric: str, proto: Any, kind: str) -> None:
        self.metric = metric
        self.attributes = {a.key: plain(a.value) for a in proto.attributes}
        if kind == "histogram":
            self.value: float = proto.count
            self.sum: float = proto.sum
        else:
            self.value = (
                proto.as_double if proto.WhichOneof("value") == "as_double" else proto.as_int
            )


class OtlpReceiver:
    """Takes OTLP/HTTP protobuf posts on ``/v1/traces`` and ``/v1/metrics`` and keeps them;
    a context manager that serves from a thread of its own while it is open."""

    def __init__(self) -> None:
        self.spans: list[Span] = []
        self.exports: list[list[Point]] = []
        self.lock = threading.Lock()
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers["Content-Length"]))
                assert self.headers["Content-Type"] == "application/x-protobuf"
                if self.path == "/v1/traces":
                    receiver.take_traces(body)
                    reply = ExportTraceServiceResponse().SerializeToString()
                elif self.path == "/v1/metrics":
                    receiver.take_metrics(body)
                    reply = ExportMetricsServiceResponse().SerializeToString()
                else:
                    self.send_error(404)
                    return
                self.send_response(200)
                self.send_header("Content-Type", "application/x-protobuf")
                self.send_header("Content-Length", str(len(reply)))
                self.end_headers()
                self.wfile.write(reply)

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def take_traces(self, body: bytes) -> None:
        request = ExportTraceServiceRequest.FromString(body)
        with self.lock:
            for resource_spans in request.resource_spans:
                resource = {a.key: plain(a.value) for a in resource_spans.resource.attributes}
                for scope_spans in resource_spans.scope_spans:
                    self.spans.extend(Span(s, resource) for s in scope_spans.spans)

    def take_metrics(self, body: bytes) -> None:
        request = ExportMetricsServiceRequest.FromString(body)
        points: list[Point] = []
        for resource_metrics in request.resource_metrics:
            for scope_metrics in resource_metrics.scope_metrics:
                for metric in scope_metrics.metrics:
                    kind = metric.WhichOneof("data")
                    if kind is None:
                        continue
                    data = getattr(metric, kind)
                    points.extend(Point(metric.name, p, kind) for p in data.data_points)
        with self.lock:
            self.exports.append(points)

    def spans_named(self, name: str) -> list[Span]:
        with self.lock:
            return [s for s in self.spans if s.name == name]

    def trace(self, trace_id: str) -> list[Span]:
        with self.lock:
            return [s for s in self.spans if s.trace_id == trace_id]

    def last(self, metric: str, **attributes: Any) -> list[Point]:
        """The data points of ``metric`` in the latest export that has it (cumulative)."""
        with self.lock:
            for points in reversed(self.exports):
                found = [p for p in points if p.metric == metric]
                if found:
                    wanted = attributes.items()
                    return [p for p in found if wanted <= p.attributes.items()]
        return []

    def __enter__(self) -> OtlpReceiver:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.shutdown()
        self.server.server_close()
