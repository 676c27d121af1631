"""Small facts about the run every test helper asks: is this CI, which port is free."""

from __future__ import annotations

import os
import secrets
import socket
import urllib.request

LOOPBACK = "127.0.0.1"


def in_ci() -> bool:
    """``CI=true`` (or 1/yes): a missing server or model fails the run instead of skipping."""
    return os.environ.get("CI", "").strip().lower() in {"1", "true", "yes"}


def free_tcp_port() -> int:
    """A loopback TCP port nothing listens on right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind((LOOPBACK, 0))
        return int(probe.getsockname()[1])


def new_room_name(prefix: str = "test-room") -> str:
    return f"{prefix}-{secrets.token_hex(4)}"


def scrape_metrics(port: int) -> str:
    """The Prometheus text a worker serves on ``port`` of the loopback address."""
    with urllib.request.urlopen(f"http://{LOOPBACK}:{port}/metrics", timeout=10) as reply:
        return str(reply.read().decode())
