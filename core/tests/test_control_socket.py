"""The control socket and the takeover's choice of peers, over real Unix sockets.

Peers are real listening sockets named by the pids of real (sleeping) processes, as a worker's
are; the drain and rollback they are asked for end to end is in tests/e2e/test_takeover.py.
"""

from __future__ import annotations

import os
import stat
import subprocess
import sys
import tempfile
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

import pytest

from openrtc.control_socket import (
    ControlServer,
    ControlSocketError,
    ask,
    control_dir,
    each_worker,
)
from openrtc.takeover import Deployment, Takeover


@pytest.fixture
def private_dir() -> Iterator[Path]:
    # short: a Unix socket path is limited to about 100 bytes, pytest's tmp_path is long
    with tempfile.TemporaryDirectory(prefix="ortc-") as name:
        path = Path(name) / "control"
        yield control_dir(str(path))


@pytest.fixture
def sleepers() -> Iterator[list[int]]:
    procs = [
        subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"]) for _ in range(3)
    ]
    yield [proc.pid for proc in procs]
    for proc in procs:
        proc.kill()
        proc.wait()


def answering(info: Mapping[str, Any], log: list[Mapping[str, Any]]) -> dict[str, Any]:
    async def info_answer(_: Mapping[str, Any]) -> Mapping[str, Any]:
        return info

    async def record(request: Mapping[str, Any]) -> Mapping[str, Any]:
        log.append(request)
        return {"draining": True, "active": info.get("active", 0), "recorded": True}

    return {"info": info_answer, "drain": record, "takeover_failed": record}


def test_the_directory_is_made_private_and_a_shared_one_is_refused(tmp_path: Path) -> None:
    made = control_dir(str(tmp_path / "mine"))
    assert stat.S_IMODE(made.stat().st_mode) == 0o700

    shared = tmp_path / "shared"
    shared.mkdir(mode=0o755)
    shared.chmod(0o755)
    with pytest.raises(ControlSocketError, match=r"open to other users \(mode 755\).*chmod 700"):
        control_dir(str(shared))

    a_file = tmp_path / "file"
    a_file.write_text("")
    with pytest.raises(ControlSocketError, match="not a directory"):
        control_dir(str(a_file))


async def test_a_worker_answers_its_operations_only_and_its_socket_is_owner_only(
    private_dir: Path,
) -> None:
    log: list[Mapping[str, Any]] = []
    server = ControlServer(private_dir, answering({"pid": 1, "version": "v1"}, log))
    await server.start()
    try:
        assert stat.S_IMODE(server.path.stat().st_mode) == 0o600
        assert await ask(server.path, {"op": "info"}) == {"pid": 1, "version": "v1"}
        unknown = await ask(server.path, {"op": "reboot"})
        assert "unknown op 'reboot'" in unknown["error"]
        assert "'drain'" in unknown["error"], unknown
        assert log == []
    finally:
        await server.close()
    assert not server.path.exists()


async def test_a_malformed_request_gets_an_error_not_a_dead_socket(private_dir: Path) -> None:
    import asyncio

    server = ControlServer(private_dir, answering({"pid": 1}, []))
    await server.start()
    try:
        reader, writer = await asyncio.open_unix_connection(str(server.path))
        writer.write(b"not json\n")
        reply = await reader.readline()
        writer.close()
        assert b"one JSON object" in reply
        assert await ask(server.path, {"op": "info"}) == {"pid": 1}
    finally:
        await server.close()


async def test_a_long_reply_arrives_whole(private_dir: Path) -> None:
    # a worker with a few hundred live calls answers 'sessions' with more than the 64 KiB a
    # request may take
    sessions = [{"room": f"room-{n}", "agent": "dental", "age_s": 1.0} for n in range(3000)]
    server = ControlServer(private_dir, answering({"sessions": sessions}, []))
    await server.start()
    try:
        reply = await ask(server.path, {"op": "info"})
    finally:
        await server.close()
    assert len(reply["sessions"]) == 3000


@pytest.fixture
def dead_pid() -> int:
    gone = subprocess.Popen([sys.executable, "-c", "pass"])
    gone.wait()
    return gone.pid


async def test_a_socket_left_by_a_dead_worker_is_removed(private_dir: Path, dead_pid: int) -> None:
    left = private_dir / f"{dead_pid}.sock"
    left.touch()
    assert await each_worker(private_dir, {"op": "info"}) == []
    assert not left.exists()


async def test_takeover_drains_older_workers_of_its_own_deployment_only(
    private_dir: Path, sleepers: list[int]
) -> None:
    url, name = "ws://127.0.0.1:7880", "support"
    now = 1_000.0
    peers = {
        "older": {"url": url, "dispatch_name": name, "started_at": now - 60},
        "other name": {"url": url, "dispatch_name": "sales", "started_at": now - 60},
        "newer": {"url": url, "dispatch_name": name, "started_at": now + 1},
    }
    logs: dict[str, list[Mapping[str, Any]]] = {key: [] for key in peers}
    servers = [
        ControlServer(private_dir, answering({**info, "pid": pid}, logs[key]), pid=pid)
        for (key, info), pid in zip(peers.items(), sleepers, strict=True)
    ]
    for server in servers:
        await server.start()
    try:
        takeover = Takeover(private_dir, Deployment(url, name), "v2", started_at=now)
        drained = await takeover.drain_peers()
        assert [peer["pid"] for peer in drained] == [sleepers[0]]
        assert [r["op"] for r in logs["older"]] == ["drain"]
        assert logs["older"][0]["by"] == {"pid": os.getpid(), "version": "v2"}
        assert logs["other name"] == [] and logs["newer"] == []

        await takeover.report_failure("agent 'x' failed to import")
        # every worker of the deployment hears of the failure, whatever its age
        assert [r["op"] for r in logs["newer"]] == ["takeover_failed"]
        assert logs["older"][-1]["reason"] == "agent 'x' failed to import"
        assert logs["other name"] == []
    finally:
        for server in servers:
            await server.close()
