"""What a serving worker answers on its control socket, and its part in a takeover.

``info`` describes the worker (pid, version, deployment, state, counts); ``drain`` starts its
drain on behalf of a worker taking over; ``takeover_failed`` records in its audit trail that a
new version failed to take over, so it keeps serving; ``sessions`` adds the worker's health
and one entry per live session to ``info`` (``openrtc top``); ``call_states`` takes the states
of calls in session processes while they are watched (``openrtc.call_states``); ``event``
exports what a session running in a job process or session host measured
(``openrtc.event_channel``). The control
socket is opened when the worker starts serving and closed when it stops; next to it the
worker keeps its latest snapshot, and reports the workers it finds gone without stopping
(``openrtc.lost_workers``).
"""

from __future__ import annotations

import asyncio
import logging
import os
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any

import attrs

from openrtc.call_states import STATES_OP, WatchedStates
from openrtc.config import ConfigurationError
from openrtc.control_socket import SUFFIX, ControlServer, ControlSocketError, control_dir
from openrtc.event_channel import EVENT_OP, answer_events
from openrtc.lost_workers import describe, find_lost, last_snapshot_exporter
from openrtc.snapshot_file import SnapshotFileExporter
from openrtc.takeover import DRAIN_OP, FAILED_OP, INFO_OP, Deployment, Takeover
from openrtc.worker_tasks import worker_task

if TYPE_CHECKING:
    from openrtc.pool_runtime import PoolRuntime

logger = logging.getLogger("openrtc.control")

SESSIONS_OP = "sessions"


class TakeoverError(RuntimeError):
    """A worker started with ``takeover`` did not register within ``takeover_timeout``."""


class WorkerControl:
    """One worker's control socket and, when it was started with ``takeover``, its takeover."""

    def __init__(
        self,
        runtime: PoolRuntime,
        deployment: Deployment,
        *,
        started_at: float,
        drain: Callable[[str], None],
    ) -> None:
        self._runtime = runtime
        self._deployment = deployment
        self._started_at = started_at
        self._drain = drain
        self.server: ControlServer | None = None
        self.takeover: Takeover | None = None
        self.timed_out: float | None = None
        """``takeover_timeout`` once it passed before the first registration."""
        self.states: WatchedStates | None = None
        """The call states session processes report while ``top`` watches."""
        self.last_snapshot: SnapshotFileExporter | None = None
        """Keeps this worker's latest snapshot by its socket, for the worker that finds it
        gone (``openrtc.lost_workers``); ``None`` without a control socket."""

    async def open(self) -> None:
        """Listen on the control socket. Without ``takeover`` a socket that cannot be opened
        costs the socket only (one warning); with it, it is a configuration error."""
        settings = self._runtime.settings
        wanted = bool(settings["takeover"])
        try:
            directory = control_dir(settings["control_dir"])
            states = WatchedStates(directory / f"{os.getpid()}{SUFFIX}")
            server = ControlServer(
                directory,
                {
                    INFO_OP: self._info,
                    DRAIN_OP: self._drain_request,
                    FAILED_OP: self._failed,
                    EVENT_OP: answer_events(self._runtime.emit),
                    SESSIONS_OP: self._sessions,
                    STATES_OP: states.answer,
                },
            )
            await server.start()
        except (ControlSocketError, OSError) as exc:
            if wanted:
                raise ConfigurationError(f"--takeover needs a control socket: {exc}") from None
            logger.warning("no control socket (openrtc top, takeover): %s", exc)
            return
        self.server, self.states = server, states
        for lost in find_lost(directory):
            logger.warning("%s", describe(lost))
            self._runtime.audit.worker_lost(lost)
        self.last_snapshot = last_snapshot_exporter(directory)
        if wanted:
            self.takeover = Takeover(
                directory, self._deployment, self._runtime.handlers.version, self._started_at
            )

    async def close(self) -> None:
        if self.server is not None:
            await self.server.close()
        if self.states is not None:
            self.states.close()

    async def _info(self, _: Mapping[str, Any]) -> Mapping[str, Any]:
        runtime = self._runtime
        health = runtime.state.worker_state().health
        return {
            "pid": os.getpid(),
            "version": runtime.handlers.version,
            "url": self._deployment.url,
            "dispatch_name": self._deployment.dispatch_name,
            "isolation": runtime.isolation.name,
            "started_at": self._started_at,
            "registered": runtime.registered.is_set(),
            "worker_id": runtime.worker_id,
            "draining": runtime.state.draining,
            "active": runtime.state.active,
            "load": round(runtime.load(), 3),
            "agents": list(runtime.handlers.agents),
            # for leak hunting (openrtc_testing.soak): counted only when asked
            "asyncio_tasks": len(asyncio.all_tasks()),
            "loop_lag_p99_ms": None if health is None else round(health.loop_lag_p99_s * 1000, 1),
        }

    async def _sessions(self, request: Mapping[str, Any]) -> Mapping[str, Any]:
        """``info`` and one entry per live session (``openrtc top``)."""
        snapshot = self._runtime.state.snapshot()
        # read from the sessions running in this process; reported by job processes and
        # session hosts, which report only while the marker says someone watches
        rows = self._runtime.state.live_sessions()
        states: dict[str, str] = {}
        if self.states is not None:
            self.states.watched()
            states = self.states.states({row["job_id"] for row in rows})
        states.update(self._runtime.handlers.live.states())
        sessions = [{**row, "state": states.get(row["job_id"])} for row in rows]
        return {
            **(await self._info(request)),
            "rss_bytes": snapshot.rss_bytes,
            "health": None if snapshot.health is None else attrs.asdict(snapshot.health),
            "turns": {agent: attrs.asdict(stats) for agent, stats in snapshot.turns.items()},
            "sessions": sessions,
        }

    async def _drain_request(self, request: Mapping[str, Any]) -> Mapping[str, Any]:
        by = _who(request)
        active = self._runtime.state.active
        if not self._runtime.state.draining:
            logger.info("taken over by %s: draining %d live calls", by, active)
            self._drain(f"taken over by {by}")
        return {"draining": True, "active": active}

    async def _failed(self, request: Mapping[str, Any]) -> Mapping[str, Any]:
        by = request.get("by") or {}
        reason = str(request.get("reason", ""))
        logger.warning(
            "%s failed to take over (%s); this worker keeps serving", _who(request), reason
        )
        self._runtime.audit.rolled_back(
            failed_version=str(by.get("version", "")),
            failed_pid=int(by.get("pid", 0) or 0),
            reason=reason,
        )
        return {"recorded": True}

    # -- the new worker's side ------------------------------------------------------------

    def registered(self) -> None:
        """The first registration: the moment to ask the older workers to drain."""
        if self.takeover is not None and not self._runtime.state.draining:
            takeover, self.takeover = self.takeover, None
            worker_task(_drain_quietly(takeover), "openrtc-takeover")

    async def failed(self, reason: str) -> None:
        """This worker stopped before it registered: the takeover did not happen."""
        if self.takeover is not None:
            takeover, self.takeover = self.takeover, None
            # the cause is the worker's own error line; this one says what follows from it
            logger.info("takeover did not happen: the running workers keep serving")
            await takeover.report_failure(reason)

    def start_bound(self, server_closed: Callable[[], Any]) -> asyncio.Task[None] | None:
        """With ``takeover`` and a ``takeover_timeout``: close the server if it has not
        registered in time (``timed_out`` then says so)."""
        limit = float(self._runtime.settings["takeover_timeout"])
        if self.takeover is None or not limit:
            return None

        async def bound() -> None:
            try:
                await asyncio.wait_for(self._runtime.registered.wait(), limit)
            except TimeoutError:
                self.timed_out = limit
                await server_closed()

        return worker_task(bound(), "openrtc-takeover-bound")


def _who(request: Mapping[str, Any]) -> str:
    by = request.get("by") or {}
    return f"version {by.get('version', '?')} (pid {by.get('pid', '?')})"


async def _drain_quietly(takeover: Takeover) -> None:
    try:
        await takeover.drain_peers()
    except Exception:  # the new worker serves either way; the old ones keep serving too
        logger.exception("takeover: asking the older workers to drain failed")
