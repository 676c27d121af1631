"""What the worker answers an orchestrator's probes: is it alive, is it ready for calls.

Kubernetes (and anything else that probes over HTTP) reads the status code: 200 passes, 503
fails. Live is answered by the worker's own event loop, so a loop that stopped answering fails
it by timing out, which is what a liveness probe is for. Ready means LiveKit can give the
worker calls now: registered, not draining, and not reporting itself full (the load that
counts live sessions against the cap and, with the overload guard, the loop's health).
"""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping
from typing import Any

import attrs

LIVE_PATH = "/healthz"
READY_PATH = "/readyz"


@attrs.frozen
class ProbeAnswer:
    status: int
    body: Mapping[str, Any]


@attrs.frozen
class WorkerProbes:
    version: str
    registered: Callable[[], bool] = attrs.field(eq=False)
    draining: Callable[[], bool] = attrs.field(eq=False)
    load: Callable[[], float] = attrs.field(eq=False)
    active: Callable[[], int] = attrs.field(eq=False)

    def live(self) -> ProbeAnswer:
        return ProbeAnswer(200, {"live": True, "version": self.version, "pid": os.getpid()})

    def ready(self) -> ProbeAnswer:
        load = self.load()
        reasons = []
        if not self.registered():
            reasons.append("not registered with LiveKit")
        if self.draining():
            reasons.append("draining")
        if load >= 1.0:
            reasons.append("full: reporting load 1.0")
        body = {
            "ready": not reasons,
            "reasons": reasons,
            "version": self.version,
            "active": self.active(),
            "load": round(load, 3),
        }
        return ProbeAnswer(503 if reasons else 200, body)

    def routes(self) -> dict[str, Callable[[], ProbeAnswer]]:
        return {LIVE_PATH: self.live, READY_PATH: self.ready}
