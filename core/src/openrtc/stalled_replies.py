"""Drop a reply the agent has prepared for too long, so a provider that hangs does not leave
the caller in silence for the rest of the call.

livekit-agents bounds each provider request it makes (``conn_options``: a timeout, then
retries, then an error the session survives), but not a stream that was opened and never
yields, nor a tool that never returns: the agent then stays ``thinking`` for as long as the
caller stays, deaf to them, since a reply is on its way. After ``reply_timeout`` seconds in
``thinking`` (from the moment it began preparing a reply to its first audio), OpenRTC
interrupts the reply: the session listens again, the caller can speak, and the worker logs
and records which agent's reply stalled (``reply_stalled``). A reply that only needs more time
(a slow tool) is cut off too: set ``reply_timeout`` above the slowest one, or 0 for no limit.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable, Mapping
from typing import Any

from openrtc import events

logger = logging.getLogger("openrtc.jobs")


def drop_stalled_replies(
    session: Any,
    timeout_s: float,
    *,
    job_id: str,
    room: str,
    agent: str,
    emit: Callable[[events.MetricsEvent], None],
    labels: Mapping[str, str],
) -> None:
    """Watch ``session`` (a livekit ``AgentSession``): when it stays ``thinking`` for
    ``timeout_s`` (0: never), log it, emit ``ReplyStalled`` and interrupt the reply."""
    if timeout_s <= 0:
        return
    loop = asyncio.get_running_loop()
    pending: list[asyncio.TimerHandle] = []

    def give_up() -> None:
        pending.clear()
        if session.agent_state != "thinking":
            return
        logger.warning(
            "job %s: agent '%s' prepared a reply for %g s without a word (an LLM, TTS or tool "
            "that never answered); dropping it so the caller can speak (reply_timeout)",
            job_id,
            agent,
            timeout_s,
        )
        stalled = events.ReplyStalled(
            job_id=job_id, room=room, agent=agent, waited_s=timeout_s, labels=dict(labels)
        )
        emit(stalled)
        with contextlib.suppress(RuntimeError):  # the session closed meanwhile
            session.interrupt(force=True)

    def cancel() -> None:
        for handle in pending:
            handle.cancel()
        pending.clear()

    def on_state(event: Any) -> None:
        cancel()
        if event.new_state == "thinking":
            pending.append(loop.call_later(timeout_s, give_up))

    session.on("agent_state_changed", on_state)
    session.on("close", lambda _: cancel())
