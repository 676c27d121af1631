"""Every error livekit reports on a session becomes one ``provider_error`` event. The session
is a real (unstarted) ``AgentSession`` and the errors livekit's own types; livekit emitting
them from a failing provider is tests/e2e/test_provider_faults.py's."""

from __future__ import annotations

from livekit.agents import AgentSession, APIConnectionError, llm, stt
from livekit.agents.voice.events import ErrorEvent

from openrtc import events
from openrtc.provider_errors import record_provider_errors


async def test_each_error_of_the_session_is_one_event_with_its_component() -> None:
    session: AgentSession = AgentSession()
    seen: list[events.MetricsEvent] = []
    record_provider_errors(
        session, job_id="AJ_1", room="r1", agent="dental", emit=seen.append, labels={"t": "a"}
    )
    dropped = APIConnectionError("the provider dropped the stream " + "x" * 300)
    retried = llm.LLMError(timestamp=1.0, label="FaultyLLM", error=dropped, recoverable=True)
    deaf = stt.STTError(timestamp=2.0, label="FaultySTT", error=TimeoutError(), recoverable=False)
    session.emit("error", ErrorEvent(error=retried, source=None))
    session.emit("error", ErrorEvent(error=deaf, source=None))

    first, second = seen
    assert isinstance(first, events.ProviderError) and isinstance(second, events.ProviderError)
    assert (first.component, first.provider, first.recoverable) == ("llm", "FaultyLLM", True)
    assert first.error.startswith("APIConnectionError: the provider dropped the stream")
    assert len(first.error) == 200
    assert (second.component, second.recoverable, second.error) == ("stt", False, "TimeoutError: ")
    assert first.labels == {"t": "a"} and first.as_record()["kind"] == "provider_error"
