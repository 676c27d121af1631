"""Server-side helpers for tests: access tokens, rooms and explicit agent dispatches.

Everything goes through the real `livekit-api` Twirp client against the server under test.
"""

from __future__ import annotations

import datetime
from types import TracebackType
from typing import Protocol

from livekit import api
from livekit.protocol.agent_dispatch import AgentDispatch
from livekit.protocol.models import ParticipantInfo, Room


class ServerAddress(Protocol):
    """What a test needs to reach a LiveKit server; `LocalLiveKitServer` is one."""

    @property
    def url(self) -> str: ...

    @property
    def api_key(self) -> str: ...

    @property
    def api_secret(self) -> str: ...


def http_url(url: str) -> str:
    """The Twirp API lives on the same port as the websocket, under http(s)."""
    if url.startswith("ws://"):
        return "http://" + url[len("ws://") :]
    if url.startswith("wss://"):
        return "https://" + url[len("wss://") :]
    return url


def make_token(
    server: ServerAddress,
    *,
    room: str,
    identity: str,
    name: str | None = None,
    metadata: str | None = None,
    attributes: dict[str, str] | None = None,
    ttl: datetime.timedelta = datetime.timedelta(hours=1),
) -> str:
    """A participant token that may join `room`, publish and subscribe."""
    grants = api.VideoGrants(
        room_join=True,
        room=room,
        can_publish=True,
        can_subscribe=True,
        can_publish_data=True,
    )
    token = (
        api.AccessToken(server.api_key, server.api_secret)
        .with_identity(identity)
        .with_name(name or identity)
        .with_grants(grants)
        .with_ttl(ttl)
    )
    if metadata is not None:
        token = token.with_metadata(metadata)
    if attributes:
        token = token.with_attributes(attributes)
    return token.to_jwt()


class ServerAdmin:
    """Room and dispatch administration on one server; use as `async with ServerAdmin(server)`."""

    def __init__(self, server: ServerAddress) -> None:
        # Failover retries other LiveKit Cloud regions; a local server has none to try.
        self._api = api.LiveKitAPI(
            http_url(server.url), server.api_key, server.api_secret, failover=False
        )

    @property
    def api(self) -> api.LiveKitAPI:
        return self._api

    async def create_room(self, name: str, *, metadata: str = "", empty_timeout: int = 60) -> Room:
        request = api.CreateRoomRequest(name=name, metadata=metadata, empty_timeout=empty_timeout)
        return await self._api.room.create_room(request)

    async def list_rooms(self, names: list[str] | None = None) -> list[Room]:
        response = await self._api.room.list_rooms(api.ListRoomsRequest(names=names or []))
        return list(response.rooms)

    async def delete_room(self, name: str) -> None:
        await self._api.room.delete_room(api.DeleteRoomRequest(room=name))

    async def list_participants(self, room: str) -> list[ParticipantInfo]:
        response = await self._api.room.list_participants(api.ListParticipantsRequest(room=room))
        return list(response.participants)

    async def create_dispatch(
        self, *, agent_name: str, room: str, metadata: str = ""
    ) -> AgentDispatch:
        """Ask the server to dispatch the worker registered as `agent_name` into `room`."""
        request = api.CreateAgentDispatchRequest(
            agent_name=agent_name, room=room, metadata=metadata
        )
        return await self._api.agent_dispatch.create_dispatch(request)

    async def list_dispatches(self, room: str) -> list[AgentDispatch]:
        return await self._api.agent_dispatch.list_dispatch(room_name=room)

    async def delete_dispatch(self, dispatch_id: str, room: str) -> AgentDispatch:
        return await self._api.agent_dispatch.delete_dispatch(dispatch_id, room)

    async def aclose(self) -> None:
        await self._api.aclose()

    async def __aenter__(self) -> ServerAdmin:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.aclose()
