"""The coroutine executor runs a job through the same lifecycle as livekit's process executor.

The same scripted jobs run against a real livekit-server, once under livekit's own process
pool and once under openrtc's coroutine pool, all scenarios side by side in one worker per
mode. Each job writes what it observes (entrypoint, connect, caller, session end, shutdown
callback with its reason and whether the room was still connected) to a file; the worker
reports each job's final status through `on_job_ended`. Sequences and statuses must be equal
between the two modes, and equal to what livekit-agents 1.8.9 is pinned here to do.
"""

from __future__ import annotations

import asyncio
import json
import logging
import math
import os
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any, Literal

import pytest
from livekit import api, rtc
from livekit.agents import AgentServer, JobContext, JobProcess, JobRequest, get_job_context
from openrtc_testing.dispatch import ServerAdmin, make_token
from openrtc_testing.env import new_room_name
from openrtc_testing.localserver import LocalLiveKitServer

from openrtc.job_runners import JobsAsTasks, JobsInProcesses
from openrtc.livekit_adapter import (
    ServerOptions,
    accept_attributes,
    build_server,
)
from openrtc.strategies import JobEnded

pytestmark = pytest.mark.e2e

# Job processes import this module by name to unpickle the scripted functions; pytest's
# importlib mode names it `tests.e2e....` without putting the repository root on sys.path.
_REPO_ROOT = str(Path(__file__).resolve().parents[2])
if _REPO_ROOT not in sys.path:
    sys.path.append(_REPO_ROOT)

# A hang guard only, never a performance claim: generous for a loaded 2-core CI box.
WAIT_S = 90.0
ROUTE_ATTRIBUTE = "openrtc.route"
ADAPTER_LOGGER = "openrtc.livekit_adapter"
Isolation = Literal["coroutine", "process"]
# the adapter's two ways of running jobs, under the names the two isolation modes give them
JOB_RUNNERS = {"coroutine": JobsAsTasks(), "process": JobsInProcesses(warm_processes=0)}

# When a room closes, the server both disconnects the agent and sends the worker a job
# termination; whichever reaches the job first names the shutdown. Both are the room ending.
ROOM_ENDED = "<room ended>"
ROOM_ENDED_REASONS = {"room disconnected", "parent process shutdown"}


def _started(scenario: str) -> dict[str, Any]:
    return {
        "event": "entrypoint_started",
        "context_bound": True,
        "prewarmed": True,
        "attributes": {ROUTE_ATTRIBUTE: f"route-for-{scenario}"},
    }


def _in_call(scenario: str) -> list[dict[str, Any]]:
    return [_started(scenario), {"event": "connected"}, {"event": "caller_joined"}]


def _ended(reason: str, *, connected_at_session_end: bool | None) -> list[dict[str, Any]]:
    session_end: dict[str, Any] = {"event": "session_end"}
    if connected_at_session_end is not None:
        session_end["connected"] = connected_at_session_end
    return [session_end, {"event": "shutdown_callback", "reason": reason, "connected": False}]


# What livekit-agents 1.8.9's process executor does; the coroutine executor must match it.
EXPECTED_EVENTS: dict[str, list[dict[str, Any]]] = {
    # the entrypoint returns mid-call; the job lives on until the caller leaves and the
    # server closes the empty room
    "normal_end": [
        *_in_call("normal_end"),
        {"event": "entrypoint_returned"},
        *_ended(ROOM_ENDED, connected_at_session_end=None),
    ],
    "caller_ends": [
        *_in_call("caller_ends"),
        {"event": "room_disconnected"},
        {"event": "entrypoint_returned"},
        *_ended(ROOM_ENDED, connected_at_session_end=False),
    ],
    "raise_at_start": [
        _started("raise_at_start"),
        {"event": "raising"},
        *_ended("job crashed", connected_at_session_end=False),
    ],
    "raise_mid_call": [
        *_in_call("raise_mid_call"),
        {"event": "raising"},
        *_ended("job crashed", connected_at_session_end=True),
    ],
    "shutdown_called": [
        *_in_call("shutdown_called"),
        {"event": "shutdown_requested"},
        {"event": "entrypoint_returned"},
        *_ended("scripted goodbye", connected_at_session_end=True),
    ],
    "server_terminates": [
        *_in_call("server_terminates"),
        {"event": "room_disconnected"},
        {"event": "entrypoint_returned"},
        *_ended(ROOM_ENDED, connected_at_session_end=False),
    ],
    # still in its call when the worker shuts down, and its shutdown callback never returns
    "stuck_at_worker_shutdown": [
        *_in_call("stuck_at_worker_shutdown"),
        {"event": "entrypoint_returned"},
        *_ended("parent process shutdown", connected_at_session_end=True),
    ],
}
SCENARIOS = tuple(EXPECTED_EVENTS)
# An entrypoint that raises still ends its job cleanly, so livekit reports success; only a job
# that has to be killed (process) or cancelled (coroutine) is a failure.
EXPECTED_STATUSES = {s: "success" for s in SCENARIOS} | {"stuck_at_worker_shutdown": "failed"}


class ScriptedFailure(RuntimeError):
    pass


def _record(path: str, event: str, **fields: Any) -> None:
    with open(path, "a", encoding="utf-8") as out:
        out.write(json.dumps({"event": event, **fields}) + "\n")


def _read_events(path: Path) -> list[dict[str, Any]]:
    if not path.exists():
        return []
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


def scripted_setup(proc: JobProcess) -> None:
    proc.userdata["prewarmed_pid"] = os.getpid()
    proc.userdata.setdefault("prewarm_calls", []).append(time.monotonic())


async def scripted_request(request: JobRequest) -> None:
    scenario = json.loads(request.job.metadata)["scenario"]
    await request.accept(
        identity=f"agent-{request.room.name}",
        attributes={ROUTE_ATTRIBUTE: f"route-for-{scenario}"},
    )


async def scripted_session_end(ctx: JobContext) -> None:
    _record(json.loads(ctx.job.metadata)["events"], "session_end", connected=ctx.room.isconnected())


async def scripted_entrypoint(ctx: JobContext) -> None:
    meta = json.loads(ctx.job.metadata)
    path: str = meta["events"]
    scenario: str = meta["scenario"]
    _record(
        path,
        "entrypoint_started",
        context_bound=get_job_context() is ctx,
        prewarmed=ctx.proc.userdata.get("prewarmed_pid") == os.getpid(),
        attributes=accept_attributes(ctx),
    )

    async def on_shutdown(reason: str) -> None:
        _record(path, "shutdown_callback", reason=reason, connected=ctx.room.isconnected())
        if scenario == "stuck_at_worker_shutdown":
            await asyncio.Event().wait()

    ctx.add_shutdown_callback(on_shutdown)
    if scenario == "raise_at_start":
        _record(path, "raising")
        raise ScriptedFailure("scripted failure before connecting")

    disconnected = asyncio.Event()
    ctx.room.on("disconnected", lambda *_: disconnected.set())
    await ctx.connect()
    _record(path, "connected")
    await ctx.wait_for_participant()
    _record(path, "caller_joined")

    if scenario == "raise_mid_call":
        _record(path, "raising")
        raise ScriptedFailure("scripted failure during the call")
    if scenario == "shutdown_called":
        ctx.shutdown(reason="scripted goodbye")
        _record(path, "shutdown_requested")
    if scenario in ("caller_ends", "server_terminates"):
        await disconnected.wait()
        _record(path, "room_disconnected")
    _record(path, "entrypoint_returned")


def _normalize(scenario: str, events: list[dict[str, Any]]) -> list[dict[str, Any]]:
    room_ends = EXPECTED_EVENTS[scenario][-1]["reason"] == ROOM_ENDED
    normalized = []
    for event in map(dict, events):
        if room_ends and event.get("reason") in ROOM_ENDED_REASONS:
            event["reason"] = ROOM_ENDED
        if scenario == "normal_end" and event["event"] == "session_end":
            event.pop("connected")  # the room may not have dropped yet if a termination won
        normalized.append(event)
    return normalized


async def _wait_for(check: Callable[[], bool], what: str) -> None:
    deadline = time.monotonic() + WAIT_S
    while not check():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {WAIT_S:.0f} s waiting for {what}")
        await asyncio.sleep(0.1)


def _server_options(
    isolation: Isolation, livekit_server: LocalLiveKitServer, **overrides: Any
) -> ServerOptions:
    options: dict[str, Any] = {
        "jobs": JOB_RUNNERS[isolation],
        "entrypoint_fnc": scripted_entrypoint,
        "request_fnc": scripted_request,
        "setup_fnc": scripted_setup,
        "session_end_fnc": scripted_session_end,
        "agent_name": f"lifecycle-{isolation}",
        "ws_url": livekit_server.url,
        "api_key": livekit_server.api_key,
        "api_secret": livekit_server.api_secret,
        "http_host": "127.0.0.1",
        # every scenario is dispatched at once: never let the worker call itself full
        "load_fnc": lambda: 0.0,
        "load_threshold": math.inf,
        "num_idle_processes": 0,
        "shutdown_timeout": 2.0,
    }
    return ServerOptions(**(options | overrides))


async def _start_worker(server: AgentServer) -> asyncio.Task[None]:
    registered = asyncio.Event()
    server.on("worker_registered", lambda *_: registered.set())
    task = asyncio.create_task(server.run())
    await _wait_for(lambda: registered.is_set() or task.done(), "the worker to register")
    if task.done():
        task.result()
    return task


async def _dispatch(
    admin: ServerAdmin, agent_name: str, room: str, metadata: dict[str, Any]
) -> None:
    # a short departure timeout lets an emptied room close within a second
    await admin.api.room.create_room(api.CreateRoomRequest(name=room, departure_timeout=1))
    await admin.create_dispatch(agent_name=agent_name, room=room, metadata=json.dumps(metadata))


async def _run_scripted_jobs(
    isolation: Isolation, livekit_server: LocalLiveKitServer, workdir: Path
) -> tuple[dict[str, list[dict[str, Any]]], dict[str, str]]:
    ended: list[JobEnded] = []
    options = _server_options(isolation, livekit_server, on_job_ended=ended.append)
    server = build_server(options)
    worker = await _start_worker(server)
    rooms = {s: new_room_name(f"{isolation}-{s.replace('_', '-')}") for s in SCENARIOS}
    files = {s: workdir / f"{isolation}-{s}.jsonl" for s in SCENARIOS}
    callers: dict[str, rtc.Room] = {}

    def seen(scenario: str, event: str) -> bool:
        return any(e["event"] == event for e in _read_events(files[scenario]))

    try:
        async with ServerAdmin(livekit_server) as admin:
            for s in SCENARIOS:
                meta = {"scenario": s, "events": str(files[s])}
                await _dispatch(admin, options.agent_name, rooms[s], meta)
            for s in SCENARIOS:
                if s != "raise_at_start":
                    callers[s] = rtc.Room()
                    token = make_token(livekit_server, room=rooms[s], identity=f"caller-{s}")
                    await callers[s].connect(livekit_server.url, token)
            await _wait_for(lambda: all(seen(s, "caller_joined") for s in callers), "callers")
            await _wait_for(lambda: seen("normal_end", "entrypoint_returned"), "normal_end")
            await callers.pop("normal_end").disconnect()
            await callers.pop("caller_ends").disconnect()
            await admin.delete_room(rooms["server_terminates"])
            await _wait_for(lambda: len(ended) == len(SCENARIOS) - 1, "all but one job to end")
            await _wait_for(
                lambda: seen("stuck_at_worker_shutdown", "entrypoint_returned"), "the stuck job"
            )
    finally:
        # the stuck job ends here: the worker's shutdown terminates it
        await server.aclose()
        await worker
        for caller in callers.values():
            await caller.disconnect()
    by_room = {e.room_name: "success" if e.succeeded else "failed" for e in ended}
    events = {s: _normalize(s, _read_events(files[s])) for s in SCENARIOS}
    return events, {s: by_room.get(rooms[s], "never reported") for s in SCENARIOS}


@pytest.mark.asyncio
async def test_coroutine_jobs_follow_livekits_process_lifecycle(
    livekit_server: LocalLiveKitServer, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.WARNING, logger=ADAPTER_LOGGER)
    process_events, process_statuses = await _run_scripted_jobs("process", livekit_server, tmp_path)
    coroutine_events, coroutine_statuses = await _run_scripted_jobs(
        "coroutine", livekit_server, tmp_path
    )

    for scenario in SCENARIOS:
        assert process_events[scenario] == EXPECTED_EVENTS[scenario], f"process: {scenario}"
        assert coroutine_events[scenario] == process_events[scenario], f"coroutine: {scenario}"
    assert process_statuses == EXPECTED_STATUSES
    assert coroutine_statuses == process_statuses

    messages = [r.getMessage() for r in caplog.records]
    stuck = [m for m in messages if "did not finish within" in m]
    assert len(stuck) == 1 and "cancelling it" in stuck[0], stuck
    # a job whose lifecycle ran its course leaves nothing behind on the shared loop
    assert not [m for m in messages if "running after shutdown" in m]


_CONCURRENT_JOBS = 3
_concurrency: dict[str, Any] = {}


async def concurrent_entrypoint(ctx: JobContext) -> None:
    await ctx.connect()
    # forgotten by its job: under process isolation it would die with the job's process
    forgotten = asyncio.create_task(asyncio.sleep(3600), name=f"forgotten-{ctx.job.id}")
    _concurrency["forgotten"].append(forgotten)
    _concurrency["userdata_ids"].append(id(ctx.proc.userdata))
    _concurrency["active"] += 1
    _concurrency["max_active"] = max(_concurrency["max_active"], _concurrency["active"])
    try:
        # a barrier: only passable while all jobs run at the same time
        await _wait_for(
            lambda: _concurrency["max_active"] == _CONCURRENT_JOBS, "all jobs to run at once"
        )
    finally:
        _concurrency["active"] -= 1
    ctx.shutdown(reason="done")


@pytest.mark.asyncio
async def test_coroutine_pool_prewarms_once_and_runs_jobs_concurrently(
    livekit_server: LocalLiveKitServer, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.WARNING, logger=ADAPTER_LOGGER)
    _concurrency.update(active=0, max_active=0, userdata_ids=[], forgotten=[])
    prewarm_calls: list[int] = []

    def counting_setup(proc: JobProcess) -> None:
        prewarm_calls.append(os.getpid())
        proc.userdata["model"] = object()

    ended: list[JobEnded] = []
    options = _server_options(
        "coroutine",
        livekit_server,
        agent_name="concurrency-coroutine",
        entrypoint_fnc=concurrent_entrypoint,
        session_end_fnc=None,
        setup_fnc=counting_setup,
        on_job_ended=ended.append,
    )
    server = build_server(options)
    worker = await _start_worker(server)
    try:
        async with ServerAdmin(livekit_server) as admin:
            for index in range(_CONCURRENT_JOBS):
                room = new_room_name(f"concurrent-{index}")
                await _dispatch(admin, options.agent_name, room, {"scenario": "concurrent"})
            await _wait_for(lambda: len(ended) == _CONCURRENT_JOBS, "the jobs to end")
    finally:
        await server.aclose()
        await worker

    assert prewarm_calls == [os.getpid()]
    assert _concurrency["max_active"] == _CONCURRENT_JOBS
    assert len(set(_concurrency["userdata_ids"])) == 1
    assert [e.succeeded for e in ended] == [True] * _CONCURRENT_JOBS
    assert all(task.cancelled() for task in _concurrency["forgotten"])
    leftovers = [
        r.getMessage() for r in caplog.records if "running after shutdown" in r.getMessage()
    ]
    assert sorted(leftovers) == sorted(
        f"job {e.job_id} left 1 task(s) running after shutdown (forgotten-{e.job_id} (sleep)); "
        "cancelling "
        "them, as its process ending would under process isolation"
        for e in ended
    )
