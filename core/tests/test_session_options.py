"""AgentSession keyword arguments, layer by layer (lowest first):
plugin defaults < pool defaults < registration < session_kwargs < direct kwargs < overrides."""

from __future__ import annotations

from typing import Any

import pytest
from livekit.agents import Agent

from openrtc import AgentPool
from openrtc.hookspecs import hookimpl
from openrtc.session import SessionOptionsConflict
from openrtc.strategies import SessionSpec


class Echo(Agent):
    pass


class Defaults:
    def __init__(self, values: dict[str, Any]) -> None:
        self.values = values

    @hookimpl
    def openrtc_session_defaults(self, session: SessionSpec) -> dict[str, Any]:
        return self.values


class Overrides(Defaults):
    @hookimpl
    def openrtc_session_overrides(self, session: SessionSpec) -> dict[str, Any]:
        return self.values


def kwargs_for(pool: AgentPool, agent: str) -> dict[str, Any]:
    # the pool's own settings, as the entrypoint passes them: plugins read theirs from here
    spec = SessionSpec(agent=agent, job_id="J", room_name="r", userdata={}, settings=pool.settings)
    return pool._runtime.handlers.plan(pool.get(agent), spec).session_kwargs


BLOCKED = ["openrtc-prewarm-livekit"]  # its VAD defaults are not what these tests look at


def test_plugin_defaults_are_the_lowest_layer() -> None:
    pool = AgentPool(
        disable_plugins=BLOCKED, plugins={"d": Defaults({"llm": "plugin/llm", "max_tool_steps": 9})}
    )
    pool.add("a", Echo)
    assert kwargs_for(pool, "a") == {"llm": "plugin/llm", "max_tool_steps": 9}


def test_pool_defaults_beat_plugin_defaults() -> None:
    pool = AgentPool(
        default_llm="pool/llm",
        default_session_kwargs={"max_tool_steps": 5},
        disable_plugins=BLOCKED,
        plugins={"d": Defaults({"llm": "plugin/llm", "max_tool_steps": 9})},
    )
    pool.add("a", Echo)
    assert kwargs_for(pool, "a") == {"llm": "pool/llm", "max_tool_steps": 5}


def test_registration_beats_pool_defaults() -> None:
    pool = AgentPool(default_llm="pool/llm", default_tts="pool/tts", disable_plugins=BLOCKED)
    pool.add("a", Echo, llm="agent/llm")
    assert kwargs_for(pool, "a") == {"llm": "agent/llm", "tts": "pool/tts"}


def test_session_kwargs_beat_registration() -> None:
    pool = AgentPool(disable_plugins=BLOCKED)
    pool.add("a", Echo, llm="agent/llm", session_kwargs={"llm": "kwargs/llm"})
    assert kwargs_for(pool, "a")["llm"] == "kwargs/llm"


def test_direct_kwargs_beat_session_kwargs() -> None:
    pool = AgentPool(disable_plugins=BLOCKED)
    pool.add("a", Echo, session_kwargs={"max_tool_steps": 2}, max_tool_steps=4)
    assert kwargs_for(pool, "a") == {"max_tool_steps": 4}


def test_overrides_beat_everything() -> None:
    pool = AgentPool(disable_plugins=BLOCKED, plugins={"o": Overrides({"max_tool_steps": 1})})
    pool.add("a", Echo, session_kwargs={"max_tool_steps": 2}, max_tool_steps=4)
    assert kwargs_for(pool, "a") == {"max_tool_steps": 1}


def test_nested_dicts_merge_key_by_key() -> None:
    defaults = {"turn_handling": {"turn_detection": "vad", "interruption": {"mode": "vad"}}}
    pool = AgentPool(disable_plugins=BLOCKED, plugins={"d": Defaults(defaults)})
    pool.add("a", Echo, session_kwargs={"turn_handling": {"interruption": {"mode": "adaptive"}}})
    assert kwargs_for(pool, "a")["turn_handling"] == {
        "turn_detection": "vad",
        "interruption": {"mode": "adaptive"},
    }


def test_provider_objects_pass_through_unchanged() -> None:
    provider = object()
    pool = AgentPool(default_stt=provider, disable_plugins=BLOCKED)  # type: ignore[arg-type]
    pool.add("a", Echo)
    assert kwargs_for(pool, "a")["stt"] is provider


def test_two_plugins_setting_the_same_default_is_an_error() -> None:
    pool = AgentPool(
        disable_plugins=BLOCKED, plugins={"one": Defaults({"vad": 1}), "two": Defaults({"vad": 2})}
    )
    pool.add("a", Echo)
    with pytest.raises(SessionOptionsConflict, match="'vad' is set by both plugin"):
        kwargs_for(pool, "a")


def test_prewarm_plugin_contributes_vad_and_turn_handling() -> None:
    pool = AgentPool()
    pool.add("a", Echo)
    spec = SessionSpec(agent="a", job_id="J", room_name="r", userdata={}, settings=pool.settings)
    kwargs = pool._runtime.handlers.plan(pool.get("a"), spec).session_kwargs
    assert "vad" in kwargs
    assert kwargs["turn_handling"]["interruption"] == {"mode": "vad"}
