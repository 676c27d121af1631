"""The serving worker's side of hot reload: watch the files, reload, move live calls, say so.

``watchfiles`` is imported only when watching starts: ``openrtc --help`` never loads it. The
mechanism itself (running modules again, the all-or-nothing swap, the registry update) is
``openrtc.reload``'s.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, MutableMapping
from pathlib import Path

from openrtc.blueprint_modules import ModuleSource
from openrtc.config import AgentConfig
from openrtc.events import AgentReloaded
from openrtc.live_sessions import LiveSessions
from openrtc.reload import ReloadOutcome, reload_saved
from openrtc.reload_graph import files_of, project_graph, watched_directories

logger = logging.getLogger("openrtc.reload")

DEBOUNCE_MS = 200
"""Editors save in bursts (write, rename, chmod): changes this close together are one save."""


async def watch_agents(
    agents: MutableMapping[str, AgentConfig],
    agent_base: type,
    on_reload: Callable[[ReloadOutcome], None],
    *,
    debounce_ms: int = DEBOUNCE_MS,
    ready: Callable[[], None] | None = None,
) -> None:
    """Reload agent files as they change, until cancelled.

    ``on_reload`` gets every outcome, applied or not. ``ready`` is called once the watcher
    is in place (a change saved before it would be missed)."""
    from watchfiles import awatch

    while True:
        graph = project_graph(agents)
        directories = watched_directories(graph)
        if not directories:
            logger.info("hot reload: no agent source file to watch")
            return
        # the first empty batch (after rust_timeout) says the watcher is in place
        watcher = awatch(
            *directories,
            debounce=debounce_ms,
            recursive=False,
            rust_timeout=500,
            yield_on_timeout=True,
        )
        async for changes in watcher:
            if ready is not None:
                ready()
                ready = None
            if not changes:
                continue  # the watcher's periodic empty batch: nothing to read again
            changed = {Path(p) for _, p in changes}  # absolute: the watched directories are
            for path in sorted(changed & set(files_of(graph))):
                try:
                    outcome = reload_saved(path, agents, agent_base)
                    if outcome is not None:
                        on_reload(outcome)
                except Exception:  # one save must not stop the watching of the next ones
                    logger.exception("hot reload of %s failed; watching on", path)
            graph = project_graph(agents)
            if watched_directories(graph) != directories:
                break  # a save imported a module from another directory: watch it too


class HotReload:
    """The serving worker's watcher: reloads agent files, moves live sessions to the new code,
    logs and reports each outcome."""

    def __init__(
        self,
        agents: MutableMapping[str, AgentConfig],
        *,
        emit: Callable[[AgentReloaded], None],
        live: LiveSessions,
        code_changed: Callable[[tuple[ModuleSource, ...]], bool],
    ) -> None:
        self.agents = agents
        self.emit = emit
        self.live = live
        self.code_changed = code_changed
        """Tells the worker server (``WorkerServer.code_changed``); False: new sessions run
        elsewhere and cannot get the new code."""
        self.watching = asyncio.Event()
        """Set once the watcher is in place: a save before it is not seen."""

    @staticmethod
    def wanted(setting: str, *, devmode: bool) -> bool:
        """Whether the ``reload`` setting asks this worker to watch."""
        return setting == "on" or (setting == "auto" and devmode)

    async def run(self) -> None:
        """Watch until cancelled (the worker cancels it when it stops)."""
        from livekit.agents import Agent

        logger.info(
            "hot reload: watching %s",
            ", ".join(_shown(path) for path in files_of(project_graph(self.agents))) or "nothing",
        )
        await watch_agents(self.agents, Agent, self.report, ready=self.watching.set)

    def report(self, outcome: ReloadOutcome) -> None:
        """Move the live sessions the reload concerns, then log and emit the outcome."""
        moving = kept = 0
        for agent, old_cls, new_cls in outcome.replaced:
            agent_moving, agent_kept = self.live.move_to(agent, old_cls, new_cls)
            moving, kept = moving + agent_moving, kept + agent_kept
        if outcome.applied and not self.code_changed(outcome.sources):
            logger.warning(
                "reload: this worker's sessions cannot take new code; restart it to run %s",
                _shown(outcome.path),
            )
        if outcome.applied:
            logger.info(
                "reloaded %s from %s: %s%s (%.0f ms)",
                ", ".join(outcome.agents),
                _shown(outcome.path),
                _sessions_line(moving, kept),
                _registry_line(outcome),
                outcome.duration_s * 1000,
            )
        else:
            kept = len(self.live.of_agents(outcome.agents))
            logger.error("reload failed, the running code is unchanged: %s", outcome.error)
        self.emit(
            AgentReloaded(
                file=str(outcome.path),
                agents=outcome.agents,
                outcome="applied" if outcome.applied else "failed",
                error=outcome.error,
                added=outcome.added,
                removed=outcome.removed,
                sessions_moving=moving,
                sessions_kept=kept,
                duration_s=round(outcome.duration_s, 4),
            )
        )


def _registry_line(outcome: ReloadOutcome) -> str:
    line = ""
    if outcome.added:
        line += f"; registered {', '.join(outcome.added)}"
    if outcome.removed:
        line += f"; unregistered {', '.join(outcome.removed)} (its live calls go on)"
    return line


def _sessions_line(moving: int, kept: int) -> str:
    def count(n: int) -> str:
        return f"{n} live session{'' if n == 1 else 's'}"

    line = f"{count(moving)} move{'s' if moving == 1 else ''} on their next turn"
    if moving == 1:
        line = f"{count(moving)} moves on its next turn"
    if kept:
        line += f", {count(kept)} keep{'s' if kept == 1 else ''} the code they started with"
    return line


def _shown(path: Path) -> str:
    try:
        return str(path.relative_to(Path.cwd()))
    except ValueError:
        return str(path)
