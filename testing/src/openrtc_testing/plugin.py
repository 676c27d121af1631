"""The pytest plugin of ``openrtc-testing`` (``pytest11`` entry point ``openrtc-testing``).

Fixtures: ``livekit_server`` runs one real livekit-server on 127.0.0.1 for the test session;
``caller_factory`` joins scripted callers that publish real audio and leave after each test;
``livekit_admin`` creates rooms and dispatches. With the ini option ``openrtc_test_network``
set, the run first obtains the server and then moves into a private network (``testbed``).
A test that needs the server and cannot have it fails with the reason; it is never skipped.
"""

from __future__ import annotations

import sys
import tempfile
from collections.abc import AsyncIterator, Generator, Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal, Protocol

import pytest
import pytest_asyncio

from openrtc_testing.env import new_room_name
from openrtc_testing.netns import NamespaceUnavailable
from openrtc_testing.server_binary import ServerUnavailable, find_server_binary
from openrtc_testing.testbed import prepare_test_bed

if TYPE_CHECKING:
    # livekit's SDK and numpy start threads when imported; a normal user's run must enter its
    # user namespace first (pytest_configure), so they are imported in the fixtures
    from openrtc_testing.caller import Caller
    from openrtc_testing.dispatch import ServerAdmin
    from openrtc_testing.localserver import LocalLiveKitServer

LOG_TAIL_LINES = 40
NETWORK_OPTION = "openrtc_test_network"


class CallerFactory(Protocol):
    async def __call__(
        self, room: str | None = None, identity: str | None = None, **kwargs: Any
    ) -> Caller: ...


def pytest_addoption(parser: pytest.Parser) -> None:
    # passed through a variable: mypy reads a string literal given to a parameter named
    # `type` as a type expression
    boolean: Literal["bool"] = "bool"
    parser.addini(
        NETWORK_OPTION,
        help=(
            "obtain livekit-server, then run the tests in a private network namespace "
            "(OPENRTC_TEST_NETNS=0 keeps the host network)"
        ),
        type=boolean,
        default=False,
    )


def pytest_configure(config: pytest.Config) -> None:
    if not config.getini(NETWORK_OPTION):
        return

    def announce(line: str) -> None:
        print(f"openrtc-testing: {line}", file=sys.stderr, flush=True)

    try:
        bed = prepare_test_bed(announce=announce)
    except NamespaceUnavailable as exc:
        raise pytest.UsageError(f"CI needs an isolated test network: {exc}") from exc
    if not bed.isolated:
        config.issue_config_time_warning(
            pytest.PytestConfigWarning(f"tests run in the {bed.network}"), stacklevel=2
        )


@pytest.fixture(scope="session")
def livekit_server() -> Iterator[LocalLiveKitServer]:
    """A started livekit-server bound to 127.0.0.1, shared by the whole session."""
    from openrtc_testing.localserver import LocalLiveKitServer

    try:
        binary = find_server_binary()
    except ServerUnavailable as exc:
        pytest.fail(
            f"this test needs livekit-server: {exc} (to leave out the end-to-end tests, "
            "run pytest -m 'not e2e')",
            pytrace=False,
        )
    server = LocalLiveKitServer(binary)
    try:
        server.start()
    except ServerUnavailable as exc:
        pytest.fail(str(exc), pytrace=False)
    try:
        yield server
    finally:
        server.stop()


@pytest_asyncio.fixture
async def caller_factory(livekit_server: LocalLiveKitServer) -> AsyncIterator[CallerFactory]:
    """`await caller_factory(room, identity)` returns a joined Caller; all leave at teardown."""
    from openrtc_testing.caller import Caller

    callers: list[Caller] = []

    async def make(room: str | None = None, identity: str | None = None, **kwargs: Any) -> Caller:
        caller = Caller(livekit_server, room or new_room_name(), identity, **kwargs)
        callers.append(caller)
        return await caller.join()

    yield make
    for caller in reversed(callers):
        await caller.leave()


@pytest.fixture
def control_dir() -> Iterator[Path]:
    """A fresh directory path for workers' control sockets (``--control-dir``), not yet
    created (the worker makes it 0700). Short, unlike ``tmp_path``: a Unix socket's path is
    limited to about 100 bytes."""
    with tempfile.TemporaryDirectory(prefix="ortc-") as name:
        yield Path(name) / "control"


@pytest_asyncio.fixture
async def livekit_admin(livekit_server: LocalLiveKitServer) -> AsyncIterator[ServerAdmin]:
    from openrtc_testing.dispatch import ServerAdmin

    async with ServerAdmin(livekit_server) as admin:
        yield admin


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(
    item: pytest.Item, call: pytest.CallInfo[None]
) -> Generator[None, Any, None]:
    """Attach the server log's tail to a failed test that used the server."""
    from openrtc_testing.localserver import LocalLiveKitServer

    outcome = yield
    report: pytest.TestReport = outcome.get_result()
    server = getattr(item, "funcargs", {}).get("livekit_server")
    title = f"livekit-server log (last {LOG_TAIL_LINES} lines)"
    already = any(name == title for name, _ in report.sections)
    if report.failed and isinstance(server, LocalLiveKitServer) and not already:
        report.sections.append((title, server.log_tail(LOG_TAIL_LINES)))
