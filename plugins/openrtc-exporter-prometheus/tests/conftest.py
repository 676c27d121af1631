"""Fixtures for the Prometheus exporter's tests: scrape /metrics over real HTTP."""

from __future__ import annotations

import urllib.request
from collections.abc import Callable

import pytest
from openrtc_testing import free_tcp_port
from prometheus_client.parser import text_string_to_metric_families


class Scrape:
    """One GET of ``/metrics`` over HTTP, parsed with prometheus-client's own parser."""

    def __init__(self, text: str) -> None:
        self.text = text
        self.samples: dict[tuple[str, frozenset[tuple[str, str]]], float] = {}
        for family in text_string_to_metric_families(text):
            for sample in family.samples:
                self.samples[(sample.name, frozenset(sample.labels.items()))] = sample.value

    def value(self, name: str, **labels: str) -> float | None:
        return self.samples.get((name, frozenset(labels.items())))

    def total(self, name: str, **labels: str) -> float:
        """Sum of every series of ``name`` whose labels include ``labels``."""
        wanted = set(labels.items())
        return sum(v for (n, have), v in self.samples.items() if n == name and wanted <= have)


def scrape_metrics(port: int) -> Scrape:
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=10) as response:
        assert response.status == 200
        assert response.headers["Content-Type"].startswith("text/plain")
        return Scrape(response.read().decode("utf-8"))


@pytest.fixture
def scrape() -> Callable[[int], Scrape]:
    return scrape_metrics


@pytest.fixture
def free_port() -> int:
    return free_tcp_port()
