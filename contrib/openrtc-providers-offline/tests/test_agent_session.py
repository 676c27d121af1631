"""A real livekit AgentSession, text only and without a room, driven by the offline LLM."""

from __future__ import annotations

import pytest
from livekit.agents import Agent, AgentSession, RunContext, RunResult, function_tool
from openrtc_providers_offline import OfflineLLM, Rule

GREETING = "Thanks for calling the dental clinic. How can I help?"
RULES = [
    Rule(
        pattern=r"book .*appointment(?: for (?P<day>\w+))?",
        tool="book_appointment",
        arguments={"day": r"\g<day>"},
    ),
    Rule(pattern=r"opening hours", reply="We are open nine to five."),
]


class Receptionist(Agent):
    def __init__(self) -> None:
        super().__init__(instructions="You are the receptionist of a dental clinic.")
        self.booked: list[str] = []

    async def on_enter(self) -> None:
        self.session.generate_reply(instructions="Greet the caller.")

    @function_tool
    async def book_appointment(self, context: RunContext[None], day: str) -> str:
        """Book a dental appointment.

        Args:
            day: The day of the week the caller wants.
        """
        self.booked.append(day)
        return f"appointment booked for {day} at 9 am"


def _offline_session() -> AgentSession[None]:
    return AgentSession(llm=OfflineLLM(rules=RULES, greeting=GREETING, tool_reply="{output}."))


@pytest.mark.asyncio
async def test_greets_then_answers_a_turn_by_calling_a_tool() -> None:
    agent = Receptionist()
    async with _offline_session() as session:
        greeting = await session.start(agent, capture_run=True)
        greeting.expect.next_event().is_agent_handoff(new_agent_type=Receptionist)
        hello = greeting.expect.next_event().is_message(role="assistant")
        assert hello.event().item.text_content == GREETING

        result: RunResult[None] = await session.run(
            user_input="I'd like to book an appointment for Tuesday"
        )

        result.expect.next_event().is_function_call(
            name="book_appointment", arguments={"day": "Tuesday"}
        )
        output = result.expect.next_event().is_function_call_output()
        assert output.event().item.output == "appointment booked for Tuesday at 9 am"
        answer = result.expect.next_event().is_message(role="assistant")
        assert answer.event().item.text_content == "appointment booked for Tuesday at 9 am."
        result.expect.no_more_events()
    assert agent.booked == ["Tuesday"]


@pytest.mark.asyncio
async def test_rule_reply_and_echo_turns() -> None:
    async with _offline_session() as session:
        await session.start(Receptionist())

        hours: RunResult[None] = await session.run(user_input="What are your opening hours?")
        reply = hours.expect.next_event().is_message(role="assistant")
        assert reply.event().item.text_content == "We are open nine to five."

        echo: RunResult[None] = await session.run(user_input="Do you take new patients?")
        reply = echo.expect.next_event().is_message(role="assistant")
        assert reply.event().item.text_content == "You said: Do you take new patients?"

    texts = [
        item.text_content
        for item in session.history.items
        if item.type == "message" and item.role == "user"
    ]
    assert texts == ["What are your opening hours?", "Do you take new patients?"]
