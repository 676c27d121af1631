from __future__ import annotations

import json
from collections.abc import Awaitable, Callable

import pytest
from openrtc_testing.caller import Caller
from openrtc_testing.dispatch import ServerAdmin
from openrtc_testing.env import new_room_name
from openrtc_testing.plugin import CallerFactory

TIMEOUT = 60.0  # a hang guard, not a performance claim


@pytest.fixture
def call_agent(
    livekit_admin: ServerAdmin, caller_factory: CallerFactory
) -> Callable[[str, str], Awaitable[Caller]]:
    """``await call_agent(dispatch_name, agent)``: a new room, a dispatch of ``agent`` to the
    worker registered as ``dispatch_name``, and a caller in the room once the agent joined."""

    async def call(dispatch_name: str, agent: str) -> Caller:
        room = new_room_name(agent)
        await livekit_admin.create_room(room)
        await livekit_admin.create_dispatch(
            agent_name=dispatch_name, room=room, metadata=json.dumps({"agent": agent})
        )
        caller = await caller_factory(room)
        await caller.wait_for_participant(TIMEOUT, agent=True)
        return caller

    return call
