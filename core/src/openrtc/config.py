"""Agent registration records and the ``@agent_config`` decorator."""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from pathlib import Path
from types import MappingProxyType
from typing import TYPE_CHECKING, Any, TypeAlias, TypeVar

import attrs

if TYPE_CHECKING:
    from livekit.agents import llm, stt, tts

ProviderValue: TypeAlias = "str | stt.STT[Any] | llm.LLM[Any] | llm.RealtimeModel | tts.TTS[Any]"
"""An STT, LLM or TTS slot value: a ``provider/model`` string that livekit-agents interprets,
or a provider plugin instance. OpenRTC passes either through unchanged."""

_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$")
_CONFIG_ATTR = "__openrtc_agent_config__"

AgentT = TypeVar("AgentT", bound=type)


class AgentConfigError(ValueError):
    """An agent registration is invalid; the message names the agent and the fix."""


def check_agent_name(name: object, *, where: str = "agent name") -> str:
    """Return ``name`` if it can name an agent, else raise ``AgentConfigError``."""
    if not isinstance(name, str):
        raise AgentConfigError(f"{where} must be a string, got {type(name).__name__}")
    if not name.strip():
        raise AgentConfigError(f"{where} is empty; give the agent a name such as 'dental'")
    if not _NAME.match(name):
        raise AgentConfigError(
            f"{where} {name!r} is invalid; use 1-64 letters, digits, '-', '_' or '.', "
            "starting with a letter or digit"
        )
    return name


def _frozen_mapping(value: Mapping[str, Any] | None) -> Mapping[str, Any]:
    return MappingProxyType(dict(value or {}))


@attrs.frozen
class AgentConfig:
    """One registered agent: its class and the session settings it was registered with."""

    name: str
    agent_cls: type
    stt: Any = None
    llm: Any = None
    tts: Any = None
    greeting: str | None = None
    session_kwargs: Mapping[str, Any] = attrs.field(factory=dict, converter=_frozen_mapping)
    """``AgentSession`` keyword arguments given as one mapping."""
    session_options: Mapping[str, Any] = attrs.field(factory=dict, converter=_frozen_mapping)
    """``AgentSession`` keyword arguments given directly to ``add()``; they win over
    ``session_kwargs``."""
    source_path: Path | None = None
    """The module file, when the agent came from ``discover()``; for tooling, not routing."""


@attrs.frozen
class AgentDiscoveryConfig:
    """What ``@agent_config`` attaches to a class for ``AgentPool.discover()``."""

    name: str | None = None
    stt: Any = None
    llm: Any = None
    tts: Any = None
    greeting: str | None = None
    session_kwargs: Mapping[str, Any] = attrs.field(factory=dict, converter=_frozen_mapping)


def agent_config(
    *,
    name: str | None = None,
    stt: ProviderValue | None = None,
    llm: ProviderValue | None = None,
    tts: ProviderValue | None = None,
    greeting: str | None = None,
    session_kwargs: Mapping[str, Any] | None = None,
) -> Callable[[AgentT], AgentT]:
    """Mark an ``Agent`` subclass for ``discover()``, optionally naming it and its providers.

    Without a ``name`` the module's file name (without ``.py``) names the agent.
    """
    if name is not None:
        check_agent_name(name, where="@agent_config name")
    config = AgentDiscoveryConfig(
        name=name, stt=stt, llm=llm, tts=tts, greeting=greeting, session_kwargs=session_kwargs
    )

    def decorate(cls: AgentT) -> AgentT:
        setattr(cls, _CONFIG_ATTR, config)
        return cls

    return decorate


def discovery_config_of(cls: type) -> AgentDiscoveryConfig | None:
    """The ``@agent_config`` of ``cls`` itself (not inherited from a base class)."""
    value = cls.__dict__.get(_CONFIG_ATTR)
    return value if isinstance(value, AgentDiscoveryConfig) else None


class ConfigurationError(ValueError):
    """The worker cannot start with this configuration; the message says what to set."""
