"""Call states from session processes reach the worker only while someone watches, over a
real Unix socket. The sessions are stand-ins with livekit's ``agent_state``; the path through
real job processes and session hosts is tests/e2e/test_top.py's."""

from __future__ import annotations

import asyncio
import os
import tempfile
from collections.abc import Iterator
from pathlib import Path
from types import SimpleNamespace

import pytest

from openrtc import call_states
from openrtc.call_states import STATES_OP, StateReporter, WatchedStates
from openrtc.control_socket import ControlServer, ask, control_dir
from openrtc.live_sessions import LiveSessions


@pytest.fixture
def private_dir() -> Iterator[Path]:
    # short: a Unix socket path is limited to about 100 bytes, pytest's tmp_path is long
    with tempfile.TemporaryDirectory(prefix="ortc-") as name:
        yield control_dir(str(Path(name) / "control"))


async def test_states_travel_only_while_watched(
    private_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(call_states, "REPORT_EVERY_S", 0.05)
    states = WatchedStates(private_dir / f"{os.getpid()}.sock")  # the server's own path
    server = ControlServer(private_dir, {STATES_OP: states.answer})
    await server.start()
    live = LiveSessions()
    session = SimpleNamespace(agent_state="listening")
    live.track("AJ_1", "dental", session)
    reporter = StateReporter(server.path, live)
    try:
        reporter.ensure_running()
        await asyncio.sleep(0.3)
        assert states.states({"AJ_1"}) == {}  # nobody watches: nothing is sent

        states.watched()
        await asyncio.sleep(0.3)
        assert states.states({"AJ_1"}) == {"AJ_1": "listening"}
        session.agent_state = "speaking"
        await asyncio.sleep(0.3)
        assert states.states({"AJ_1"}) == {"AJ_1": "speaking"}
        # the worker forgets a call that is no longer live
        assert states.states(set()) == {}

        live.forget("AJ_1")
        await asyncio.sleep(0.3)
        assert reporter._task is not None and reporter._task.done()  # no call, no reporting
    finally:
        await server.close()
        states.close()
    assert not states.marker.exists()


async def test_a_malformed_report_is_answered_with_an_error(private_dir: Path) -> None:
    states = WatchedStates(private_dir / "1.sock")
    server = ControlServer(private_dir, {STATES_OP: states.answer})
    await server.start()
    try:
        reply = await ask(server.path, {"op": STATES_OP, "states": {"AJ_1": 3}})
        assert reply == {"error": "states must be an object of job id -> state"}
        assert states.states({"AJ_1"}) == {}
    finally:
        await server.close()
