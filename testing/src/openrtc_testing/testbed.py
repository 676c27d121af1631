"""Get a test bed ready in the one order that works: obtain livekit-server, then isolate.

Building livekit-server needs the Go module proxy, and the private test network (``netns``)
has no route out; a build started after isolation fails for every new user. The test suite's
pytest plugin, ``openrtc demo`` and the density benchmark all prepare through this one
function, and the environment it leaves behind tells every later lookup in this process and its
children (worker processes, nested pytest runs) not to build again.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from openrtc_testing.env import in_ci
from openrtc_testing.netns import NamespaceUnavailable, isolate_network
from openrtc_testing.server_binary import (
    ISOLATED_MARK,
    SERVER_ERROR_MARK,
    SERVER_VERSION,
    ServerUnavailable,
    find_server_binary,
)

OPT_OUT_VARIABLE = "OPENRTC_TEST_NETNS"
"""``OPENRTC_TEST_NETNS=0`` keeps the host network (a development machine without namespaces)."""


@dataclass(frozen=True)
class TestBed:
    __test__ = False  # a result, not a pytest test class

    server_binary: Path | None
    server_error: str | None
    isolated: bool
    network: str
    """One line for a log: which network the run uses, and why when it is the host's."""


def prepare_test_bed(
    *, isolate: bool = True, announce: Callable[[str], None] = lambda _line: None
) -> TestBed:
    """Find or build livekit-server, then move this process into the private test network.

    A server that cannot be had is recorded, not raised: the run goes on and each test that
    needs the server fails with the reason (callers that cannot go on without it check
    ``server_binary``). Failing to isolate raises ``NamespaceUnavailable`` under ``CI=true``;
    elsewhere the run stays in the host network and ``network`` says why.
    """
    if os.environ.get(ISOLATED_MARK):
        return _inherited()
    binary, error = _obtain_server(announce)
    if binary is not None:
        # every later find_server_binary(), here or in a child, takes this one
        os.environ["LIVEKIT_SERVER_BIN"] = str(binary)
    elif error is not None:
        os.environ[SERVER_ERROR_MARK] = error
    if not isolate or os.environ.get(OPT_OUT_VARIABLE, "1") == "0":
        return TestBed(binary, error, False, f"host ({OPT_OUT_VARIABLE}=0 or not asked)")
    try:
        isolate_network()
    except NamespaceUnavailable as exc:
        if in_ci():
            raise
        return TestBed(binary, error, False, f"host ({exc})")
    os.environ[ISOLATED_MARK] = "1"
    return TestBed(binary, error, True, "private namespace (loopback + 198.51.100.1)")


def _obtain_server(announce: Callable[[str], None]) -> tuple[Path | None, str | None]:
    try:
        return find_server_binary(build=False), None
    except ServerUnavailable:
        pass
    announce(f"building livekit-server {SERVER_VERSION} with Go (first run only, a few minutes)")
    try:
        return find_server_binary(build=True), None
    except ServerUnavailable as exc:
        return None, str(exc)


def _inherited() -> TestBed:
    try:
        binary: Path | None = find_server_binary(build=False)
        error = None
    except ServerUnavailable as exc:
        binary, error = None, str(exc)
    return TestBed(binary, error, True, "private namespace (inherited)")
