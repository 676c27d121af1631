"""Assembling ``AgentSession`` keyword arguments for one session, layer by layer.

Lowest first: plugin defaults (``openrtc_session_defaults``), pool defaults, the agent's
registration (``add()`` provider arguments or ``@agent_config``), ``session_kwargs``, direct
keyword arguments of ``add()``, then plugin overrides (``openrtc_session_overrides``, where tenant
overrides live). Nested plain dicts such as ``turn_handling`` merge key by key; any other value
replaces the lower one whole, so provider instances and ``provider/model`` strings pass through
unchanged.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

import attrs

from openrtc.config import AgentConfig
from openrtc.pool_settings import DEFAULT_GREETING, DEFAULT_LLM, DEFAULT_STT, DEFAULT_TTS
from openrtc.settings import describe


class SessionOptionsConflict(ValueError):
    """Two plugins set the same session option at the same layer."""


def _provider_repr(value: Any) -> str:
    return repr(value) if value is None or isinstance(value, str) else f"<{describe(value)}>"


@attrs.frozen
class PoolDefaults:
    """What an agent gets where its registration leaves a slot empty. Its ``repr`` shows
    provider objects by class: their own ``repr`` may carry an API key."""

    stt: Any = attrs.field(default=None, repr=_provider_repr)
    llm: Any = attrs.field(default=None, repr=_provider_repr)
    tts: Any = attrs.field(default=None, repr=_provider_repr)
    greeting: str | None = None
    session_kwargs: Mapping[str, Any] = attrs.field(factory=dict)

    @classmethod
    def from_settings(
        cls, settings: Mapping[str, Any], session_kwargs: Mapping[str, Any]
    ) -> PoolDefaults:
        """The resolved ``default_*`` settings, with the pool's ``default_session_kwargs``."""
        return cls(
            stt=settings[DEFAULT_STT.name],
            llm=settings[DEFAULT_LLM.name],
            tts=settings[DEFAULT_TTS.name],
            greeting=settings[DEFAULT_GREETING.name],
            session_kwargs=dict(session_kwargs),
        )


def deep_merge(lower: Mapping[str, Any], upper: Mapping[str, Any]) -> dict[str, Any]:
    """``upper`` over ``lower``; dict values merge recursively, anything else replaces."""
    merged = dict(lower)
    for key, value in upper.items():
        below = merged.get(key)
        if isinstance(value, dict) and isinstance(below, dict):
            merged[key] = deep_merge(below, value)
        else:
            merged[key] = value
    return merged


def _providers(stt: Any, llm: Any, tts: Any) -> dict[str, Any]:
    return {k: v for k, v in (("stt", stt), ("llm", llm), ("tts", tts)) if v is not None}


def combine_plugin_layer(
    contributions: Iterable[tuple[str, Mapping[str, Any] | None]], hook: str
) -> dict[str, Any]:
    """Merge what several plugins returned for one layer; the same key twice is an error."""
    layer: dict[str, Any] = {}
    owner: dict[str, str] = {}
    for plugin, values in contributions:
        for key, value in (values or {}).items():
            if key in owner:
                raise SessionOptionsConflict(
                    f"session option '{key}' is set by both plugin '{owner[key]}' and plugin "
                    f"'{plugin}' in {hook}; block one of them"
                )
            owner[key] = plugin
            layer[key] = value
    return layer


def assemble(
    *,
    plugin_defaults: Mapping[str, Any],
    pool: PoolDefaults,
    agent: AgentConfig,
    overrides: Mapping[str, Any],
) -> dict[str, Any]:
    """Every layer merged, lowest first; the result goes to ``AgentSession(**result)``."""
    layers: list[Mapping[str, Any]] = [
        plugin_defaults,
        {**pool.session_kwargs, **_providers(pool.stt, pool.llm, pool.tts)},
        _providers(agent.stt, agent.llm, agent.tts),
        agent.session_kwargs,
        agent.session_options,
        overrides,
    ]
    result: dict[str, Any] = {}
    for layer in layers:
        result = deep_merge(result, layer)
    return result


def greeting_for(pool: PoolDefaults, agent: AgentConfig) -> str | None:
    return agent.greeting if agent.greeting is not None else pool.greeting
