"""When the caller's transcript never comes, the agent is started over, once per silence.
The session is livekit's event emitter with livekit's own event types; the real STT that never
answers is tests/e2e/test_provider_faults.py's."""

from __future__ import annotations

import asyncio
from types import SimpleNamespace

from livekit import rtc
from livekit.agents.voice.events import (
    AgentStateChangedEvent,
    UserInputTranscribedEvent,
    UserStateChangedEvent,
)

from openrtc import events
from openrtc.unheard_callers import restart_deaf_stt

TIMEOUT_S = 0.05


class Session(rtc.EventEmitter[str]):
    current_agent = SimpleNamespace(stt=None)
    stt = SimpleNamespace(label="ScriptedSTT")


def watched() -> tuple[Session, list[events.MetricsEvent], list[str]]:
    session = Session()
    seen: list[events.MetricsEvent] = []
    restarts: list[str] = []

    def restart() -> bool:
        restarts.append("restart")
        return True

    restart_deaf_stt(
        session,
        TIMEOUT_S,
        job_id="AJ_1",
        room="r1",
        agent="dental",
        emit=seen.append,
        labels={},
        restart=restart,
    )
    return session, seen, restarts


def caller_stops(session: Session) -> None:
    session.emit(
        "user_state_changed", UserStateChangedEvent(old_state="speaking", new_state="listening")
    )


async def test_a_silence_without_transcript_starts_the_agent_over_once() -> None:
    session, seen, restarts = watched()
    caller_stops(session)
    await asyncio.sleep(TIMEOUT_S * 4)
    assert restarts == ["restart"]
    [error] = seen
    assert isinstance(error, events.ProviderError)
    assert (error.component, error.provider, error.recoverable) == ("stt", "ScriptedSTT", True)


async def test_a_transcript_or_a_reply_in_time_changes_nothing() -> None:
    session, seen, restarts = watched()
    caller_stops(session)
    session.emit(
        "user_input_transcribed", UserInputTranscribedEvent(transcript="hi", is_final=True)
    )
    caller_stops(session)
    session.emit(
        "agent_state_changed", AgentStateChangedEvent(old_state="listening", new_state="thinking")
    )
    caller_stops(session)
    session.emit(
        "user_state_changed", UserStateChangedEvent(old_state="listening", new_state="speaking")
    )
    await asyncio.sleep(TIMEOUT_S * 4)
    assert (seen, restarts) == ([], [])
