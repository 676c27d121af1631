"""Keep a test run's media traffic inside a network namespace of its own.

The WebRTC stack under the ``livekit`` client SDK never uses the loopback interface for its
side of a media connection: on a normal host it picks the host's own address. A test run
therefore moves itself into a fresh network namespace holding only loopback and one veth pair
with a documentation-range address (198.51.100.1, RFC 5737), so every packet of the real
server, worker and callers stays inside a network that exists only for the run.
"""

from __future__ import annotations

import ctypes
import os
import shutil
import subprocess

CLONE_NEWNET = 0x40000000
TEST_ADDRESS = "198.51.100.1/24"


class NamespaceUnavailable(RuntimeError):
    """The process cannot get a network namespace of its own (not root, no ``ip``...)."""


def _run(*args: str) -> None:
    subprocess.run(["ip", *args], check=True, capture_output=True, text=True, timeout=10)


def isolate_network() -> None:
    """Move this process (and every process it starts later) into a new network namespace."""
    if os.geteuid() != 0:
        raise NamespaceUnavailable(
            "a network namespace needs root; run as root or set "
            "OPENRTC_TEST_NETNS=0 on a development machine"
        )
    if shutil.which("ip") is None:
        raise NamespaceUnavailable("the 'ip' command is missing; apt-get install iproute2")
    libc = ctypes.CDLL(None, use_errno=True)
    if libc.unshare(CLONE_NEWNET) != 0:
        errno = ctypes.get_errno()
        raise NamespaceUnavailable(f"unshare(CLONE_NEWNET) failed: {os.strerror(errno)}")
    try:
        _run("link", "set", "lo", "up")
        _run("link", "add", "ortc0", "type", "veth", "peer", "name", "ortc1")
        _run("addr", "add", TEST_ADDRESS, "dev", "ortc0")
        _run("link", "set", "ortc0", "up")
        _run("link", "set", "ortc1", "up")
    except subprocess.CalledProcessError as exc:
        raise NamespaceUnavailable(f"setting up the test network failed: {exc.stderr}") from exc
