"""Repository-wide test setup: the run moves into a private network namespace first.

See openrtc.testing.netns for why. ``OPENRTC_TEST_NETNS=0`` turns it off on a development
machine where the tests cannot run as root; under ``CI=true`` it is required.
"""

from __future__ import annotations

import os

import pytest

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
    os.environ["_OPENRTC_NETNS"] = "1"  # child pytest runs are already inside it
