"""pytest fixtures for end-to-end tests against a real livekit-server on loopback.

`livekit_server` runs one server per test session; `caller_factory` joins scripted Callers to
it and makes them leave after each test; `livekit_admin` manages rooms and dispatches. Without a
server binary (and no Go to build one) the tests skip, except under CI=true where they fail.
"""

from __future__ import annotations

import os
import secrets
from collections.abc import AsyncIterator, Generator, Iterator
from typing import Any, Protocol

import pytest
import pytest_asyncio

from openrtc.localserver import LocalLiveKitServer, ServerUnavailable, find_server_binary
from openrtc.testing.caller import Caller
from openrtc.testing.dispatch import ServerAdmin

LOG_TAIL_LINES = 40


class CallerFactory(Protocol):
    async def __call__(
        self, room: str | None = None, identity: str | None = None, **kwargs: Any
    ) -> Caller: ...


def _in_ci() -> bool:
    return os.environ.get("CI", "").strip().lower() in {"1", "true", "yes"}


def new_room_name(prefix: str = "test-room") -> str:
    return f"{prefix}-{secrets.token_hex(4)}"


@pytest.fixture(scope="session")
def livekit_server() -> Iterator[LocalLiveKitServer]:
    """A started livekit-server bound to 127.0.0.1, shared by the whole session."""
    try:
        binary = find_server_binary()
    except ServerUnavailable as exc:
        if _in_ci():
            pytest.fail(f"livekit-server is required under CI: {exc}", pytrace=False)
        pytest.skip(f"livekit-server unavailable: {exc}")
    server = LocalLiveKitServer(binary)
    try:
        server.start()
    except ServerUnavailable as exc:
        # The binary exists, so a failed start is a real defect, never a reason to skip.
        pytest.fail(str(exc), pytrace=False)
    try:
        yield server
    finally:
        server.stop()


@pytest_asyncio.fixture
async def caller_factory(livekit_server: LocalLiveKitServer) -> AsyncIterator[CallerFactory]:
    """`await caller_factory(room, identity)` returns a joined Caller; all leave at teardown."""
    callers: list[Caller] = []

    async def make(room: str | None = None, identity: str | None = None, **kwargs: Any) -> Caller:
        caller = Caller(livekit_server, room or new_room_name(), identity, **kwargs)
        callers.append(caller)
        return await caller.join()

    yield make
    for caller in reversed(callers):
        await caller.leave()


@pytest_asyncio.fixture
async def livekit_admin(livekit_server: LocalLiveKitServer) -> AsyncIterator[ServerAdmin]:
    async with ServerAdmin(livekit_server) as admin:
        yield admin


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(
    item: pytest.Item, call: pytest.CallInfo[None]
) -> Generator[None, Any, None]:
    """Attach the server log's tail to a failed test that used the server."""
    outcome = yield
    report: pytest.TestReport = outcome.get_result()
    server = getattr(item, "funcargs", {}).get("livekit_server")
    title = f"livekit-server log (last {LOG_TAIL_LINES} lines)"
    # The hook can be registered twice (entry point and a conftest import); report once.
    already = any(name == title for name, _ in report.sections)
    if report.failed and isinstance(server, LocalLiveKitServer) and not already:
        report.sections.append((title, server.log_tail(LOG_TAIL_LINES)))
