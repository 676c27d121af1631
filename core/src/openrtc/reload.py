"""Reload the code of registered agents from disk while the worker keeps serving.

A changed agent module is executed again into a fresh module object. Only when it ran cleanly
and still defines every agent registered from it do the new classes replace the old ones in
the pool's registry (and the fresh module replaces the old one in ``sys.modules``); otherwise
nothing changes and the error names the file and line. New calls get the new classes at once;
live calls move to the new classes at their next turn boundary (``live_sessions``).

What a save reaches: the file of every registered agent class (``discover()`` modules and the
modules of classes given to ``add()``) and of the project modules they import
(``reload_graph``): a saved helper runs again with every module between it and the agents.
Watching, logging and reporting are ``hot_reload``'s.
"""

from __future__ import annotations

import importlib.util
import inspect
import logging
import sys
import time
import traceback
from collections.abc import Mapping, MutableMapping
from pathlib import Path
from types import ModuleType
from typing import Any

import attrs

from openrtc.blueprint_modules import (
    ModuleSource,
    module_sources,
    run_module_file,
    run_module_text,
)
from openrtc.config import AgentConfig, AgentConfigError, check_agent_name
from openrtc.discovery import agents_in_module
from openrtc.reload_graph import (
    ProjectModule,
    modules_to_rerun,
    project_graph,
)

logger = logging.getLogger("openrtc.reload")


@attrs.frozen
class ReloadOutcome:
    path: Path
    agents: tuple[str, ...]
    duration_s: float
    error: str | None = None
    """One line naming the file, the line and the error; ``None`` when the new code is in."""
    replaced: tuple[tuple[str, type, type], ...] = ()
    """(agent, old class, new class) for each agent the new code is in for."""
    added: tuple[str, ...] = ()
    """Agents a discovered module now defines that were not registered: registered."""
    removed: tuple[str, ...] = ()
    """Agents a discovered module no longer defines: unregistered (live calls go on)."""
    sources: tuple[ModuleSource, ...] = ()
    """The texts the reload ran, in order: what session hosts run to follow it."""

    @property
    def applied(self) -> bool:
        return self.error is None


def agent_source(config: AgentConfig) -> Path | None:
    """The file an agent's class was defined in, or ``None`` (a class built at run time)."""
    if config.source_path is not None:
        return config.source_path.resolve()
    try:
        found = inspect.getsourcefile(config.agent_cls)
    except TypeError:
        return None
    return Path(found).resolve() if found else None


def watched_files(agents: MutableMapping[str, AgentConfig]) -> dict[Path, tuple[str, ...]]:
    """Each agent source file and the agents registered from it."""
    files: dict[Path, list[str]] = {}
    for name, config in agents.items():
        path = agent_source(config)
        if path is not None:
            files.setdefault(path, []).append(name)
    return {path: tuple(names) for path, names in files.items()}


def _error_line(path: Path, exc: BaseException) -> str:
    if isinstance(exc, SyntaxError):
        return f"{exc.filename or path}:{exc.lineno}: SyntaxError: {exc.msg}"
    frames = [f for f in traceback.extract_tb(exc.__traceback__) if Path(f.filename) == path]
    where = f"{path}:{frames[-1].lineno}" if frames else str(path)
    return f"{where}: {type(exc).__name__}: {exc}"


def _fresh_module(name: str, path: Path) -> ModuleType:
    package = path.name == "__init__.py"
    spec = importlib.util.spec_from_file_location(
        name, path, submodule_search_locations=[str(path.parent)] if package else None
    )
    if spec is None or spec.loader is None:
        raise ImportError(f"{path} is not a Python module")
    return importlib.util.module_from_spec(spec)


class _ModuleSwap:
    """``sys.modules`` entries (and their parent packages' attributes) changed for one reload
    and put back unless committed: a reload that fails leaves no trace."""

    def __init__(self) -> None:
        self._saved: list[tuple[dict[str, Any], str, object]] = []

    def put(self, name: str, module: ModuleType) -> None:
        self._set(sys.modules, name, module)
        parent_name, _, leaf = name.rpartition(".")
        parent = sys.modules.get(parent_name) if parent_name else None
        if parent is not None:
            self._set(parent.__dict__, leaf, module)

    def _set(self, namespace: dict[str, Any], key: str, value: object) -> None:
        self._saved.append((namespace, key, namespace.get(key, _MISSING)))
        namespace[key] = value

    def undo(self) -> None:
        for namespace, key, value in reversed(self._saved):
            if value is _MISSING:
                namespace.pop(key, None)
            else:
                namespace[key] = value
        self._saved.clear()

    def commit(self) -> None:
        self._saved.clear()


_MISSING = object()


def run_fresh(
    modules: list[ProjectModule], texts: Mapping[str, str]
) -> tuple[dict[str, ModuleType], _ModuleSwap]:
    """Run ``modules`` again, in order, each seeing the fresh versions of those before it:
    from ``texts`` (by module name) when given, else from their files. The caller commits
    the swap or undoes it; on an error it is undone here and re-raised with the file that
    failed as ``exc.reload_path``."""
    swap = _ModuleSwap()
    fresh: dict[str, ModuleType] = {}
    for project_module in modules:
        try:
            module = _fresh_module(project_module.name, project_module.path)
            swap.put(project_module.name, module)
            text = texts.get(project_module.name)
            if text is None:
                run_module_file(module, project_module.path)
            else:
                run_module_text(module, text, project_module.path)
        except BaseException as exc:
            swap.undo()
            exc.reload_path = project_module.path  # type: ignore[attr-defined]
            raise
        fresh[project_module.name] = module
    return fresh, swap


def _new_class(module: ModuleType, config: AgentConfig, agent_base: type) -> type | None:
    """The class in the fresh module that stands for the class given to ``add()``."""
    named = getattr(module, config.agent_cls.__name__, None)
    if isinstance(named, type) and issubclass(named, agent_base):
        return named if named.__module__ == module.__name__ else None
    return None


def reload_saved(
    path: Path, agents: MutableMapping[str, AgentConfig], agent_base: type
) -> ReloadOutcome | None:
    """Run again what a save of ``path`` reaches (the file's module and every project module
    that imports it), then swap the new classes of the agents among them into ``agents``, or
    change nothing. ``None`` when no agent's project module comes from that file."""
    path = path.resolve()
    started = time.perf_counter()
    modules = modules_to_rerun(project_graph(agents), path)
    if not modules:
        return None
    return _apply(path, modules, {}, agents, agent_base, started)


def apply_sources(
    sources: tuple[ModuleSource, ...], agents: MutableMapping[str, AgentConfig], agent_base: type
) -> ReloadOutcome:
    """Run the texts another process's reload ran (``ReloadOutcome.sources``), in the same
    order, and update ``agents`` the same way: how session hosts follow the worker."""
    started = time.perf_counter()
    modules = [ProjectModule(s.name, Path(s.path).resolve(), frozenset()) for s in sources]
    texts = {s.name: s.text for s in sources if s.text is not None}
    return _apply(modules[0].path, modules, texts, agents, agent_base, started)


def _apply(
    path: Path,
    modules: list[ProjectModule],
    texts: Mapping[str, str],
    agents: MutableMapping[str, AgentConfig],
    agent_base: type,
    started: float,
) -> ReloadOutcome:
    by_file = watched_files(agents)
    names = tuple(name for module in modules for name in by_file.get(module.path, ()))

    def failed(error: str) -> ReloadOutcome:
        return ReloadOutcome(path, names, time.perf_counter() - started, error)

    try:
        fresh, swap = run_fresh(modules, texts)
    except Exception as exc:  # the user's code: whatever it raised, the running code stays
        return failed(_error_line(getattr(exc, "reload_path", path), exc))
    try:
        update = _registry_update(modules, fresh, agents, agent_base)
    except AgentConfigError as exc:
        swap.undo()
        return failed(str(exc))
    swap.commit()
    replaced = tuple(
        (name, agents[name].agent_cls, config.agent_cls)
        for name, config in update.items()
        if name in agents
    )
    added = tuple(name for name in update if name not in agents)
    removed = tuple(name for name in names if name not in update)
    for name in removed:
        del agents[name]
    agents.update(update)
    return ReloadOutcome(
        path,
        tuple(dict.fromkeys((*names, *added))),
        time.perf_counter() - started,
        None,
        replaced,
        added,
        removed,
        module_sources({m.name for m in modules}),
    )


def _registry_update(
    modules: list[ProjectModule],
    fresh: dict[str, ModuleType],
    agents: MutableMapping[str, AgentConfig],
    agent_base: type,
) -> dict[str, AgentConfig]:
    """The registrations the re-run agent modules make now, by agent name. A discovered
    module is the registry for its agents (renamed, added or dropped ones follow it, as do
    ``@agent_config`` changes); a class given to ``add()`` must still be there."""
    by_file = watched_files(agents)
    update: dict[str, AgentConfig] = {}
    for module in modules:
        registered = by_file.get(module.path, ())
        if not registered:
            continue  # a helper
        first = agents[registered[0]]
        if first.source_path is None:
            for name in registered:
                cls = _new_class(fresh[module.name], agents[name], agent_base)
                if cls is None:
                    gone = agents[name].agent_cls.__name__
                    raise AgentConfigError(
                        f"{module.path}: no longer defines {gone} (agent '{name}')"
                    )
                update[name] = attrs.evolve(agents[name], agent_cls=cls)
            continue
        found = agents_in_module(fresh[module.name], module.path, agent_base)
        if not found:
            raise AgentConfigError(
                f"{module.path}: defines no agent any more (it registered "
                f"{', '.join(registered)}); the running code is kept until it defines one"
            )
        for agent in found:
            check_agent_name(agent.name, where=f"agent name from {module.path.name}")
            if agent.name in agents and agent.name not in registered:
                raise AgentConfigError(
                    f"{module.path}: agent '{agent.name}' is already registered from "
                    f"{agent_source(agents[agent.name])}; give it another name"
                )
            update[agent.name] = attrs.evolve(
                agents.get(agent.name, first),
                name=agent.name,
                agent_cls=agent.agent_cls,
                stt=agent.config.stt,
                llm=agent.config.llm,
                tts=agent.config.tts,
                greeting=agent.config.greeting,
                session_kwargs=agent.config.session_kwargs,
            )
    return update


def reload_file(
    path: Path, agents: MutableMapping[str, AgentConfig], agent_base: type
) -> ReloadOutcome:
    """``reload_saved`` for a file that must concern some agent (tests, tools)."""
    outcome = reload_saved(path, agents, agent_base)
    if outcome is None:
        return ReloadOutcome(path, (), 0.0, f"{path}: no registered agent uses this file")
    return outcome
