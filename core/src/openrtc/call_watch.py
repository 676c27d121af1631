"""What OpenRTC measures and guards during every call, wherever its session runs.

Listeners on a live ``AgentSession``, each in its own module: a ``turn`` record per reply
(``turns``), a reply that never comes dropped after ``reply_timeout`` (``stalled_replies``),
an STT that never answers restarted after ``transcript_timeout`` (``unheard_callers``), and
every provider error counted (``provider_errors``). Their events go to ``emit``: the
worker's exporters, directly or over its control socket (``openrtc.event_channel``).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from openrtc import events
from openrtc.provider_errors import record_provider_errors
from openrtc.stalled_replies import drop_stalled_replies
from openrtc.turns import TurnRecorder, record_turns
from openrtc.unheard_callers import restart_deaf_stt


def watch_call(
    session: Any,
    *,
    job_id: str,
    room: str,
    agent: str,
    labels: Mapping[str, str],
    reply_timeout: float,
    transcript_timeout: float,
    emit: Callable[[events.MetricsEvent], None],
    restart: Callable[[], bool],
) -> None:
    record_turns(session, TurnRecorder(job_id, room, agent, emit, labels))
    drop_stalled_replies(
        session, reply_timeout, job_id=job_id, room=room, agent=agent, emit=emit, labels=labels
    )
    restart_deaf_stt(
        session,
        transcript_timeout,
        job_id=job_id,
        room=room,
        agent=agent,
        emit=emit,
        labels=labels,
        restart=restart,
    )
    record_provider_errors(session, job_id=job_id, room=room, agent=agent, emit=emit, labels=labels)
