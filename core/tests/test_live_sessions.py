"""Moving live sessions to reloaded code, on real ``AgentSession``s (text only, no room)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import pytest
from livekit.agents import Agent, AgentSession
from openrtc_providers_offline import offline_providers

from openrtc.live_sessions import LiveSessions


class Dental(Agent):
    def __init__(self) -> None:
        super().__init__(instructions="one")

    async def on_enter(self) -> None:
        self.session.say("hello from the first version")


class DentalReloaded(Agent):
    def __init__(self) -> None:
        super().__init__(instructions="two")

    async def on_enter(self) -> None:
        self.session.say("hello from the second version")


class Pinned(Agent):
    openrtc_pinned = True

    def __init__(self) -> None:
        super().__init__(instructions="pinned")


@pytest.fixture
async def session() -> AsyncIterator[AgentSession]:
    _, llm, _ = offline_providers()
    made: AgentSession = AgentSession(llm=llm)
    yield made
    await made.aclose()


async def moved(session: AgentSession, cls: type) -> Agent:
    for _ in range(100):
        if type(session.current_agent) is cls:
            return session.current_agent
        await asyncio.sleep(0.05)
    raise AssertionError(f"still {type(session.current_agent).__name__}")


def said(session: AgentSession) -> list[str]:
    return [
        item.text_content or ""
        for item in session.history.items
        if getattr(item, "role", None) == "assistant"
    ]


async def test_a_listening_session_moves_with_its_history_and_is_not_greeted_again(
    session: AgentSession,
) -> None:
    await session.start(Dental())
    await asyncio.sleep(0.2)
    live = LiveSessions()
    live.track("job-1", "dental", session)
    assert live.move_to("dental", Dental, DentalReloaded) == (1, 0)
    new = await moved(session, DentalReloaded)
    assert live.moved == 1
    assert said(session) == ["hello from the first version"]
    history = [getattr(item, "text_content", None) for item in new.chat_ctx.items]
    assert "hello from the first version" in history


async def test_a_later_save_supersedes_a_move_still_waiting(session: AgentSession) -> None:
    class DentalThird(Agent):
        def __init__(self) -> None:
            super().__init__(instructions="three")

    await session.start(Dental())
    await asyncio.sleep(0.2)
    live = LiveSessions()
    live.track("job-1", "dental", session)
    assert live.move_to("dental", Dental, DentalReloaded) == (1, 0)
    assert live.move_to("dental", Dental, DentalThird) == (1, 0)  # saved again at once
    await moved(session, DentalThird)
    await asyncio.sleep(0.2)
    assert live.moved == 1 and type(session.current_agent) is DentalThird


async def test_a_session_handed_off_to_another_agent_keeps_it(session: AgentSession) -> None:
    await session.start(Dental())
    await asyncio.sleep(0.2)
    live = LiveSessions()
    live.track("job-1", "dental", session)
    session.update_agent(Agent(instructions="front desk"))  # a tool handed the call over
    await moved(session, Agent)
    assert live.move_to("dental", Dental, DentalReloaded) == (0, 1)


async def test_a_pinned_agent_keeps_its_code(session: AgentSession) -> None:
    await session.start(Pinned())
    await asyncio.sleep(0.2)
    live = LiveSessions()
    live.track("job-1", "pinned", session)
    assert live.move_to("pinned", Pinned, DentalReloaded) == (0, 1)
    await asyncio.sleep(0.3)
    assert type(session.current_agent) is Pinned


async def test_a_forgotten_session_is_not_moved(session: AgentSession) -> None:
    await session.start(Dental())
    live = LiveSessions()
    live.track("job-1", "dental", session)
    live.forget("job-1")
    assert live.move_to("dental", Dental, DentalReloaded) == (0, 0)
