"""Serving one named room directly, without dispatch: what ``openrtc connect --room`` runs.

The worker starts without registering for dispatch, as livekit's own ``connect`` verb does, so
LiveKit offers it no other job; once it is up it launches one job into the room through
livekit's public ``AgentServer.simulate_job``. The routing decision is made here, once, and
travels in the agent's join token as the participant attributes an accepted job carries, so the
entrypoint reads it back exactly as it does for a dispatched job.
"""

from __future__ import annotations

import asyncio
import logging
import secrets
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, Protocol, runtime_checkable

import attrs

from openrtc.labels import LabelRefused
from openrtc.routing import UnknownAgentError, decision_attributes
from openrtc.strategies import RouteDecision, RoutingError

if TYPE_CHECKING:
    from openrtc.jobs import JobHandlers

logger = logging.getLogger("openrtc.connect")

CONNECT_ROUTER = "connect"
"""The router name recorded when ``RoomJoin.agent`` chose the agent."""


class RoomJoinError(RuntimeError):
    """The worker could not join the requested room; the message says why and what to do."""


@attrs.frozen
class RoomJoin:
    """Join ``room`` directly and serve it with one session, instead of waiting for dispatch.

    ``agent`` names the agent; without it the router chain decides from the room's name and
    metadata, as for a dispatched job with no job metadata. ``participant_identity`` is the
    agent's identity in the room (default ``agent-<agent>-<random>``).
    """

    room: str
    agent: str | None = None
    participant_identity: str | None = None


@runtime_checkable
class DirectJobServer(Protocol):
    """What joining needs from the worker: two public members of livekit's ``AgentServer``."""

    async def simulate_job(
        self,
        room: str,
        *,
        fake_job: bool = ...,
        agent_identity: str | None = ...,
        room_info: Any = ...,
        token: str | None = ...,
    ) -> None: ...

    @property
    def active_jobs(self) -> list[Any]: ...


def api_url(url: str) -> str:
    """The server API is served on the websocket's host and port, over http(s)."""
    for ws, http in (("ws://", "http://"), ("wss://", "https://")):
        if url.startswith(ws):
            return http + url[len(ws) :]
    return url


@attrs.define
class RoomJoiner:
    """Launches the one job of a ``RoomJoin`` and says when the worker has nothing left to do."""

    join: RoomJoin
    handlers: JobHandlers
    url: str
    api_key: str = attrs.field(repr=False)
    api_secret: str = attrs.field(repr=False)
    finished: Callable[[str], None]
    """Called once with a reason when the worker should drain and exit."""
    error: RoomJoinError | None = None
    job_id: str | None = None
    _task: asyncio.Task[None] | None = None

    def launch(self, server: object) -> None:
        """Start joining; call on the worker's ``worker_started`` event, on its loop."""
        self._task = asyncio.get_running_loop().create_task(self._launch(server))

    def job_ended(self, job_id: str) -> None:
        if job_id == self.job_id:
            self.finished(f"the session in room '{self.join.room}' ended")

    async def _launch(self, server: object) -> None:
        try:
            await self._join(server)
        except RoomJoinError as exc:
            self.error = exc
        except Exception as exc:  # unreachable server, bad key...: end the command, never idle
            self.error = RoomJoinError(
                f"could not join room '{self.join.room}' at {self.url}: {exc}; check --url, "
                "--api-key and --api-secret"
            )
        if self.error is not None:
            logger.error("%s", self.error)
            self.finished(str(self.error))

    async def _join(self, server: object) -> None:
        if not isinstance(server, DirectJobServer):
            raise RoomJoinError(
                f"this isolation mode's worker ({type(server).__name__}) cannot join a room "
                "directly; use --isolation coroutine"
            )
        room_info = await self._room_info()
        decision = self.decide(room_info.name, room_info.metadata)
        identity = self.join.participant_identity or (
            f"agent-{decision.agent}-{secrets.token_hex(4)}"
        )
        await server.simulate_job(
            self.join.room,
            room_info=room_info,
            agent_identity=identity,
            token=self._token(identity, decision),
        )
        launched = [
            info.job.id
            for info in server.active_jobs
            if info.accept_arguments.identity == identity and info.job.room.name == self.join.room
        ]
        if not launched:
            raise RoomJoinError(f"the job for room '{self.join.room}' ended as it was launched")
        self.job_id = launched[0]
        self.handlers.session_started(self.job_id, self.join.room, decision)
        logger.info(
            "joined room '%s' as '%s': agent '%s' chosen by router '%s' (job %s)",
            self.join.room,
            identity,
            decision.agent,
            decision.router,
            self.job_id,
        )

    def decide(self, room_name: str, room_metadata: str) -> RouteDecision:
        """The one routing decision for the room's job."""
        try:
            # the job id does not exist yet: livekit assigns it when the job launches
            return self.handlers.decide(
                "", room_name, "", room_metadata, agent=self.join.agent, named_by=CONNECT_ROUTER
            )
        except (RoutingError, UnknownAgentError) as exc:
            fix = "" if self.join.agent is not None else "; choose the agent with --agent"
            raise RoomJoinError(f"{exc}{fix}") from None
        except LabelRefused as exc:
            raise RoomJoinError(f"{exc} (job labeler '{exc.labeler}')") from None

    async def _room_info(self) -> Any:
        from livekit import api

        # failover would try other LiveKit Cloud regions; one named server is the target here
        async with api.LiveKitAPI(
            api_url(self.url), self.api_key, self.api_secret, failover=False
        ) as lk:
            found = await lk.room.list_rooms(api.ListRoomsRequest(names=[self.join.room]))
            if found.rooms:
                return found.rooms[0]
            return await lk.room.create_room(api.CreateRoomRequest(name=self.join.room))

    def _token(self, identity: str, decision: RouteDecision) -> str:
        from livekit import api

        grants = api.VideoGrants(room_join=True, room=self.join.room, agent=True)
        return (
            api.AccessToken(self.api_key, self.api_secret)
            .with_identity(identity)
            .with_kind("agent")
            .with_attributes(decision_attributes(decision))
            .with_grants(grants)
            .to_jwt()
        )
