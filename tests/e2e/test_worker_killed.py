"""A worker killed with SIGKILL while it holds calls: what the callers, LiveKit and the next
worker see.

The callers' rooms see the agent leave (the dead process's connections close, and the server
drops its participants); LiveKit does not dispatch those jobs again; a worker started
afterwards serves new calls, and reports the loss once: a warning naming the dead worker and
the calls that were live at its last snapshot, and a ``worker_lost`` event with them
(``openrtc.lost_workers``; Prometheus ``openrtc_sessions_lost_total``).
"""

from __future__ import annotations

import asyncio
import json
import os
import signal
import subprocess
import time
from collections.abc import Callable
from pathlib import Path

import pytest
from openrtc_demo import AGENTS_DIR
from openrtc_testing.apps import write_pool_app
from openrtc_testing.calls import ListeningCall
from openrtc_testing.dispatch import ServerAdmin
from openrtc_testing.localserver import LocalLiveKitServer
from openrtc_testing.process import WorkerProcess

pytestmark = pytest.mark.e2e

NAME = "killed-e2e"
BENCHMARKS = Path(__file__).resolve().parents[1] / "benchmarks"
LIVE = 2
AGENT_GONE_WITHIN_S = 30.0
"""A bound, not a performance claim: the agent's connections close with its process, and
the server drops a participant whose signal connection closed after a short grace."""
NOT_REDISPATCHED_FOR_S = 8.0
ORPHANS_GONE_WITHIN_S = 30.0
"""A hang guard: the forkserver sees its parent's pipe close, a session host its own."""
LINGERING_AGENT = """\
import logging
import threading
import time

from livekit.agents import Agent

from openrtc import agent_config


@agent_config(name="dental", greeting="Greet the caller.")
class LingeringAgent(Agent):
    def __init__(self) -> None:
        super().__init__(instructions="You book dental appointments for callers.")

    async def on_enter(self) -> None:
        # what a provider SDK may do: a worker thread that is not a daemon and never ends
        threading.Thread(target=time.sleep, args=(3600,), name="never-ends").start()
        logging.getLogger("lingering").warning("left a thread running")
"""


def worker(
    tmp: Path,
    server: LocalLiveKitServer,
    control: Path,
    tag: str,
    *extra: str,
    agents: Path = AGENTS_DIR,
) -> WorkerProcess:
    app = write_pool_app(tmp / "app.py", dispatch_name=NAME, import_paths=(BENCHMARKS,))
    return WorkerProcess(
        app,
        server,
        str(agents),
        *("--control-dir", str(control), "--metrics-jsonl", str(tmp / f"{tag}.jsonl")),
        *("--metrics-interval", "1"),
        *extra,
        env={"OPENRTC_DISABLE_PLUGINS": "openrtc-exporter-prometheus"},
    )


async def until(predicate: Callable[[], bool], timeout_s: float, what: str) -> float:
    """Seconds until ``predicate()`` held; fails the test after ``timeout_s``."""
    began = time.monotonic()
    while not predicate():
        assert time.monotonic() - began < timeout_s, what
        await asyncio.sleep(0.1)
    return time.monotonic() - began


async def test_a_killed_worker_loses_its_calls_and_the_next_one_says_so(
    livekit_server: LocalLiveKitServer,
    livekit_admin: ServerAdmin,
    tmp_path: Path,
    control_dir: Path,
) -> None:
    first = worker(tmp_path, livekit_server, control_dir, "first")
    second = worker(tmp_path, livekit_server, control_dir, "second")
    calls = [
        ListeningCall(livekit_server, livekit_admin, NAME, prefix="killed") for _ in range(LIVE)
    ]
    try:
        await first.start()
        await first.wait_for_line("registered", 120)
        await asyncio.gather(*(call.start() for call in calls))
        assert [c.error for c in calls] == [None] * LIVE
        last_words = control_dir / f"{first.pid}.json"

        def snapshot_shows_the_calls() -> bool:
            try:
                return json.loads(last_words.read_text())["active"] == LIVE
            except (OSError, ValueError, KeyError):
                return False

        await until(snapshot_shows_the_calls, 10, f"no snapshot with {LIVE} calls by the socket")

        os.kill(first.pid, signal.SIGKILL)
        gone_s = await until(
            lambda: not any(c.agent_present() for c in calls),
            AGENT_GONE_WITHIN_S,
            "the callers still see the killed worker's agent",
        )
        print(f"agent gone from the callers' rooms {gone_s:.1f} s after SIGKILL")

        await second.start()
        await second.wait_for_line("registered", 120)
        log = second.tail(200_000)
        assert f"worker pid {first.pid}" in log and f"{LIVE} calls were live" in log, log
        records = [
            json.loads(line)
            for line in (tmp_path / "second.jsonl").read_text(encoding="utf-8").splitlines()
        ]
        (lost,) = [r for r in records if r["kind"] == "worker_lost"]
        assert (lost["pid"], lost["active_sessions"]) == (first.pid, LIVE)
        assert lost["per_agent"] == {"dental": LIVE}
        assert not last_words.exists()

        new = await ListeningCall(livekit_server, livekit_admin, NAME, prefix="after").start()
        calls.append(new)
        assert new.error is None, f"{new.error}\n{second.tail()}"
        await asyncio.sleep(NOT_REDISPATCHED_FOR_S)
        # LiveKit does not hand the lost calls to the new worker
        assert not any(c.agent_present() for c in calls[:LIVE])
    finally:
        for call in calls:
            await call.end()
        await second.stop()
        await first.stop()


def alive_in_group(pgid: int) -> list[str]:
    """The processes of process group ``pgid`` that still run (zombies are gone already)."""
    shown = subprocess.run(
        ["ps", "-o", "pid=,stat=,args=", "-g", str(pgid)], capture_output=True, text=True
    ).stdout
    return [line for line in shown.splitlines() if line.split()[1][0] != "Z"]


async def kill_and_wait_for_its_group(first: WorkerProcess) -> float:
    """SIGKILL the worker alone; seconds until nothing of its process group runs."""
    os.kill(first.pid, signal.SIGKILL)
    return await until(
        lambda: not alive_in_group(first.pid),
        ORPHANS_GONE_WITHIN_S,
        f"still running after the worker was killed: {alive_in_group(first.pid)}",
    )


@pytest.mark.parametrize("isolation", ["process", "hybrid"])
async def test_a_killed_worker_leaves_no_process_behind(
    livekit_server: LocalLiveKitServer,
    livekit_admin: ServerAdmin,
    tmp_path: Path,
    control_dir: Path,
    isolation: str,
) -> None:
    """The processes a worker started (livekit's forkserver and job processes, or the session
    hosts) end on their own when it is killed: nothing is left holding memory or rooms. The
    worker runs in a process group of its own (``WorkerProcess``); only the worker is
    killed."""
    first = worker(tmp_path, livekit_server, control_dir, "first", "--isolation", isolation)
    call = ListeningCall(livekit_server, livekit_admin, NAME, prefix="orphans")
    try:
        await first.start()
        await first.wait_for_line("registered", 120)
        await call.start()
        assert call.error is None, first.tail()
        started = alive_in_group(first.pid)
        assert len(started) > 1, started  # the worker and what it started for the call
        took = await kill_and_wait_for_its_group(first)
        print(f"{len(started) - 1} processes of the killed worker ended {took:.1f} s after it")
    finally:
        await call.end()
        await first.stop()


@pytest.mark.parametrize("isolation", ["process", "hybrid"])
async def test_a_session_process_that_cannot_exit_ends_after_its_worker(
    livekit_server: LocalLiveKitServer,
    livekit_admin: ServerAdmin,
    tmp_path: Path,
    control_dir: Path,
    isolation: str,
) -> None:
    """Agent code left a thread running that is not a daemon, so the process that ran the
    call cannot finish its exit (Python joins such threads); with the worker killed, nobody
    would ever end it. It ends itself a few seconds after the worker
    (``openrtc.orphan_exit``), and says why."""
    agents = tmp_path / "agents"
    agents.mkdir()
    (agents / "dental.py").write_text(LINGERING_AGENT, encoding="utf-8")
    first = worker(
        tmp_path, livekit_server, control_dir, "first", "--isolation", isolation, agents=agents
    )
    call = ListeningCall(livekit_server, livekit_admin, NAME, prefix="lingering")
    try:
        await first.start()
        await first.wait_for_line("registered", 120)
        await call.start()
        assert call.error is None, first.tail()
        await first.wait_for_line("left a thread running", 30)
        took = await kill_and_wait_for_its_group(first)
        print(f"the killed worker's processes ended {took:.1f} s after it")
        assert f"its worker {first.pid} exited" in first.tail(), first.tail()
    finally:
        await call.end()
        await first.stop()
