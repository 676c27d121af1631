"""Hybrid isolation without a server: its settings, and the description it hands the kernel.
tests/e2e/test_hybrid_isolation.py runs it against a real server."""

from __future__ import annotations

import os

from openrtc import AgentPool
from openrtc.plugin import JobsInHosts


def test_hybrid_is_an_installed_isolation_mode_with_its_settings() -> None:
    pool = AgentPool(
        isolation="hybrid",
        plugin_settings={"hybrid.hosts": 3, "hybrid.start_timeout": 20},
    )
    assert pool.settings["isolation"] == "hybrid"
    assert pool.settings["hybrid.hosts"] == 3
    assert pool.settings["hybrid.start_timeout"] == 20.0


def test_zero_hosts_means_one_per_core() -> None:
    assert JobsInHosts().host_count == (os.cpu_count() or 1)
    assert JobsInHosts(hosts=2).host_count == 2
