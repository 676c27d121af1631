"""Restart an agent's STT when the caller's words never come back from it.

livekit-agents bounds none of an STT's waits: a streaming STT that stops sending, or a
``recognize`` request that never returns (livekit's stream adapter runs them one at a time,
so every later utterance queues behind it), leaves the agent listening and the caller unheard
until they hang up; no reply is being prepared, so ``reply_timeout`` does not see it. When
``transcript_timeout`` seconds pass after the caller stopped speaking with no final transcript
and no reply under way, OpenRTC counts it as a recoverable STT error (``provider_error``), logs
it, and starts the agent over on a fresh instance of the same class with the call's history
(``LiveSessions.restart``): livekit closes the stuck STT stream with the old activity and
opens a new one. The caller is heard again from their next words; what they said into the
stuck STT is lost.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Mapping
from typing import Any

from openrtc import events

logger = logging.getLogger("openrtc.jobs")


def restart_deaf_stt(
    session: Any,
    timeout_s: float,
    *,
    job_id: str,
    room: str,
    agent: str,
    emit: Callable[[events.MetricsEvent], None],
    labels: Mapping[str, str],
    restart: Callable[[], bool],
) -> None:
    """Watch ``session`` (a livekit ``AgentSession``); ``restart`` starts its agent over and
    says whether it could. 0: never."""
    if timeout_s <= 0:
        return
    loop = asyncio.get_running_loop()
    pending: list[asyncio.TimerHandle] = []

    def disarm() -> None:
        while pending:
            pending.pop().cancel()

    def give_up() -> None:
        pending.clear()
        stt = getattr(session.current_agent, "stt", None) or session.stt
        provider = str(getattr(stt, "label", "") or type(stt).__name__)
        logger.warning(
            "job %s: no transcript from agent '%s''s STT (%s) %g s after the caller stopped "
            "speaking; starting the agent over with a new STT stream (transcript_timeout)",
            job_id,
            agent,
            provider,
            timeout_s,
        )
        emit(
            events.ProviderError(
                job_id=job_id,
                room=room,
                agent=agent,
                component="stt",
                provider=provider,
                recoverable=True,
                error=f"no transcript {timeout_s:g} s after the caller stopped speaking; "
                "the STT was restarted",
                labels=dict(labels),
            )
        )
        if not restart():
            logger.error("job %s: the agent could not be started over", job_id)

    def on_user_state(event: Any) -> None:
        disarm()
        if event.old_state == "speaking" and event.new_state == "listening":
            pending.append(loop.call_later(timeout_s, give_up))

    def on_transcript(event: Any) -> None:
        if getattr(event, "is_final", False):
            disarm()

    def on_agent_state(event: Any) -> None:
        if event.new_state in ("thinking", "speaking"):
            disarm()  # a reply is under way: the caller was heard

    session.on("user_state_changed", on_user_state)
    session.on("user_input_transcribed", on_transcript)
    session.on("agent_state_changed", on_agent_state)
    session.on("close", lambda _: disarm())
