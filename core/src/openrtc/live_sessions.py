"""The worker's live sessions, and moving them to reloaded agent code at a turn boundary.

A session moves when it is next listening and the caller is not speaking: never in the middle
of the agent's reply or the caller's sentence. It continues with a fresh instance of the new
class that is handed the old instance's chat history; the room, the agent participant and its
audio track stay as they are, and the new instance's ``on_enter`` is skipped (the caller was
greeted already). Only livekit's public session API is used (``update_agent``,
``current_agent``, ``agent_state``, ``user_state``, ``Agent.update_chat_ctx``).

An agent opts out with ``openrtc_pinned = True`` (on the class, or on an instance while it
runs): its live sessions keep the code they started with; new calls still get the new code.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any

import attrs

logger = logging.getLogger("openrtc.reload")

PIN_ATTRIBUTE = "openrtc_pinned"
OUTCOMES = {
    True: ("moved to the reloaded code", "could not move to the reloaded code"),
    False: ("started over on a fresh agent", "could not start over on a fresh agent"),
}
"""What a move did or failed to do: for hot reload, or to start an agent over."""


@attrs.define(eq=False)
class LiveSession:
    job_id: str
    agent: str
    """The registered agent name the session was routed to."""
    session: Any
    """The running ``AgentSession``."""
    move: asyncio.Task[None] | None = None
    """The move waiting for this session's next turn boundary, if any."""


def _at_turn_boundary(session: Any) -> bool:
    return bool(session.agent_state == "listening" and session.user_state != "speaking")


def _same_class(agent: object, cls: type) -> bool:
    # the class a session runs may be an older reload of the same class: compare by name
    kind = type(agent)
    return kind.__module__ == cls.__module__ and kind.__qualname__ == cls.__qualname__


class LiveSessions:
    """Sessions running in this worker, by job; the one place that moves them to new code."""

    def __init__(self) -> None:
        self._by_job: dict[str, LiveSession] = {}
        self.moved = 0
        """Sessions moved to new code since the worker started."""

    def track(self, job_id: str, agent: str, session: Any) -> None:
        self._by_job[job_id] = LiveSession(job_id, agent, session)

    def forget(self, job_id: str) -> None:
        live = self._by_job.pop(job_id, None)
        if live is not None and live.move is not None:
            live.move.cancel()

    def states(self) -> dict[str, str]:
        """Each session's agent state by job (livekit's ``initializing``, ``listening``,
        ``thinking``, ``speaking``...), read when asked: nothing is tracked per change."""
        return {job: str(live.session.agent_state) for job, live in self._by_job.items()}

    def of_agents(self, names: tuple[str, ...]) -> list[LiveSession]:
        return [live for live in self._by_job.values() if live.agent in names]

    def move_to(self, agent: str, old_cls: type, new_cls: type) -> tuple[int, int]:
        """Move every live session of ``agent`` still running ``old_cls`` to ``new_cls`` at
        its next turn boundary. Returns (sessions that will move, sessions that keep theirs:
        pinned, or handed off to another agent class)."""
        moving = kept = 0
        for live in self.of_agents((agent,)):
            current = live.session.current_agent
            if not _same_class(current, old_cls) or getattr(current, PIN_ATTRIBUTE, False):
                kept += 1
                continue
            if live.move is not None:
                live.move.cancel()  # a later save supersedes one still waiting
            live.move = asyncio.get_running_loop().create_task(
                self._move(live, new_cls), name=f"openrtc-reload-move-{live.job_id}"
            )
            moving += 1
        return moving, kept

    def restart(self, job_id: str) -> bool:
        """Start the job's agent over on a fresh instance of its own class, with the call's
        history, at its next turn boundary: livekit closes the old agent's STT stream, TTS
        and turn detector with its activity and opens new ones (``unheard_callers``). False
        when the job has no live session here."""
        live = self._by_job.get(job_id)
        if live is None:
            return False
        if live.move is not None:
            live.move.cancel()
        fresh = with_own_stt_stream(type(live.session.current_agent))
        live.move = asyncio.get_running_loop().create_task(
            self._move(live, fresh, reloaded=False), name=f"openrtc-restart-{job_id}"
        )
        return True

    async def _move(self, live: LiveSession, new_cls: type, *, reloaded: bool = True) -> None:
        session = live.session
        changed = asyncio.Event()

        def on_change(_: Any) -> None:
            changed.set()

        session.on("agent_state_changed", on_change)
        session.on("user_state_changed", on_change)
        try:
            while not _at_turn_boundary(session):
                changed.clear()
                await changed.wait()
            old = session.current_agent
            new = new_cls()
            await new.update_chat_ctx(old.chat_ctx)
            new.on_enter = _already_greeted  # the caller was greeted by the old instance
            session.update_agent(new)
            if reloaded:
                self.moved += 1
            logger.debug("job %s (%s) %s", live.job_id, live.agent, OUTCOMES[reloaded][0])
        except asyncio.CancelledError:
            raise
        except Exception:  # the user's constructor: the session keeps the agent it has
            logger.exception(
                "job %s (%s) %s; it keeps the agent it has",
                live.job_id,
                live.agent,
                OUTCOMES[reloaded][1],
            )
        finally:
            session.off("agent_state_changed", on_change)
            session.off("user_state_changed", on_change)
            if live.move is asyncio.current_task():
                live.move = None


def with_own_stt_stream(cls: type) -> type:
    """``cls`` with an ``stt_node`` of its own that does what ``cls``'s does.

    When a session moves to a new agent that uses the same STT with livekit's default
    ``stt_node``, livekit hands it the old agent's STT stream, stuck one included; a node of
    the agent's own makes it open a new one (public API: agents may override ``stt_node``).
    The name stays the class's, so hot reload still knows it."""

    inherited = cls.stt_node  # type: ignore[attr-defined]  # an Agent subclass

    def stt_node(self: Any, audio: Any, model_settings: Any) -> Any:
        return inherited(self, audio, model_settings)

    namespace = {
        "stt_node": stt_node,
        "__module__": cls.__module__,
        "__qualname__": cls.__qualname__,
    }
    return type(cls.__name__, (cls,), namespace)


async def _already_greeted() -> None:
    return None
