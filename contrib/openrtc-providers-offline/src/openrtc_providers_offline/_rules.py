"""Decide what the offline LLM answers, as a pure function of the chat context."""

from __future__ import annotations

import json
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from livekit.agents import llm

DEFAULT_GREETING = "Hello! How can I help you today?"
DEFAULT_ECHO = "You said: {text}"
DEFAULT_TOOL_REPLY = "Done. {output}"
DEFAULT_TOOL_ERROR_REPLY = "Sorry, {name} did not work: {output}"


@dataclass(frozen=True)
class Rule:
    """When ``pattern`` matches the user's last message, reply with text or call a tool.

    ``pattern`` is searched case-insensitively. ``reply`` and the string values of
    ``arguments`` may use regex group references such as ``\\g<day>``. A rule with a tool
    answers with ``reply`` instead when that tool is not offered to the model.
    """

    pattern: str
    reply: str | None = None
    tool: str | None = None
    arguments: Mapping[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if self.reply is None and self.tool is None:
            raise ValueError(f"rule {self.pattern!r} needs a reply, a tool, or both")
        re.compile(self.pattern)

    def match(self, text: str) -> re.Match[str] | None:
        return re.search(self.pattern, text, flags=re.IGNORECASE)


@dataclass(frozen=True)
class ToolCallPlan:
    name: str
    arguments: str


@dataclass(frozen=True)
class ReplyPlan:
    text: str = ""
    tool_call: ToolCallPlan | None = None


@dataclass(frozen=True)
class ReplyStyle:
    greeting: str = DEFAULT_GREETING
    echo: str = DEFAULT_ECHO
    tool_reply: str = DEFAULT_TOOL_REPLY
    tool_error_reply: str = DEFAULT_TOOL_ERROR_REPLY


def plan_reply(
    chat_ctx: llm.ChatContext,
    *,
    rules: Sequence[Rule],
    tool_names: frozenset[str],
    style: ReplyStyle,
) -> ReplyPlan:
    """Answer the newest conversational item, ignoring system messages after it.

    A per-turn instruction (``generate_reply(instructions=...)``) arrives as a trailing
    system message, so skipping those finds what the turn is really about.
    """
    trailing_outputs: list[llm.FunctionCallOutput] = []
    for item in reversed(chat_ctx.items):
        if isinstance(item, llm.FunctionCallOutput):
            trailing_outputs.append(item)
            continue
        if trailing_outputs:
            break
        if isinstance(item, llm.ChatMessage):
            if item.role in ("system", "developer"):
                continue
            if item.role == "user":
                return _answer_user(item.text_content or "", rules, tool_names, style)
            break
        if isinstance(item, llm.FunctionCall):
            break
    if trailing_outputs:
        return ReplyPlan(text=_describe_outputs(list(reversed(trailing_outputs)), style))
    return ReplyPlan(text=style.greeting)


def _answer_user(
    text: str, rules: Sequence[Rule], tool_names: frozenset[str], style: ReplyStyle
) -> ReplyPlan:
    spoken = " ".join(text.split())
    for rule in rules:
        match = rule.match(spoken)
        if match is None:
            continue
        if rule.tool is not None and rule.tool in tool_names:
            args = {k: _expand(match, v) for k, v in rule.arguments.items()}
            return ReplyPlan(tool_call=ToolCallPlan(name=rule.tool, arguments=json.dumps(args)))
        if rule.reply is not None:
            return ReplyPlan(text=match.expand(rule.reply))
    return ReplyPlan(text=style.echo.format(text=spoken))


def _expand(match: re.Match[str], value: Any) -> Any:
    return match.expand(value) if isinstance(value, str) else value


def _describe_outputs(outputs: list[llm.FunctionCallOutput], style: ReplyStyle) -> str:
    parts = [
        (style.tool_error_reply if out.is_error else style.tool_reply).format(
            name=out.name, output=out.output
        )
        for out in outputs
    ]
    return " ".join(parts)
