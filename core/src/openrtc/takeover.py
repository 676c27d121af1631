"""Handing a deployment over from the workers running on this host to a new one.

A worker started with ``takeover`` serves like any other until it has registered with
LiveKit for the first time. Only then does it ask the older workers of the same deployment
(same LiveKit URL and dispatch name, started before it, not draining) to drain, over their
control sockets: they tell LiveKit at once that they take no more jobs, so new calls go to the
new worker, and each exits 0 after its last call. A new worker that fails before it
registers (an agent that does not import, a prewarm that raises, no LiveKit within
``takeover_timeout``) asks no one to drain; it tells them the takeover failed instead, and
they record ``deployment_rolled_back`` in their audit trail and keep serving.
"""

from __future__ import annotations

import asyncio
import logging
import os
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import attrs

from openrtc.control_socket import ControlSocketError, ask, control_dir, each_worker

logger = logging.getLogger("openrtc.takeover")

DRAIN_OP = "drain"
FAILED_OP = "takeover_failed"
INFO_OP = "info"


@attrs.frozen
class Deployment:
    """What makes two workers the same deployment: they serve the same dispatches."""

    url: str
    dispatch_name: str

    def matches(self, info: dict[str, Any]) -> bool:
        return info.get("url") == self.url and info.get("dispatch_name") == self.dispatch_name


@attrs.frozen
class Takeover:
    """The new worker's side of a handover."""

    directory: Path
    deployment: Deployment
    version: str
    started_at: float = attrs.field(factory=time.time)
    """Wall-clock start of this worker: only workers started before it are taken over, so two
    new replicas started together never drain each other."""

    def _me(self) -> dict[str, Any]:
        return {"pid": os.getpid(), "version": self.version}

    async def peers(self) -> list[dict[str, Any]]:
        """The other running workers of this deployment, as their ``info`` replies."""
        replies = await each_worker(self.directory, {"op": INFO_OP})
        return [info for info in replies if self.deployment.matches(info)]

    async def older_peers(self) -> list[dict[str, Any]]:
        """The running workers this one takes over."""
        return [
            info
            for info in await self.peers()
            if not info.get("draining") and float(info.get("started_at", 0.0)) < self.started_at
        ]

    async def drain_peers(self) -> list[dict[str, Any]]:
        """Ask every older peer to drain; returns those that said they do. Called once this
        worker registered."""
        peers = await self.older_peers()
        drained = []
        for peer in peers:
            request = {"op": DRAIN_OP, "by": self._me()}
            reply = await _ask_peer(peer, request)
            if reply.get("draining"):
                drained.append(peer)
                logger.info(
                    "takeover: worker pid %s (version %s, %s live calls) is draining",
                    peer.get("pid"),
                    peer.get("version"),
                    reply.get("active"),
                )
        if not peers:
            logger.info("takeover: no older worker of this deployment runs on this host")
        return drained

    async def report_failure(self, reason: str) -> None:
        """Tell every peer of the deployment that this worker failed to take over."""
        for peer in await self.peers():
            await _ask_peer(peer, {"op": FAILED_OP, "by": self._me(), "reason": reason})
            logger.info(
                "takeover failed: worker pid %s keeps serving version %s",
                peer.get("pid"),
                peer.get("version"),
            )


async def _ask_peer(peer: dict[str, Any], request: dict[str, Any]) -> dict[str, Any]:
    try:
        return await ask(Path(peer["socket"]), request)
    except (OSError, TimeoutError, ValueError) as exc:
        logger.warning("takeover: worker pid %s did not answer (%s)", peer.get("pid"), exc)
        return {}


def report_failed_start(settings: Mapping[str, Any], url: str, reason: str) -> None:
    """A worker meant to take over stopped before it could serve (an agent that does not
    import, a bad flag): tell the running workers of its deployment, if it was a takeover.

    ``settings`` are the worker's resolved settings, as far as they could be resolved."""
    if not settings.get("takeover") or not url:
        return
    try:
        directory = control_dir(str(settings.get("control_dir") or ""))
    except (ControlSocketError, OSError) as exc:
        logger.warning("cannot tell the running workers that the takeover failed: %s", exc)
        return
    deployment = Deployment(url, str(settings.get("dispatch_name") or ""))
    asyncio.run(Takeover(directory, deployment, version="").report_failure(reason))
