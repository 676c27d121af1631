"""What a second LiveKit node costs a call: dispatch latency on one server and across a cluster.

Starts a single livekit-server (the baseline) and a two-node cluster sharing a real Redis, one
OpenRTC worker attached to the single server and one to node 1 of the cluster, all on this
machine. Then, one call at a time, ``--calls`` calls on each: a room, a caller that only
listens, a dispatch by name, and the time from the dispatch request to the agent participant
being visible to the caller. Cluster calls join through either node, and each is classed by
whether the node hosting its room is the worker's own (read from the nodes' logs). Also
printed: what Redis holds with the cluster idle and with ``--live`` calls live.

Usage:
    uv run --all-packages python tests/benchmarks/cluster_dispatch.py [--calls 20] [--live 10]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import re
import socket
import statistics
import sys
import tempfile
import time
from pathlib import Path

from openrtc_testing.apps import write_pool_app
from openrtc_testing.calls import ListeningCall
from openrtc_testing.cluster import LocalLiveKitCluster
from openrtc_testing.dispatch import ServerAdmin
from openrtc_testing.env import new_room_name
from openrtc_testing.localredis import LocalRedis
from openrtc_testing.localserver import LocalLiveKitServer
from openrtc_testing.process import WorkerProcess

NAME = "cluster-bench"
HERE = Path(__file__).resolve().parent


def redis_info(redis: LocalRedis) -> dict[str, str]:
    with socket.create_connection(("127.0.0.1", redis.port), timeout=2) as conn:
        conn.sendall(b"INFO memory\r\nDBSIZE\r\n")
        time.sleep(0.2)
        text = conn.recv(65536).decode(errors="replace")
    fields = dict(line.split(":", 1) for line in text.splitlines() if ":" in line)
    keys = re.search(r"\r\n:(\d+)\r\n", text)
    return {"keys": keys.group(1) if keys else "?", "used_memory": fields.get("used_memory", "?")}


async def timed_call(node: LocalLiveKitServer, admin: ServerAdmin) -> tuple[float, str]:
    room = new_room_name("bench")
    await admin.create_room(room)
    call = ListeningCall(node, admin, NAME)
    began = time.time()
    await call.start(room=room)
    seen = time.time()
    await call.end()
    if call.error is not None:
        raise RuntimeError(call.error)
    return seen - (call.dispatched_at or began), room


def worker(tmp: Path, node: LocalLiveKitServer, version: str) -> WorkerProcess:
    app = tmp / "app.py"
    write_pool_app(app, dispatch_name=NAME, import_paths=(HERE,))
    from openrtc_demo import AGENTS_DIR

    return WorkerProcess(
        app,
        node,
        str(AGENTS_DIR),
        "--deployment-version",
        version,
        env={"OPENRTC_DISABLE_PLUGINS": "openrtc-exporter-prometheus"},
    )


def ms(values: list[float]) -> str:
    if not values:
        return "n/a"
    return f"median {statistics.median(values) * 1000:.0f} ms (n={len(values)})"


async def run(calls: int, live: int) -> dict[str, object]:
    single = LocalLiveKitServer().start()
    cluster = LocalLiveKitCluster(2).start()
    redis, nodes = cluster.redis, cluster.nodes
    tmp = Path(tempfile.mkdtemp(prefix="cluster-bench-"))
    workers = [worker(tmp, single, "single"), worker(tmp, nodes[1], "cluster")]
    admins = [ServerAdmin(single), ServerAdmin(nodes[0]), ServerAdmin(nodes[1])]
    try:
        idle = redis_info(redis)
        for each in workers:
            await each.start()
        for each in workers:
            await each.wait_for_line("registered", 120)
        registered = redis_info(redis)
        await timed_call(single, admins[0])  # warm-up: first session's imports
        await timed_call(nodes[1], admins[2])
        baseline = [(await timed_call(single, admins[0]))[0] for _ in range(calls)]
        same: list[float] = []
        cross: list[float] = []
        for index in range(calls):
            through = index % 2
            latency, room = await timed_call(nodes[through], admins[1 + through])
            (same if cluster.hosting(room) == 1 else cross).append(latency)
        held = [
            await ListeningCall(nodes[i % 2], admins[1 + i % 2], NAME).start() for i in range(live)
        ]
        busy = redis_info(redis)
        for call in held:
            await call.end()
        return {
            "single server": ms(baseline),
            "cluster, room on the worker's node": ms(same),
            "cluster, room on the other node": ms(cross),
            "cross/single ratio": (
                round(statistics.median(cross) / statistics.median(baseline), 2) if cross else None
            ),
            "redis idle": idle,
            "redis, 1 worker registered": registered,
            f"redis, {live} calls live": busy,
        }
    finally:
        for each in workers:
            await each.stop()
        for admin in admins:
            await admin.aclose()
        single.stop()
        cluster.stop()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--calls", type=int, default=20)
    parser.add_argument("--live", type=int, default=10)
    args = parser.parse_args()
    result = asyncio.run(run(args.calls, args.live))
    json.dump(result, sys.stdout, indent=2)
    print()


if __name__ == "__main__":
    main()
