"""Count the provider errors of a live session, the ones it survives included.

livekit-agents reports every STT, LLM and TTS error of a session as the session's ``error``
event: each failed attempt it retries (recoverable) and each request it gives up on
(unrecoverable; past ``max_unrecoverable_errors`` of one kind it closes the session). Only the
last shows in OpenRTC otherwise, as a session ended ``failed``; a provider that fails now and
then, or a turn left without a reply, left no trace but livekit's log. Each error becomes one
``provider_error`` event: per agent and component in the exporters, with the provider and the
message in the JSONL record.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from openrtc import events

ERROR_TEXT_LIMIT = 200


def component_of(error: Any) -> str:
    """``llm``, ``stt``, ``tts`` or ``realtime`` from livekit's error type (``llm_error``...)."""
    kind = str(getattr(error, "type", "") or "")
    return kind.removesuffix("_error").removesuffix("_model") or type(error).__name__


def record_provider_errors(
    session: Any,
    *,
    job_id: str,
    room: str,
    agent: str,
    emit: Callable[[events.MetricsEvent], None],
    labels: Mapping[str, str],
) -> None:
    """Emit a ``ProviderError`` for every ``error`` event of ``session`` (an ``AgentSession``)."""

    def on_error(event: Any) -> None:
        error = event.error
        cause = getattr(error, "error", None)
        text = f"{type(cause).__name__}: {cause}" if cause is not None else str(error)
        emit(
            events.ProviderError(
                job_id=job_id,
                room=room,
                agent=agent,
                component=component_of(error),
                provider=str(getattr(error, "label", "") or type(event.source).__name__),
                recoverable=bool(getattr(error, "recoverable", False)),
                error=text[:ERROR_TEXT_LIMIT],
                labels=dict(labels),
            )
        )

    session.on("error", on_error)
