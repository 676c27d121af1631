"""A session that closes ends its job, so the job's slot frees with the call.

livekit leaves the job running after its session closed: a caller who hung up keeps the job
(its place in ``max_concurrent_sessions``, the load, ``active``) until the server deletes the
emptied room, about 20 s later; a session closed on an unrecoverable error (its STT, LLM or
TTS kept failing) leaves a silent agent in the room. An error always ends the job, counted
failed; any other close (hang-up, the agent ending the call) ends it unless
``session_close_ends_job`` is off (``ends_job``).
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

from openrtc.runtime import RuntimeState

logger = logging.getLogger("openrtc.jobs")


def end_job_on_session_close(
    ctx: Any, agent: str, state: RuntimeState, *, ends_job: bool
) -> Callable[[Any], None]:
    """The session ``close`` listener for the job of ``ctx`` (a livekit ``JobContext``)."""

    def on_close(event: Any) -> None:
        reason = str(getattr(event.reason, "value", event.reason))
        if reason == "error":
            state.job_failed(ctx.job.id)
            logger.error(
                "session of agent '%s' in job %s failed mid-call (%s); ending the job",
                agent,
                ctx.job.id,
                event.error.error if event.error is not None else "unknown error",
            )
            ctx.shutdown(reason=f"agent '{agent}' session failed")
        elif reason != "job_shutdown" and ends_job:
            logger.info("session of job %s closed (%s); ending the job", ctx.job.id, reason)
            ctx.shutdown(reason=f"session closed: {reason}")

    return on_close
