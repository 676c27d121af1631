"""Run alone (``pytest plugins/openrtc-exporter-prometheus``), the e2e test still needs the
private test network that tests/conftest.py sets up for whole-repository runs; whichever
conftest loads first isolates the run and the other sees ``_OPENRTC_NETNS`` and does nothing."""

from __future__ import annotations

import os
import socket
import urllib.request
from collections.abc import Callable

import pytest
from prometheus_client.parser import text_string_to_metric_families

from openrtc.testing.netns import NamespaceUnavailable, isolate_network


def pytest_configure(config: pytest.Config) -> None:
    if os.environ.get("OPENRTC_TEST_NETNS", "1") == "0" or os.environ.get("_OPENRTC_NETNS"):
        return
    try:
        isolate_network()
    except NamespaceUnavailable as exc:
        if os.environ.get("CI", "").lower() in ("1", "true", "yes"):
            raise pytest.UsageError(f"CI needs an isolated test network: {exc}") from exc
        config.issue_config_time_warning(
            pytest.PytestConfigWarning(f"tests run in the host network: {exc}"), stacklevel=2
        )
        return
    os.environ["_OPENRTC_NETNS"] = "1"


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
    """A loopback port nothing listens on right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])
