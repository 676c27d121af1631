from __future__ import annotations

import json

import pytest
from livekit.agents import function_tool, llm
from openrtc_providers_offline import OfflineLLM, Rule

BOOKING_RULE = Rule(
    pattern=r"book .*appointment(?: for (?P<day>\w+))?",
    tool="book_appointment",
    arguments={"day": r"\g<day>"},
    reply="I can't book right now, sorry.",
)
HOURS_RULE = Rule(pattern=r"opening hours", reply="We are open nine to five.")


@function_tool
async def book_appointment(day: str) -> str:
    """Book an appointment on the given day."""
    return f"booked for {day}"


def _user(text: str) -> llm.ChatContext:
    ctx = llm.ChatContext()
    ctx.add_message(role="system", content="You are a dental receptionist.")
    ctx.add_message(role="user", content=text)
    return ctx


async def _chunks(stream: llm.LLMStream) -> list[llm.ChatChunk]:
    async with stream:
        return [chunk async for chunk in stream]


def _text(chunks: list[llm.ChatChunk]) -> str:
    return "".join(c.delta.content or "" for c in chunks if c.delta)


@pytest.mark.asyncio
async def test_rule_reply_is_streamed_word_by_word() -> None:
    model = OfflineLLM(rules=[HOURS_RULE])

    chunks = await _chunks(model.chat(chat_ctx=_user("What are your OPENING hours?")))

    content = [c for c in chunks if c.delta and c.delta.content]
    assert len(content) == len(["We", "are", "open", "nine", "to", "five."])
    assert _text(chunks) == "We are open nine to five."
    usage = [c.usage for c in chunks if c.usage is not None]
    assert usage and usage[-1].completion_tokens == len(content)


@pytest.mark.asyncio
async def test_unmatched_input_is_echoed() -> None:
    model = OfflineLLM(rules=[HOURS_RULE])

    reply = await model.chat(chat_ctx=_user("do you take  new\npatients")).collect()

    assert reply.text == "You said: do you take new patients"
    assert reply.tool_calls == []


@pytest.mark.asyncio
async def test_first_matching_rule_wins_and_can_use_groups() -> None:
    rules = [
        Rule(pattern=r"my name is (?P<name>\w+)", reply=r"Nice to meet you, \g<name>."),
        Rule(pattern=r"name", reply="unreachable"),
    ]

    reply = await OfflineLLM(rules=rules).chat(chat_ctx=_user("Hi, my name is Ada")).collect()

    assert reply.text == "Nice to meet you, Ada."


@pytest.mark.asyncio
async def test_rule_calls_an_offered_tool() -> None:
    model = OfflineLLM(rules=[BOOKING_RULE])

    chunks = await _chunks(
        model.chat(
            chat_ctx=_user("I want to book an appointment for tuesday"),
            tools=[book_appointment],
        )
    )

    calls = [call for c in chunks if c.delta for call in c.delta.tool_calls]
    assert len(calls) == 1
    assert calls[0].name == "book_appointment"
    assert json.loads(calls[0].arguments) == {"day": "tuesday"}
    assert calls[0].call_id
    assert _text(chunks) == ""


@pytest.mark.asyncio
async def test_rule_answers_in_text_when_its_tool_is_not_offered() -> None:
    model = OfflineLLM(rules=[BOOKING_RULE])
    ctx = _user("book an appointment for friday")

    without_tools = await model.chat(chat_ctx=ctx).collect()
    tools_disabled = await model.chat(
        chat_ctx=ctx, tools=[book_appointment], tool_choice="none"
    ).collect()

    for reply in (without_tools, tools_disabled):
        assert reply.tool_calls == []
        assert reply.text == "I can't book right now, sorry."


@pytest.mark.asyncio
async def test_reply_after_a_tool_output_includes_the_output() -> None:
    ctx = _user("book an appointment for tuesday")
    ctx.insert(
        llm.FunctionCall(call_id="call_1", name="book_appointment", arguments='{"day":"tuesday"}')
    )
    ctx.insert(
        llm.FunctionCallOutput(
            call_id="call_1", name="book_appointment", output="booked for tuesday", is_error=False
        )
    )
    model = OfflineLLM(rules=[BOOKING_RULE], tool_reply="All set: {output}.")

    reply = await model.chat(chat_ctx=ctx, tools=[book_appointment]).collect()

    assert reply.tool_calls == []
    assert reply.text == "All set: booked for tuesday."


@pytest.mark.asyncio
async def test_failed_tool_output_is_reported_as_a_failure() -> None:
    ctx = _user("book an appointment")
    ctx.insert(llm.FunctionCall(call_id="c", name="book_appointment", arguments="{}"))
    ctx.insert(
        llm.FunctionCallOutput(
            call_id="c", name="book_appointment", output="calendar offline", is_error=True
        )
    )

    reply = await OfflineLLM(rules=[BOOKING_RULE]).chat(chat_ctx=ctx).collect()

    assert "book_appointment" in reply.text and "calendar offline" in reply.text


@pytest.mark.asyncio
async def test_instructions_without_a_user_message_get_the_greeting() -> None:
    ctx = llm.ChatContext()
    ctx.add_message(role="system", content="You are a dental receptionist.")
    ctx.add_message(role="system", content="Greet the caller.")
    model = OfflineLLM(rules=[HOURS_RULE], greeting="Welcome to the dental clinic!")

    reply = await model.chat(chat_ctx=ctx).collect()

    assert reply.text == "Welcome to the dental clinic!"


@pytest.mark.asyncio
async def test_trailing_instructions_do_not_hide_the_user_message() -> None:
    ctx = _user("what are your opening hours")
    ctx.add_message(role="system", content="Answer briefly.")

    reply = await OfflineLLM(rules=[HOURS_RULE]).chat(chat_ctx=ctx).collect()

    assert reply.text == "We are open nine to five."


def test_rule_without_reply_or_tool_is_rejected() -> None:
    with pytest.raises(ValueError, match="needs a reply, a tool, or both"):
        Rule(pattern="hello")
