"""End a job whose caller is gone once its room connection comes back.

While the agent's connection to LiveKit is down (the server restarting or stalled, a network
hiccup) it hears nothing of its room. When the server dropped the agent's participant in the
meantime, livekit rtc reconnects by joining again (a full restart, not a resume): it first
removes every remote participant with no disconnect reason, which livekit's RoomIO does not
treat as a hang-up, then joins whatever room of that name the server has. A caller who hung
up during the outage is simply not there; if the server deleted the room meanwhile, joining
makes a new, empty one. Either way nothing ever closes the session again: it would sit alone,
holding its slot, the load and ``active``, until the server closes the room on its own, which
it does not do while the agent is in it.

So after each reconnection the job looks for a caller (any remote participant that is not an
agent); if none is in the room ``CALLER_GONE_AFTER_S`` later, the job ends as a hang-up
would. A caller whose own connection broke has that long to come back. A job whose caller
never joined (an agent dispatched ahead of its caller) is left alone: nobody hung up.
"""

from __future__ import annotations

import asyncio
import logging
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from livekit import rtc

logger = logging.getLogger("openrtc.jobs")

CALLER_GONE_AFTER_S = 20.0
"""livekit-server's own default ``departure_timeout``: how long it keeps a room whose last
participant left, in case they come back."""


def is_caller(participant: rtc.RemoteParticipant) -> bool:
    from livekit import rtc

    return bool(participant.kind != rtc.ParticipantKind.PARTICIPANT_KIND_AGENT)


def has_caller(room: rtc.Room) -> bool:
    return any(is_caller(participant) for participant in room.remote_participants.values())


def end_job_when_caller_gone(ctx: Any, wait_s: float = CALLER_GONE_AFTER_S) -> None:
    """Watch ``ctx.room`` (a livekit ``JobContext``'s, connected) for reconnections; after
    each, once a caller had joined, shut the job down if none is in the room ``wait_s``
    later."""
    room: rtc.Room = ctx.room
    loop = asyncio.get_running_loop()
    pending: list[asyncio.TimerHandle] = []
    seen_caller = [has_caller(room)]

    def on_participant_connected(participant: rtc.RemoteParticipant) -> None:
        if is_caller(participant):
            seen_caller[0] = True

    def check() -> None:
        pending.clear()
        if room.isconnected() and not has_caller(room):
            logger.info(
                "job %s: no caller in room '%s' %g s after the agent reconnected; ending the job",
                ctx.job.id,
                room.name,
                wait_s,
            )
            ctx.shutdown(reason="caller gone after reconnecting")

    def on_reconnected() -> None:
        for handle in pending:
            handle.cancel()
        pending[:] = [loop.call_later(wait_s, check)] if seen_caller[0] else []

    async def stop_watching() -> None:
        room.off("reconnected", on_reconnected)
        room.off("participant_connected", on_participant_connected)
        for handle in pending:
            handle.cancel()

    room.on("participant_connected", on_participant_connected)
    room.on("reconnected", on_reconnected)
    ctx.add_shutdown_callback(stop_watching)
