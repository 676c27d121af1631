"""How a session's end is recorded: reported by its job's executor, or cancelled with the
worker when it stops at once.

Every session gets exactly one end record. When the worker stops at once (a second signal, a
drain past ``drain_timeout``), the sessions still live are ended as ``cancelled`` before the
server is closed; the executors report the same jobs ended afterwards, in their own words
(usually a clean shutdown), and those reports are dropped.
"""

from __future__ import annotations

from collections.abc import Callable

from openrtc import events
from openrtc.runtime import RuntimeState
from openrtc.strategies import JobEnded

Emit = Callable[[events.MetricsEvent], None]


def record_job_end(state: RuntimeState, emit: Emit, ended: JobEnded) -> bool:
    """Count the end an executor reported and export it; False if the job was ended
    already (cancelled when the worker stopped)."""
    if state.was_cancelled(ended.job_id):
        return False
    outcome = state.job_ended(ended.job_id, executor_succeeded=ended.succeeded)
    known = state.session_ended(ended.job_id, outcome)
    emit(
        events.SessionEnded(
            job_id=ended.job_id,
            room=ended.room_name,
            agent=known.agent or ended.agent,
            outcome=outcome,
            duration_s=known.duration_s,
            labels=known.labels,
        )
    )
    return True


def cancel_unfinished(state: RuntimeState, emit: Emit) -> None:
    """End every live session as cancelled, so the final snapshot and every exporter see
    each one end."""
    for job_id, room, known in state.cancel_live():
        emit(
            events.SessionEnded(
                job_id=job_id,
                room=room,
                agent=known.agent,
                outcome="cancelled",
                duration_s=known.duration_s,
                labels=known.labels,
            )
        )
