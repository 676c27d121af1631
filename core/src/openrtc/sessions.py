"""Turning a routing decision into a live session: plan it, start it, greet.

The worker's entrypoint and ``openrtc console`` both come here, so a session is built the same
way wherever it runs: prewarmed userdata, every option layer and hook (``session.assemble``),
``AgentSession(**options)``, ``start(agent=...)``, then a reply to the greeting.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import attrs

from openrtc.config import AgentConfig
from openrtc.session import PoolDefaults, assemble, combine_plugin_layer, greeting_for
from openrtc.strategies import SessionSpec

if TYPE_CHECKING:
    from openrtc.plugins import PluginHost


ROOM_IO_LAYERS = (
    ("audio_input", "openrtc_audio_input", "AudioInputOptions"),
    ("audio_output", "openrtc_audio_output", "AudioOutputOptions"),
    ("text_output", "openrtc_text_output", "TextOutputOptions"),
)
"""The room I/O options: the plan's field, the hook that fills it, livekit's ``room_io``
options class it becomes (one hook per class, named after the field)."""


@attrs.frozen
class SessionPlan:
    """What one session of an agent is built from: ``AgentSession(**session_kwargs)``, then
    ``start(agent=agent.agent_cls())``, then a reply to ``greeting`` if there is one."""

    agent: AgentConfig
    session_kwargs: dict[str, Any]
    greeting: str | None
    audio_input: dict[str, Any] = attrs.field(factory=dict)
    """``AudioInputOptions`` keyword arguments from ``openrtc_audio_input``; empty: livekit's."""
    audio_output: dict[str, Any] = attrs.field(factory=dict)
    """``AudioOutputOptions`` keyword arguments from ``openrtc_audio_output``; empty: livekit's."""
    text_output: dict[str, Any] = attrs.field(factory=dict)
    """``TextOutputOptions`` keyword arguments from ``openrtc_text_output``; empty: livekit's."""

    def with_options(self, session_kwargs: dict[str, Any]) -> SessionPlan:
        return attrs.evolve(self, session_kwargs=session_kwargs)


def plan_session(
    host: PluginHost, defaults: PoolDefaults, config: AgentConfig, spec: SessionSpec
) -> SessionPlan:
    """Assemble the options of one session of ``config``, plugin hooks included."""
    plugin_defaults = combine_plugin_layer(
        host.call_each("openrtc_session_defaults", session=spec), "openrtc_session_defaults"
    )
    overrides = combine_plugin_layer(
        host.call_each("openrtc_session_overrides", session=spec), "openrtc_session_overrides"
    )
    options = assemble(
        plugin_defaults=plugin_defaults, pool=defaults, agent=config, overrides=overrides
    )
    room_io_layers = {
        field: combine_plugin_layer(host.call_each(hook, session=spec), hook)
        for field, hook, _ in ROOM_IO_LAYERS
    }
    return SessionPlan(
        agent=config,
        session_kwargs=options,
        greeting=greeting_for(defaults, config),
        **room_io_layers,
    )


def build_session(plan: SessionPlan) -> Any:
    """The ``AgentSession`` of ``plan``, not started: attach handlers and I/O, then start it."""
    from livekit.agents import AgentSession

    return AgentSession(**plan.session_kwargs)


def room_options(plan: SessionPlan) -> Any:
    """livekit's ``room_io.RoomOptions`` from the plan's room I/O layers; ``None`` when no
    plugin contributed any, so livekit's own defaults apply."""
    layers = [(field, getattr(plan, field), cls) for field, _, cls in ROOM_IO_LAYERS]
    if not any(kwargs for _, kwargs, _ in layers):
        return None
    from livekit.agents.voice import room_io

    return room_io.RoomOptions(
        **{field: getattr(room_io, cls)(**kwargs) for field, kwargs, cls in layers if kwargs}
    )


async def start_session(
    session: Any,
    plan: SessionPlan,
    *,
    room: Any = None,
    capture_run: bool = False,
    await_greeting: bool = False,
) -> None:
    """Start ``session`` with a fresh instance of the plan's agent (in ``room`` if given),
    then greet. ``capture_run`` returns once the agent's ``on_enter`` has finished;
    ``await_greeting`` waits for the greeting's reply too (the console prints it in order)."""
    start: dict[str, Any] = {"agent": plan.agent.agent_cls(), "capture_run": capture_run}
    if room is not None:
        start["room"] = room
        options = room_options(plan)
        if options is not None:
            start["room_options"] = options
    await session.start(**start)
    if plan.greeting:
        reply = session.generate_reply(instructions=plan.greeting)
        if await_greeting:
            await reply
