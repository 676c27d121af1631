"""A worker whose LiveKit server cannot be reached says so, and gives up after
``registration_timeout`` (no server needed).

The first tests run the real ``openrtc start`` against a loopback port that refuses every
connection: a socket bound to it that never listens. The others drive the kernel's side through
a scripted isolation mode, to cover what a refused port cannot produce (a server that answers
with 401, one that registered and then went away, a forced stop).
"""

from __future__ import annotations

import asyncio
import os
import signal
import socket
import subprocess
import sys
import textwrap
from collections.abc import Awaitable, Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from openrtc import AgentPool
from openrtc.hookspecs import hookimpl
from openrtc.livekit_adapter import ConnectionFailed
from openrtc.registration import LiveKitConnectionError
from openrtc.settings import Settings
from openrtc.strategies import IsolationMode, WorkerSpec

API_KEY = "unreachable-key"
API_SECRET = "unreachable-secret-of-at-least-32-bytes"
# a hang guard for each worker process, not a speed claim
PROCESS_TIMEOUT = 180


@pytest.fixture
def refusing_url() -> Iterator[str]:
    with socket.socket() as bound:
        bound.bind(("127.0.0.1", 0))
        yield f"ws://127.0.0.1:{bound.getsockname()[1]}"


@pytest.fixture
def agents_dir(tmp_path: Path) -> Path:
    directory = tmp_path / "agents"
    directory.mkdir()
    (directory / "echo.py").write_text(
        textwrap.dedent(
            """
            from livekit.agents import Agent


            class Echo(Agent):
                def __init__(self) -> None:
                    super().__init__(instructions="Repeat what the caller says.")
            """
        ),
        encoding="utf-8",
    )
    return directory


def start_command(agents_dir: Path, *flags: str) -> list[str]:
    # the exporter's fixed port could be busy on a shared machine, and is not what this tests
    return [
        sys.executable,
        "-m",
        "openrtc.cli",
        "start",
        str(agents_dir),
        "--disable-plugins",
        "openrtc-exporter-prometheus",
        *flags,
    ]


def worker_env(url: str, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("LIVEKIT_", "OPENRTC_"))}
    return {
        **env,
        "LIVEKIT_URL": url,
        "LIVEKIT_API_KEY": API_KEY,
        "LIVEKIT_API_SECRET": API_SECRET,
        "PYTHONUNBUFFERED": "1",
        **extra,
    }


def levels(stderr: str, level: str) -> list[str]:
    return [line for line in stderr.splitlines() if f" {level} " in line]


def assert_nothing_left_open(stderr: str) -> None:
    assert "Unclosed" not in stderr, stderr
    assert "Traceback" not in stderr, stderr
    # livekit's own retry line names neither the URL nor the cause
    assert "failed to connect to livekit" not in stderr, stderr


@pytest.mark.parametrize("isolation", ["coroutine", "process", "hybrid"])
def test_unreachable_server_is_named_with_its_cause_then_exit_1(
    agents_dir: Path, refusing_url: str, isolation: str
) -> None:
    result = subprocess.run(
        start_command(agents_dir, "--registration-timeout", "3", "--isolation", isolation),
        env=worker_env(refusing_url),
        capture_output=True,
        text=True,
        timeout=PROCESS_TIMEOUT,
        check=False,
    )
    stderr = result.stderr
    assert result.returncode == 1, stderr

    retries = levels(stderr, "WARNING")
    assert retries, stderr
    assert retries[0].endswith(
        f"cannot reach LiveKit at {refusing_url} (Connection refused); retrying in 1 s "
        "(attempt 1, giving up after 3 s)"
    ), stderr
    assert all(f"cannot reach LiveKit at {refusing_url} (Connection refused)" in r for r in retries)

    errors = levels(stderr, "ERROR")
    assert len(errors) == 1, stderr
    assert (
        f"cannot reach LiveKit at {refusing_url} (Connection refused), gave up after 3 s"
        in (errors[0])
    )
    assert "set LIVEKIT_URL or --url to the address of a running LiveKit server" in errors[0]
    assert_nothing_left_open(stderr)


def signalled_while_retrying(
    agents_dir: Path, url: str, *signals: signal.Signals
) -> tuple[int, str]:
    """Start a worker, send ``signals`` once it has logged its first retry; its exit code and
    stderr. The default bound is far off: the worker is still retrying when they come."""
    worker = subprocess.Popen(
        start_command(agents_dir),
        env=worker_env(url),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    seen: list[str] = []
    try:
        assert worker.stderr is not None
        for line in worker.stderr:
            seen.append(line)
            if f"cannot reach LiveKit at {url}" in line:
                break
        assert any("retrying in" in line for line in seen), "".join(seen)
        # stopped, the worker cannot act on the first signal before the next one arrives: on
        # SIGCONT the kernel delivers every pending signal, lowest number first, before the
        # worker runs another instruction, so "back to back" does not depend on scheduling
        worker.send_signal(signal.SIGSTOP)
        for sent in signals:
            worker.send_signal(sent)
        worker.send_signal(signal.SIGCONT)
        _, rest = worker.communicate(timeout=PROCESS_TIMEOUT)
    finally:
        if worker.poll() is None:
            worker.kill()
            worker.wait()
    return worker.returncode, "".join(seen) + rest


def test_sigterm_while_retrying_drains_and_exits_0(agents_dir: Path, refusing_url: str) -> None:
    code, stderr = signalled_while_retrying(agents_dir, refusing_url, signal.SIGTERM)
    assert code == 0, stderr
    assert "SIGTERM received: draining" in stderr
    assert levels(stderr, "ERROR") == [], stderr
    assert_nothing_left_open(stderr)


def test_second_signal_while_retrying_stops_at_once_with_nothing_unclosed(
    agents_dir: Path, refusing_url: str
) -> None:
    # both arrive before the drain the first one starts can run: the serving task is cancelled
    code, stderr = signalled_while_retrying(agents_dir, refusing_url, signal.SIGINT, signal.SIGTERM)
    assert code == 1, stderr
    assert "SIGTERM received again: stopping now" in stderr
    assert_nothing_left_open(stderr)


# The kernel's side, through a scripted isolation mode.

Script = Callable[["ScriptedServer"], Awaitable[None]]


class ScriptedServer:
    """A ``WorkerServer`` that plays a script of connection events instead of connecting."""

    def __init__(self, spec: WorkerSpec, script: Script) -> None:
        self.spec = spec
        self.script = script
        self.callbacks: dict[str, list[Callable[..., Any]]] = {}
        self.closed = asyncio.Event()
        self.close_calls = 0

    def on(self, event: str, callback: Callable[..., Any]) -> None:
        self.callbacks.setdefault(event, []).append(callback)

    def emit(self, event: str, *args: Any) -> None:
        for callback in self.callbacks.get(event, []):
            callback(*args)

    def fail(self, cause: str, attempt: int, *, status: int | None = None, **more: Any) -> None:
        assert self.spec.on_connection_failed is not None
        report = {
            "url": self.spec.ws_url,
            "cause": cause,
            "http_status": status,
            "attempt": attempt,
            "retry_in": 1.0,
            "reconnecting": False,
            "give_up_after": None,
            **more,
        }
        self.spec.on_connection_failed(ConnectionFailed(**report))

    async def run(self, *, devmode: bool = False, unregistered: bool = False) -> None:
        self.emit("worker_started")
        await self.script(self)
        await self.closed.wait()

    async def drain(self, timeout: Any = None) -> None:  # noqa: ASYNC109
        return None

    async def aclose(self) -> None:
        self.close_calls += 1
        self.closed.set()


class Scripted:
    def __init__(self, script: Script) -> None:
        self.script = script
        self.servers: list[ScriptedServer] = []

    def build(self, spec: WorkerSpec) -> ScriptedServer:
        server = ScriptedServer(spec, self.script)
        self.servers.append(server)
        return server

    @hookimpl
    def openrtc_isolation_modes(self, settings: Settings) -> list[IsolationMode]:
        return [IsolationMode(name="scripted", build_server=self.build)]


def scripted_pool(script: Script, **settings: Any) -> tuple[AgentPool, Scripted]:
    from livekit.agents import Agent

    mode = Scripted(script)
    pool = AgentPool(
        isolation="scripted",
        plugins={"scripted": mode},
        disable_plugins=["openrtc-exporter-prometheus", "openrtc-prewarm-livekit"],
        **settings,
    )
    pool.add("echo", type("Echo", (Agent,), {}))
    return pool, mode


URL = "ws://livekit.invalid:7880"


async def serve(pool: AgentPool) -> None:
    # a hang guard, not a speed claim
    await asyncio.wait_for(
        pool.serve(url=URL, api_key=API_KEY, api_secret=API_SECRET), timeout=PROCESS_TIMEOUT
    )


async def test_rejected_credentials_name_the_key_and_secret(
    caplog: pytest.LogCaptureFixture,
) -> None:
    async def unauthorized(server: ScriptedServer) -> None:
        server.fail("HTTP 401 Unauthorized", 1, status=401)

    pool, mode = scripted_pool(unauthorized, registration_timeout=0.2)
    with pytest.raises(LiveKitConnectionError) as raised:
        await serve(pool)
    assert str(raised.value) == (
        f"LiveKit at {URL} refused the worker's credentials (HTTP 401 Unauthorized) after 0.2 s "
        "and 1 failed attempt; set LIVEKIT_API_KEY and LIVEKIT_API_SECRET (or --api-key and "
        "--api-secret) to a key pair the server knows"
    )
    assert mode.servers[0].close_calls >= 1
    assert f"LiveKit at {URL} refused the worker's credentials (HTTP 401 Unauthorized)" in (
        caplog.text
    )


async def test_a_server_that_reports_nothing_still_gives_up_naming_the_url() -> None:
    async def silent(server: ScriptedServer) -> None:
        return None

    pool, mode = scripted_pool(silent, registration_timeout=0.2)
    with pytest.raises(LiveKitConnectionError) as raised:
        await serve(pool)
    assert str(raised.value) == (
        f"no answer from LiveKit at {URL}, gave up after 0.2 s; set LIVEKIT_URL or --url to the "
        "address of a running LiveKit server (--registration-timeout sets how long to wait)"
    )
    assert mode.servers[0].close_calls >= 1


async def test_zero_waits_for_registration_without_limit(caplog: pytest.LogCaptureFixture) -> None:
    async def registers_late(server: ScriptedServer) -> None:
        server.fail("Connection refused", 1)
        await asyncio.sleep(0.3)
        server.emit("worker_registered", "W_late", None)
        await pool.drain("test finished")

    pool, _ = scripted_pool(registers_late, registration_timeout=0)
    await serve(pool)
    assert pool.registration_timeout == 0
    assert "(attempt 1, no time limit)" in caplog.text
    assert await pool.wait_registered() == "W_late"


async def test_registered_worker_that_cannot_reconnect_exits_with_one_error(
    caplog: pytest.LogCaptureFixture,
) -> None:
    async def registers_then_loses(server: ScriptedServer) -> None:
        server.emit("worker_registered", "W1", None)
        server.fail("worker connection closed unexpectedly", 1, reconnecting=True, give_up_after=2)
        server.fail("Connection refused", 2, reconnecting=True, give_up_after=2)
        raise RuntimeError(f"lost the connection to LiveKit at {URL} and 2 reconnections failed")

    pool, mode = scripted_pool(registers_then_loses, registration_timeout=0.2)
    with pytest.raises(LiveKitConnectionError) as raised:
        await serve(pool)
    assert str(raised.value) == (
        f"lost the connection to LiveKit at {URL} and 2 reconnections failed; exiting, so that "
        "the worker can be restarted once LiveKit is back"
    )
    assert mode.servers[0].close_calls >= 1
    assert (
        f"lost the connection to LiveKit at {URL} (worker connection closed unexpectedly); "
        "reconnecting in 1 s (reconnection 1 of 2)" in caplog.text
    )
    assert (
        f"cannot reach LiveKit at {URL} (Connection refused); reconnecting in 1 s "
        "(reconnection 2 of 2)" in caplog.text
    )


async def test_a_forced_stop_while_retrying_still_closes_the_server() -> None:
    retrying = asyncio.Event()

    async def refused(server: ScriptedServer) -> None:
        server.fail("Connection refused", 1)
        retrying.set()

    pool, mode = scripted_pool(refused)
    serving = asyncio.create_task(pool.serve(url=URL, api_key=API_KEY, api_secret=API_SECRET))
    await asyncio.wait_for(retrying.wait(), timeout=PROCESS_TIMEOUT)
    # what the second SIGINT/SIGTERM does
    serving.cancel()
    with pytest.raises(asyncio.CancelledError):
        await serving
    assert mode.servers[0].close_calls == 1
