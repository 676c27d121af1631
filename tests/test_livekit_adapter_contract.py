"""The contract between openrtc's livekit adapter and the installed livekit-agents.

Every private livekit name the adapter touches is listed in PRIVATE_NAMES_USED; each must
resolve in the installed release. The hook that swaps the job pool is exercised against the
real AgentServer (unregistered, with fake jobs, so no server is needed).
"""

from __future__ import annotations

import asyncio
import contextlib
import importlib.metadata
import inspect
import socket
from collections.abc import Iterator
from typing import Any

import pytest
from aiohttp import web
from livekit.agents import AgentServer, JobContext, JobProcess, get_job_context
from livekit.agents.ipc.proc_pool import ProcPool
from livekit.protocol import agent

from openrtc import livekit_adapter
from openrtc.job_runners import JobsAsTasks, JobsInProcesses
from openrtc.livekit_adapter import (
    PRIVATE_NAMES_USED,
    SIGNATURE_PARAMS_USED,
    SUPPORTED_RANGE,
    ConnectionFailed,
    ConnectionLostError,
    CoroutineJobPool,
    LiveKitVersionError,
    ServerOptions,
    accept_attributes,
    build_server,
    check_livekit_compat,
)
from openrtc.livekit_adapter import version as adapter_version
from openrtc.strategies import JobEnded


@pytest.mark.parametrize("name", PRIVATE_NAMES_USED)
def test_private_name_resolves_in_installed_livekit(name: str) -> None:
    assert adapter_version.resolve(name) is not None, (
        f"{name} is gone from livekit-agents {importlib.metadata.version('livekit-agents')}"
    )


@pytest.mark.parametrize("owner", sorted(SIGNATURE_PARAMS_USED))
def test_private_signature_still_takes_our_arguments(owner: str) -> None:
    target = adapter_version.resolve(owner)
    assert callable(target)
    parameters = inspect.signature(target).parameters
    assert set(SIGNATURE_PARAMS_USED[owner]) <= set(parameters)


def test_every_listed_name_is_private_or_internal() -> None:
    # a public name needs no pinning; listing one would hide what really is fragile
    for name in PRIVATE_NAMES_USED:
        parts = name.split(".")
        assert any(p.startswith("_") for p in parts) or "ipc" in parts, name


def test_installed_livekit_passes_the_import_check() -> None:
    assert check_livekit_compat() == importlib.metadata.version("livekit-agents")
    assert importlib.metadata.version("livekit-agents") == livekit_adapter.LIVEKIT_AGENTS_VERSION


@pytest.mark.parametrize(
    ("version", "supported"),
    [
        ("1.8.9", True),
        ("1.8.10", True),
        ("1.8.9.post1", True),
        ("1.8.12+local", True),
        ("1.8.9rc1", False),
        ("1.8.8", False),
        ("1.9.0", False),
        ("1.9.0rc1", False),
        ("2.0", False),
        ("not-a-version", False),
    ],
)
def test_version_range(version: str, supported: bool) -> None:
    assert adapter_version.version_supported(version) is supported


def _fake_version(found: str) -> object:
    real = importlib.metadata.version

    def version(distribution: str) -> str:
        return found if distribution == "livekit-agents" else real(distribution)

    return version


# The faults below cannot be produced for real here, since the installed livekit-agents is a
# supported one; they are faked by patching what the check reads.


def test_unsupported_version_is_a_one_line_error_naming_versions_and_fix(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(importlib.metadata, "version", _fake_version("1.9.2"))
    with pytest.raises(LiveKitVersionError) as raised:
        check_livekit_compat()
    message = str(raised.value)
    assert "\n" not in message
    assert "1.9.2" in message
    assert SUPPORTED_RANGE in message
    assert f"pip install 'livekit-agents{SUPPORTED_RANGE}'" in message


def test_missing_private_name_is_named_in_the_error(monkeypatch: pytest.MonkeyPatch) -> None:
    gone = "livekit.agents.job.JobContext._removed_in_a_future_release"
    monkeypatch.setattr(adapter_version, "PRIVATE_NAMES_USED", (*PRIVATE_NAMES_USED, gone))
    with pytest.raises(LiveKitVersionError) as raised:
        check_livekit_compat()
    message = str(raised.value)
    assert "\n" not in message
    assert f"missing private names: {gone}" in message
    assert importlib.metadata.version("livekit-agents") in message


def test_a_name_bound_to_none_is_present_and_a_missing_one_is_not() -> None:
    # the session-host pool reads livekit.rtc's client singleton, None until rtc is used
    assert adapter_version.resolve("livekit.rtc._ffi_client.FfiClient._instance") is not None
    assert adapter_version.resolve("livekit.rtc._ffi_client.FfiClient._gone") is None


def test_missing_livekit_is_an_import_error(monkeypatch: pytest.MonkeyPatch) -> None:
    def not_installed(distribution: str) -> str:
        raise importlib.metadata.PackageNotFoundError(distribution)

    monkeypatch.setattr(importlib.metadata, "version", not_installed)
    with pytest.raises(ImportError, match="livekit-agents is not installed"):
        check_livekit_compat()


def test_an_unknown_way_of_running_jobs_names_the_known_ones() -> None:
    with pytest.raises(
        TypeError,
        match=r"use openrtc.job_runners.JobsAsTasks\(\), JobsInProcesses\(...\) or JobsInHosts",
    ):
        ServerOptions(jobs="thread", entrypoint_fnc=_noop)  # type: ignore[arg-type]


async def _noop(ctx: JobContext) -> None:
    return None


# The pool hook against the real AgentServer, with fake jobs (livekit's mock room).

_seen: dict[str, object] = {}


def _setup(proc: JobProcess) -> None:
    proc.userdata.setdefault("setup_calls", 0)
    proc.userdata["setup_calls"] += 1


async def _fake_job_entrypoint(ctx: JobContext) -> None:
    _seen["bound"] = get_job_context() is ctx
    _seen["setup_calls"] = ctx.proc.userdata["setup_calls"]
    _seen["attributes"] = accept_attributes(ctx)
    release = _seen["release"]
    assert isinstance(release, asyncio.Event)
    await release.wait()
    ctx.shutdown(reason="released")


@pytest.fixture
def fresh_seen() -> Iterator[dict[str, object]]:
    _seen.clear()
    yield _seen
    _seen.clear()


async def _run_unregistered(server: AgentServer) -> asyncio.Task[None]:
    started = asyncio.Event()
    server.on("worker_started", lambda *_: started.set())
    task = asyncio.create_task(server.run(unregistered=True))
    waiter = asyncio.ensure_future(started.wait())
    # a hang guard, not a speed claim
    await asyncio.wait([task, waiter], timeout=60, return_when=asyncio.FIRST_COMPLETED)
    waiter.cancel()
    if task.done():
        task.result()
    assert started.is_set(), "the worker did not start"
    return task


@pytest.mark.asyncio
async def test_coroutine_server_runs_fake_jobs_in_its_own_pool_and_drains(
    fresh_seen: dict[str, object],
) -> None:
    release = asyncio.Event()
    fresh_seen["release"] = release
    ended: list[JobEnded] = []
    server = build_server(
        ServerOptions(
            jobs=JobsAsTasks(),
            entrypoint_fnc=_fake_job_entrypoint,
            setup_fnc=_setup,
            on_job_ended=ended.append,
            http_host="127.0.0.1",
            load_fnc=lambda: 0.0,
        )
    )
    worker = await _run_unregistered(server)
    try:
        pool = server._proc_pool
        assert isinstance(pool, CoroutineJobPool)
        await server.simulate_job("contract-room", fake_job=True)
        assert [job.job.room.name for job in server.active_jobs] == ["contract-room"]

        drain = asyncio.create_task(server.drain())
        await asyncio.sleep(0.2)
        assert not drain.done(), "drain returned while a job was still running"
        release.set()
        await drain
    finally:
        await server.aclose()
        await worker

    assert fresh_seen["bound"] is True
    assert fresh_seen["setup_calls"] == 1
    assert fresh_seen["attributes"] == {}
    assert [(e.room_name, e.succeeded) for e in ended] == [("contract-room", True)]
    assert server.active_jobs == []


@pytest.mark.asyncio
async def test_process_server_keeps_livekits_own_pool() -> None:
    server = build_server(
        ServerOptions(
            jobs=JobsInProcesses(),
            entrypoint_fnc=_noop,
            http_host="127.0.0.1",
            load_fnc=lambda: 0.0,
            num_idle_processes=0,
        )
    )
    worker = await _run_unregistered(server)
    try:
        assert type(server._proc_pool) is ProcPool
    finally:
        await server.aclose()
        await worker


# The connection loop the adapter's server owns, against real sockets on loopback: a bound
# socket that does not listen refuses every connection, and a few lines of aiohttp stand in
# for the one LiveKit endpoint a worker registers on.


@contextlib.contextmanager
def refusing_url() -> Iterator[str]:
    with socket.socket() as bound:
        bound.bind(("127.0.0.1", 0))
        yield f"ws://127.0.0.1:{bound.getsockname()[1]}"


def _connecting_server(url: str, **options: Any) -> AgentServer:
    return build_server(
        ServerOptions(
            jobs=JobsAsTasks(),
            entrypoint_fnc=_noop,
            ws_url=url,
            api_key="contract-key",
            api_secret="contract-secret-of-at-least-32-bytes",
            http_host="127.0.0.1",
            load_fnc=lambda: 0.0,
            **options,
        )
    )


@pytest.mark.asyncio
async def test_each_failed_connection_is_reported_with_url_and_cause() -> None:
    reports: list[ConnectionFailed] = []
    two = asyncio.Event()

    def failed(report: ConnectionFailed) -> None:
        reports.append(report)
        if len(reports) == 2:
            two.set()

    with refusing_url() as url:
        server = _connecting_server(url, on_connection_failed=failed)
        running = asyncio.create_task(server.run())
        try:
            await asyncio.wait_for(two.wait(), timeout=60)  # a hang guard, not a speed claim
            # livekit's health check still answers OK while the worker retries
            assert server._connection_failed is False
        finally:
            await server.aclose()
            await running
    assert [
        (r.url, r.cause, r.http_status, r.attempt, r.retry_in, r.reconnecting, r.give_up_after)
        for r in reports
    ] == [
        (url, "Connection refused", None, 1, 1.0, False, None),
        (url, "Connection refused", None, 2, 2.0, False, None),
    ]


async def _one_registration(request: web.Request) -> web.WebSocketResponse:
    """Accept one worker's registration, then drop the connection."""
    ws = web.WebSocketResponse()
    await ws.prepare(request)
    registration = agent.WorkerMessage()
    registration.ParseFromString(await ws.receive_bytes())
    assert registration.HasField("register")
    answer = agent.ServerMessage()
    answer.register.worker_id = "W_contract"
    await ws.send_bytes(answer.SerializeToString())
    await ws.close()
    return ws


@pytest.mark.asyncio
async def test_registered_worker_that_cannot_reconnect_ends_run_with_the_cause() -> None:
    app = web.Application()
    app.router.add_get("/agent", _one_registration)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = runner.addresses[0][1]
    url = f"ws://127.0.0.1:{port}"
    reports: list[ConnectionFailed] = []
    registered: list[str] = []

    def lost(report: ConnectionFailed) -> None:
        reports.append(report)

    server = _connecting_server(url, on_connection_failed=lost, reconnect_attempts=1)
    server.on("worker_registered", lambda worker_id, *_: registered.append(worker_id))
    # the server goes away for good once it has registered the worker
    server.on("worker_registered", lambda *_: asyncio.ensure_future(runner.cleanup()))
    try:
        with pytest.raises(ConnectionLostError) as raised:
            await asyncio.wait_for(server.run(), timeout=60)  # a hang guard
        assert server._connection_failed is True
    finally:
        await server.aclose()
        await runner.cleanup()
    assert registered == ["W_contract"]
    assert [(r.attempt, r.reconnecting, r.give_up_after) for r in reports] == [(1, True, 1)]
    assert reports[0].cause == "worker connection closed unexpectedly"
    assert str(raised.value) == (
        f"lost the connection to LiveKit at {url} and 1 reconnection failed "
        "(last: Connection refused)"
    )


async def _unauthorized(request: web.Request) -> web.Response:
    return web.Response(status=401, text="invalid token")


@pytest.mark.asyncio
async def test_a_server_that_refuses_the_credentials_is_reported_with_its_status() -> None:
    app = web.Application()
    app.router.add_get("/agent", _unauthorized)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    url = f"ws://127.0.0.1:{runner.addresses[0][1]}"
    reports: list[ConnectionFailed] = []
    first = asyncio.Event()

    def failed(report: ConnectionFailed) -> None:
        reports.append(report)
        first.set()

    server = _connecting_server(url, on_connection_failed=failed)
    running = asyncio.create_task(server.run())
    try:
        await asyncio.wait_for(first.wait(), timeout=60)  # a hang guard
    finally:
        await server.aclose()
        await running
        await runner.cleanup()
    assert (reports[0].cause, reports[0].http_status) == ("HTTP 401 Unauthorized", 401)
