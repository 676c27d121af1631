"""Several livekit-server nodes sharing one Redis: one LiveKit, as a multi-node deployment runs.

Every node gets the same key pair, so a token or an API call made for one is good on all;
which node hosts a room is read from the log line of the node that placed it.
"""

from __future__ import annotations

import re
import secrets
from pathlib import Path

from openrtc_testing.localredis import LocalRedis
from openrtc_testing.localserver import LocalLiveKitServer

NODE_ID = re.compile(r'starting LiveKit server.*"nodeID": "(ND_\w+)"')
ROOM_PLACED = re.compile(
    r'selected node for room\s+\{"room": "([\w-]+)", "selectedNodeID": "(ND_\w+)"'
)


class LocalLiveKitCluster:
    def __init__(self, nodes: int = 2, *, binary: Path | None = None) -> None:
        self.redis = LocalRedis()
        keys = (f"openrtc-{secrets.token_hex(4)}", secrets.token_urlsafe(32))
        self.nodes = tuple(
            LocalLiveKitServer(binary, redis_address=None, keys=keys) for _ in range(nodes)
        )

    def start(self) -> LocalLiveKitCluster:
        """Redis first, then each node pointed at it; what started is stopped on failure."""
        try:
            self.redis.start()
            for node in self.nodes:
                node.redis_address = self.redis.address
                node.start()
        except BaseException:
            self.stop()
            raise
        return self

    def stop(self) -> None:
        for node in self.nodes:
            node.stop()
        self.redis.stop()

    def _logs(self) -> list[str]:
        return [node.log_path.read_text(encoding="utf-8", errors="replace") for node in self.nodes]

    def hosting(self, room: str) -> int:
        """The index of the node that hosts ``room``."""
        logs = self._logs()
        ids = [NODE_ID.findall(log)[0] for log in logs]
        for log in logs:
            for placed, node_id in ROOM_PLACED.findall(log):
                if placed == room:
                    return ids.index(node_id)
        raise LookupError(f"no node logged placing room {room}")

    def refused(self, room: str) -> bool:
        """Some node logged that no worker could take ``room``'s job."""
        return any(node.refused_dispatch(room) for node in self.nodes)
