"""Two livekit-server nodes sharing one Redis are one LiveKit: OpenRTC workers scale on it.

A real Redis (Debian's redis-server) and two real livekit-server nodes with the same key pair;
one worker attached to each node, callers joining through either. Proven here: a job reaches
a worker whatever node its room and its caller are on; a draining worker's new calls go to
the worker on the other node while its own live call finishes; and when every worker is full
the server gives up on the dispatch at once and never retries it, even once a slot is free.
"""

from __future__ import annotations

import asyncio
import json
import signal
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest
import pytest_asyncio
from openrtc_testing.apps import write_pool_app
from openrtc_testing.calls import ListeningCall
from openrtc_testing.cluster import LocalLiveKitCluster
from openrtc_testing.dispatch import ServerAdmin
from openrtc_testing.env import new_room_name
from openrtc_testing.localserver import NO_WORKER_AVAILABLE, LocalLiveKitServer
from openrtc_testing.process import WorkerProcess
from openrtc_testing.server_binary import ServerUnavailable, find_server_binary

pytestmark = pytest.mark.e2e

NAME = "cluster-e2e"
TIMEOUT = 90.0
BENCHMARKS = Path(__file__).resolve().parents[1] / "benchmarks"
ENV = {"OPENRTC_DISABLE_PLUGINS": "openrtc-exporter-prometheus"}


@pytest.fixture(scope="module")
def cluster() -> Iterator[LocalLiveKitCluster]:
    try:
        binary = find_server_binary()
        started = LocalLiveKitCluster(2, binary=binary).start()
    except ServerUnavailable as exc:
        pytest.fail(f"the multi-node test bed needs it: {exc}", pytrace=False)
    try:
        yield started
    finally:
        started.stop()


@pytest_asyncio.fixture
async def admins(cluster: LocalLiveKitCluster) -> AsyncIterator[tuple[ServerAdmin, ServerAdmin]]:
    pair = (ServerAdmin(cluster.nodes[0]), ServerAdmin(cluster.nodes[1]))
    yield pair
    for admin in pair:
        await admin.aclose()


def worker(tmp: Path, node: LocalLiveKitServer, version: str, *extra: str) -> WorkerProcess:
    app = tmp / "app.py"
    write_pool_app(app, dispatch_name=NAME, import_paths=(BENCHMARKS,))
    from openrtc_demo import AGENTS_DIR

    return WorkerProcess(
        app,
        node,
        str(AGENTS_DIR),
        *("--deployment-version", version, "--metrics-jsonl", str(tmp / f"{version}.jsonl")),
        *extra,
        env=ENV,
    )


async def stop_keeping_logs(tmp: Path, workers: tuple[WorkerProcess, ...]) -> None:
    """Stop the workers (versions a, b, ...) and keep their logs in ``tmp``."""
    for version, each in zip("abcdefgh", workers, strict=False):
        await each.stop()
        each.save_log(tmp / f"{version}.log")


async def started(*workers: WorkerProcess) -> None:
    for each in workers:
        await each.start()
    for each in workers:
        await each.wait_for_line("registered", TIMEOUT)


async def test_a_job_reaches_a_worker_attached_to_another_node(
    cluster: LocalLiveKitCluster, admins: tuple[ServerAdmin, ServerAdmin], tmp_path: Path
) -> None:
    """One worker per node, each under a dispatch name of its own. Each room is made and
    joined through one node, the node that hosts it is read from the nodes' logs, and the
    call is dispatched by name to the worker attached to the other node."""
    workers = (
        worker(tmp_path, cluster.nodes[0], "a", "--dispatch-name", "node-0"),
        worker(tmp_path, cluster.nodes[1], "b", "--dispatch-name", "node-1"),
    )
    calls: list[ListeningCall] = []
    try:
        await started(*workers)
        for index in range(4):
            through = index % 2
            call = ListeningCall(cluster.nodes[through], admins[through], "", prefix="cluster")
            room = new_room_name("cluster")
            await admins[through].create_room(room)
            other = 1 - cluster.hosting(room)
            call.agent_name = f"node-{other}"
            calls.append(await call.start(room=room))
            assert call.error is None, call.error
            assert call.version == "ab"[other], (call.version, other)
    finally:
        for call in calls:
            await call.end()
        await stop_keeping_logs(tmp_path, workers)


async def test_a_draining_worker_sends_its_new_calls_to_the_other_node(
    cluster: LocalLiveKitCluster, admins: tuple[ServerAdmin, ServerAdmin], tmp_path: Path
) -> None:
    on_node_0 = worker(tmp_path, cluster.nodes[0], "a", "--drain-timeout", "120")
    on_node_1 = worker(tmp_path, cluster.nodes[1], "b")
    live: ListeningCall | None = None
    later: list[ListeningCall] = []
    try:
        await started(on_node_0)
        live = await ListeningCall(cluster.nodes[0], admins[0], NAME, prefix="cluster").start()
        assert live.error is None and live.version == "a", live.error
        await started(on_node_1)

        on_node_0.send_signal(signal.SIGTERM)
        await on_node_0.wait_for_line("draining worker", TIMEOUT)
        for index in range(4):  # through both nodes: the cluster has one worker left
            node = index % 2
            call = ListeningCall(cluster.nodes[node], admins[node], NAME, prefix="cluster")
            later.append(await call.start())
        assert [(c.error, c.version) for c in later] == [(None, "b")] * 4
        assert on_node_0.returncode is None, "the draining worker left before its live call"
        assert await live.end(), "the draining worker dropped its live call"
        assert await on_node_0.wait(TIMEOUT) == 0, on_node_0.tail()
        ended = [
            json.loads(line)
            for line in (tmp_path / "a.jsonl").read_text(encoding="utf-8").splitlines()
        ]
        outcomes = [r["outcome"] for r in ended if r["kind"] == "session_ended"]
        assert outcomes == ["succeeded"], outcomes
    finally:
        for call in [*later, *([live] if live else [])]:
            await call.end()
        await on_node_1.stop()
        await on_node_0.stop()


async def test_when_every_worker_is_full_the_server_drops_the_dispatch_for_good(
    cluster: LocalLiveKitCluster, admins: tuple[ServerAdmin, ServerAdmin], tmp_path: Path
) -> None:
    """One session per worker, two workers, three calls: the third is refused at dispatch,
    logged by the server as no worker available, and not retried once a slot frees."""
    one_each = ("--max-concurrent-sessions", "1")
    workers = (
        worker(tmp_path, cluster.nodes[0], "a", *one_each),
        worker(tmp_path, cluster.nodes[1], "b", *one_each),
    )
    calls: list[ListeningCall] = []
    try:
        await started(*workers)
        for node in (0, 1):
            call = await ListeningCall(cluster.nodes[node], admins[node], NAME).start()
            calls.append(call)
            assert call.version is not None, (call.error, workers[0].tail(), workers[1].tail())
            # the next call only once the server knows this worker is full: offered to it a
            # moment earlier, it would be declined, and the server drops a declined job
            await workers["ab".index(call.version)].wait_for_line("full capacity", TIMEOUT)
        assert sorted(c.version or "" for c in calls) == ["a", "b"], [c.error for c in calls]

        third = await ListeningCall(cluster.nodes[0], admins[0], NAME).start(timeout_s=10.0)
        calls.append(third)
        assert third.version is None and third.error is not None
        assert cluster.refused(third.room), f"no node logged {NO_WORKER_AVAILABLE!r}"

        await calls[0].end()  # a slot frees; the server does not come back to the third call
        await workers["ab".index(calls[0].version or "a")].wait_for_line("exiting", TIMEOUT)
        await asyncio.sleep(10.0)
        assert third.caller is not None and not third.caller.room.remote_participants
    finally:
        for call in calls:
            await call.end()
        await stop_keeping_logs(tmp_path, workers)
