"""Calls that only listen: a room of their own, a caller with no microphone, one dispatch.

What deployment tests need from a call is who answered it (the agent participant's
``openrtc.version``) and whether the agent stayed until the caller hung up, not the
conversation. A caller without a microphone gives the agent nothing to run its VAD on, so many
such calls fit on a small machine next to the workers under test.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import time

import attrs

from openrtc_testing.caller import Caller
from openrtc_testing.dispatch import ServerAddress, ServerAdmin
from openrtc_testing.env import new_room_name

VERSION_ATTRIBUTE = "openrtc.version"


@attrs.define
class ListeningCall:
    """Create with the node to join through and the admin of the node that makes the room."""

    server: ServerAddress
    admin: ServerAdmin
    agent_name: str
    metadata: dict[str, str] = attrs.field(factory=lambda: {"agent": "dental"})
    prefix: str = "call"
    room: str = ""
    dispatched_at: float = 0.0
    """Wall clock once the dispatch exists, to compare with the workers' records."""
    version: str | None = None
    """The answering agent's ``openrtc.version``; None until (unless) one joined."""
    agent_identity: str | None = None
    error: str | None = None
    caller: Caller | None = None

    async def start(self, timeout_s: float = 30.0, *, room: str = "") -> ListeningCall:
        """Create the room (unless ``room`` names one made already), join, dispatch, wait
        for the agent. A failure is kept in ``error`` (with the room, for reading the
        server's log), not raised."""
        self.room = room or new_room_name(self.prefix)
        try:
            if not room:
                await self.admin.create_room(self.room)
            self.caller = await Caller(self.server, self.room).join(microphone=False)
            await self.admin.create_dispatch(
                agent_name=self.agent_name, room=self.room, metadata=json.dumps(self.metadata)
            )
            self.dispatched_at = time.time()
            agent = await self.caller.wait_for_participant(timeout_s, agent=True)
            self.version = agent.attributes.get(VERSION_ATTRIBUTE)
            self.agent_identity = agent.identity
        except Exception as exc:  # kept with the call: the test reports every call's outcome
            self.error = f"{type(exc).__name__}: {exc}"
        return self

    def agent_present(self) -> bool:
        caller, identity = self.caller, self.agent_identity
        return caller is not None and identity in caller.room.remote_participants

    async def end(self, *, agent_leaves_within_s: float = 0.0) -> bool:
        """Hang up and delete the room; True if the agent was still there when the caller
        left (the call was not dropped).

        With ``agent_leaves_within_s``, the room is deleted only once the agent left it on its
        own (or that many seconds passed), as after an ordinary hang-up. Deleting it under a
        present agent disconnects it from the server side, and livekit rtc then keeps the
        agent's published audio track, its source and that source's native capture thread
        for the rest of the process (see ``openrtc_testing.soak.KNOWN_LEAK``)."""
        stayed = self.agent_present()
        if self.caller is not None:
            await self.caller.leave()
        if agent_leaves_within_s > 0:
            await self._wait_until_empty(agent_leaves_within_s)
        with contextlib.suppress(Exception):  # gone already (the server deleted it)
            await self.admin.delete_room(self.room)
        return stayed

    async def _wait_until_empty(self, timeout_s: float) -> None:
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            try:
                if not await self.admin.list_participants(self.room):
                    return
            except Exception:  # the room is gone already
                return
            await asyncio.sleep(0.2)  # the server's participant list is polled, no event


@attrs.define
class HeldCall:
    """The outcome of a call held for a fixed time."""

    call: ListeningCall
    stayed: bool = False

    @property
    def ok(self) -> bool:
        return self.call.error is None and self.stayed


async def hold_call(
    call: ListeningCall, hold_s: float, *, agent_leaves_within_s: float = 0.0
) -> HeldCall:
    await call.start()
    if call.error is not None:
        await call.end()
        return HeldCall(call)
    await asyncio.sleep(hold_s)
    return HeldCall(call, stayed=await call.end(agent_leaves_within_s=agent_leaves_within_s))
