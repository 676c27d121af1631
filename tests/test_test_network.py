"""The test run lives in its own network: only loopback and the veth test address exist."""

from __future__ import annotations

import os
import subprocess

import pytest


@pytest.mark.skipif(os.environ.get("_OPENRTC_NETNS") != "1", reason="isolation turned off")
def test_only_loopback_and_the_test_address_exist() -> None:
    listing = subprocess.run(
        ["ip", "-o", "-4", "addr"], capture_output=True, text=True, check=True
    ).stdout
    addresses = sorted(line.split()[3] for line in listing.splitlines())
    assert addresses == ["127.0.0.1/8", "198.51.100.1/24"]
