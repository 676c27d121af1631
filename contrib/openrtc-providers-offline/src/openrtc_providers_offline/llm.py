"""A deterministic LLM: a regex rule table, tool calls, and an echo fallback."""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Any, Never

from livekit.agents import llm, utils
from livekit.agents.types import (
    DEFAULT_API_CONNECT_OPTIONS,
    NOT_GIVEN,
    APIConnectOptions,
    NotGivenOr,
)

from ._rules import (
    DEFAULT_ECHO,
    DEFAULT_GREETING,
    DEFAULT_TOOL_ERROR_REPLY,
    DEFAULT_TOOL_REPLY,
    ReplyPlan,
    ReplyStyle,
    Rule,
    plan_reply,
)


class OfflineLLM(llm.LLM[Never]):
    """Answers from ``rules`` (first match wins); otherwise echoes the user.

    ``greeting`` answers a turn that has no user message, such as
    ``generate_reply(instructions="Greet the caller")``. ``tool_reply`` answers right after a
    tool ran and may use ``{name}`` and ``{output}``; ``echo`` may use ``{text}``.
    """

    def __init__(
        self,
        *,
        rules: Sequence[Rule] = (),
        greeting: str = DEFAULT_GREETING,
        echo: str = DEFAULT_ECHO,
        tool_reply: str = DEFAULT_TOOL_REPLY,
        tool_error_reply: str = DEFAULT_TOOL_ERROR_REPLY,
    ) -> None:
        super().__init__()
        self._rules = tuple(rules)
        self._style = ReplyStyle(
            greeting=greeting, echo=echo, tool_reply=tool_reply, tool_error_reply=tool_error_reply
        )

    @property
    def model(self) -> str:
        return "rule-table"

    @property
    def provider(self) -> str:
        return "openrtc-offline"

    @property
    def rules(self) -> tuple[Rule, ...]:
        return self._rules

    def chat(
        self,
        *,
        chat_ctx: llm.ChatContext,
        tools: list[llm.Tool] | None = None,
        conn_options: APIConnectOptions = DEFAULT_API_CONNECT_OPTIONS,
        parallel_tool_calls: NotGivenOr[bool] = NOT_GIVEN,
        tool_choice: NotGivenOr[llm.ToolChoice] = NOT_GIVEN,
        extra_kwargs: NotGivenOr[dict[str, Any]] = NOT_GIVEN,
    ) -> OfflineLLMStream:
        offered = [] if tool_choice == "none" else list(tools or [])
        plan = plan_reply(
            chat_ctx,
            rules=self._rules,
            tool_names=frozenset(tool.id for tool in offered),
            style=self._style,
        )
        return OfflineLLMStream(
            self, chat_ctx=chat_ctx, tools=list(tools or []), conn_options=conn_options, plan=plan
        )


class OfflineLLMStream(llm.LLMStream):
    def __init__(
        self,
        offline_llm: OfflineLLM,
        *,
        chat_ctx: llm.ChatContext,
        tools: list[llm.Tool],
        conn_options: APIConnectOptions,
        plan: ReplyPlan,
    ) -> None:
        super().__init__(offline_llm, chat_ctx=chat_ctx, tools=tools, conn_options=conn_options)
        self._plan = plan

    async def _run(self) -> None:
        request_id = utils.shortuuid("offline_")
        completion_tokens = 0
        if self._plan.tool_call is not None:
            call = llm.FunctionToolCall(
                name=self._plan.tool_call.name,
                arguments=self._plan.tool_call.arguments,
                call_id=utils.shortuuid("call_"),
            )
            self._event_ch.send_nowait(
                llm.ChatChunk(
                    id=request_id, delta=llm.ChoiceDelta(role="assistant", tool_calls=[call])
                )
            )
            completion_tokens = 1
        # Word-sized pieces exercise the same incremental path a hosted model's stream does.
        for piece in re.findall(r"\S+\s*", self._plan.text):
            self._event_ch.send_nowait(
                llm.ChatChunk(id=request_id, delta=llm.ChoiceDelta(role="assistant", content=piece))
            )
            completion_tokens += 1
        prompt_tokens = sum(
            len((item.text_content or "").split())
            for item in self._chat_ctx.items
            if isinstance(item, llm.ChatMessage)
        )
        self._event_ch.send_nowait(
            llm.ChatChunk(
                id=request_id,
                usage=llm.CompletionUsage(
                    completion_tokens=completion_tokens,
                    prompt_tokens=prompt_tokens,
                    total_tokens=completion_tokens + prompt_tokens,
                ),
            )
        )
