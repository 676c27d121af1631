"""The worker's probes for orchestrators, and the version every call carries, over real HTTP
against a real livekit-server.

``/healthz`` answers 200 while the worker's loop answers at all; ``/readyz`` answers 200 only
while LiveKit can give the worker calls: 503 before it registered (a server that is not up
yet) and once it drains. The deployment version set on the command line is on the agent
participant of a live call, in the snapshot, in both probes' bodies and on every record of
the deployment audit trail, which has each of its steps once, in order.
"""

from __future__ import annotations

import asyncio
import json
import signal
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

import attrs
import pytest
from openrtc_demo import AGENTS_DIR
from openrtc_testing.caller import Caller
from openrtc_testing.dispatch import ServerAdmin
from openrtc_testing.env import free_tcp_port, new_room_name
from openrtc_testing.localserver import LocalLiveKitServer
from openrtc_testing.process import WorkerProcess

pytestmark = pytest.mark.e2e

TIMEOUT = 90.0
AUDIT = ("deployment_started", "deployment_ready", "drain_started", "drain_completed")
APP = """
import sys
from openrtc_providers_offline import offline_providers
from openrtc import AgentPool

stt, llm, tts = offline_providers()
pool = AgentPool(default_stt=stt, default_llm=llm, default_tts=tts, dispatch_name="probes-e2e")
pool.discover(sys.argv.pop(1))

if __name__ == "__main__":
    pool.run()
"""


@attrs.frozen
class Unreachable:
    """A LiveKit address nothing listens on."""

    url: str
    api_key: str = "devkey"
    api_secret: str = "secret-that-is-long-enough-for-livekit"


def get(port: int, path: str) -> tuple[int, dict[str, Any]]:
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}{path}", timeout=5) as reply:
            return reply.status, json.loads(reply.read())
    except urllib.error.HTTPError as refused:
        return refused.code, json.loads(refused.read())


async def probe_until(port: int, path: str, status: int) -> dict[str, Any]:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + TIMEOUT
    last: Any = None
    while loop.time() < deadline:
        try:
            code, body = await asyncio.to_thread(get, port, path)
        except (OSError, ValueError) as exc:  # not listening yet
            last = exc
        else:
            if code == status:
                return body
            last = (code, body)
        await asyncio.sleep(0.3)
    raise AssertionError(f"{path} never answered {status}; last: {last}")


def worker(tmp: Path, server: Any, port: int) -> WorkerProcess:
    app = tmp / "app.py"
    app.write_text(APP, encoding="utf-8")
    return WorkerProcess(
        app,
        server,
        *("--http-port", str(port), "--deployment-version", "v7"),
        *("--metrics-jsonl", str(tmp / "events.jsonl")),
        snapshot_file=tmp / "snapshot.json",
        args_before=(str(AGENTS_DIR),),
        env={"OPENRTC_DISABLE_PLUGINS": "openrtc-exporter-prometheus"},
    )


async def test_not_ready_until_registered(tmp_path: Path) -> None:
    port = free_tcp_port()
    down = worker(tmp_path, Unreachable(f"ws://127.0.0.1:{free_tcp_port()}"), port)
    try:
        await down.start()
        live = await probe_until(port, "/healthz", 200)
        assert live["version"] == "v7" and live["live"] is True
        body = await probe_until(port, "/readyz", 503)
        assert body["reasons"] == ["not registered with LiveKit"], body
    finally:
        await down.stop()


async def test_ready_while_serving_not_ready_while_draining_and_the_call_carries_the_version(
    livekit_server: LocalLiveKitServer, livekit_admin: ServerAdmin, tmp_path: Path
) -> None:
    port = free_tcp_port()
    serving = worker(tmp_path, livekit_server, port)
    caller: Caller | None = None
    try:
        await serving.start()
        await serving.wait_for_line("registered")
        ready = await probe_until(port, "/readyz", 200)
        assert ready == {"ready": True, "reasons": [], "version": "v7", "active": 0, "load": 0.0}

        room = new_room_name("probes")
        await livekit_admin.create_room(room)
        caller = await Caller(livekit_server, room).join()
        await livekit_admin.create_dispatch(
            agent_name="probes-e2e", room=room, metadata=json.dumps({"agent": "dental"})
        )
        agent = await caller.wait_for_participant(TIMEOUT, agent=True)
        assert agent.attributes["openrtc.version"] == "v7"
        assert (await probe_until(port, "/readyz", 200))["active"] == 1
        assert (serving.snapshot() or {}).get("deployment") == "v7"

        serving.send_signal(signal.SIGTERM)  # drains: the live call holds the worker open
        draining = await probe_until(port, "/readyz", 503)
        assert "draining" in draining["reasons"], draining
        assert (await probe_until(port, "/healthz", 200))["version"] == "v7"
        await caller.leave()
        assert await serving.wait(TIMEOUT) == 0, serving.tail()
        assert "version v7" in "".join(serving.log)
        pid = serving.proc.pid if serving.proc else None
        lines = (tmp_path / "events.jsonl").read_text(encoding="utf-8").splitlines()
        trail = [r for r in map(json.loads, lines) if r["kind"] in AUDIT]
        assert [r["kind"] for r in trail] == list(AUDIT), trail
        assert {(r["version"], r["pid"]) for r in trail} == {("v7", pid)}, trail
        ready, drain_started, completed = trail[1], trail[2], trail[3]
        assert ready["startup_s"] > 0 and ready["worker_id"]
        assert drain_started["active_sessions"] == 1
        assert (completed["sessions_left"], completed["sessions_served"]) == (0, 1), completed
    finally:
        if caller is not None:
            await caller.leave()
        await serving.stop()
