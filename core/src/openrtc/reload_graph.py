"""Which modules a saved file makes hot reload run again.

An agent module binds what it imports when it runs (``from common.prompts import GREETING``),
so a saved helper reaches an agent only if the agent's module runs again too, after the helper
and after every project module between the two. The graph holds the project modules the
agents import, directly or not, and the imports between them; libraries (site-packages, the
standard library) are not part of it.

A module is a project module when its file lies under the root of an agent that imports it:
the parent of the agents directory for ``discover()``, the directory the top-level package is
found in for a class given to ``add()``. Imports are read from the module's source text, not
executed, and resolved against the modules already imported.
"""

from __future__ import annotations

import ast
import sys
import sysconfig
from collections.abc import Iterable, Mapping
from pathlib import Path
from types import ModuleType

import attrs

from openrtc.blueprint_modules import SOURCE_ATTRIBUTE
from openrtc.config import AgentConfig

_LIBRARY_DIRS = tuple(
    Path(p).resolve()
    for key in ("stdlib", "platstdlib", "purelib", "platlib")
    if (p := sysconfig.get_paths().get(key))
)


@attrs.frozen
class ProjectModule:
    name: str
    path: Path
    imports: frozenset[str]
    """Names of the project modules this one imports."""


def module_file(module: ModuleType | None) -> Path | None:
    path = getattr(module, "__file__", None)
    return Path(path).resolve() if isinstance(path, str) and path.endswith(".py") else None


def agent_root(config: AgentConfig) -> Path | None:
    """The directory under which modules count as the agent's project."""
    if config.source_path is not None:
        return config.source_path.resolve().parent.parent
    module = sys.modules.get(config.agent_cls.__module__)
    path = module_file(module)
    if path is None:
        return None
    depth = config.agent_cls.__module__.count(".") + (path.name == "__init__.py")
    return path.parents[depth]


def _is_library(path: Path) -> bool:
    if {"site-packages", "dist-packages"} & set(path.parts):
        return True
    return any(path.is_relative_to(directory) for directory in _LIBRARY_DIRS)


def _source(module: ModuleType, path: Path) -> str:
    text = module.__dict__.get(SOURCE_ATTRIBUTE)
    return text if isinstance(text, str) else path.read_text(encoding="utf-8", errors="replace")


def imported_names(module: ModuleType, text: str) -> set[str]:
    """Names of the already-imported modules that ``text`` (the source of ``module``)
    imports; ``from package import name`` counts ``package.name`` when that is a module."""
    try:
        tree = ast.parse(text)
    except SyntaxError:
        return set()
    package = module.__package__ or ""
    found: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                found.add(alias.name)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                parent = package.rsplit(".", node.level - 1)[0] if node.level > 1 else package
                base = f"{parent}.{base}" if base else parent
            found.add(base)
            found.update(f"{base}.{alias.name}" for alias in node.names)
    return {name for name in found if name in sys.modules}


def project_graph(agents: Mapping[str, AgentConfig]) -> dict[str, ProjectModule]:
    """The agents' modules and the project modules they import, by module name."""
    graph: dict[str, ProjectModule] = {}
    for config in agents.values():
        root = agent_root(config)
        pending = [config.agent_cls.__module__]
        while pending:
            name = pending.pop()
            module = sys.modules.get(name)
            path = module_file(module)
            if name in graph or module is None or path is None or _is_library(path):
                continue  # an agent class from a library is not the project's to reload
            imports = {
                imported
                for imported in imported_names(module, _source(module, path))
                if _in_project(sys.modules[imported], root)
            }
            graph[name] = ProjectModule(name, path, frozenset(imports))
            pending.extend(imports)
    return graph


def _in_project(module: ModuleType, root: Path | None) -> bool:
    path = module_file(module)
    return (
        root is not None
        and path is not None
        and path.is_relative_to(root)
        and not _is_library(path)
    )


def modules_to_rerun(graph: Mapping[str, ProjectModule], changed: Path) -> list[ProjectModule]:
    """The modules to run again for a save of ``changed``, each after everything it imports
    among them: the changed module, then every project module that imports it, directly or
    not. Empty when no project module comes from that file."""
    start = [m for m in graph.values() if m.path == changed]
    if not start:
        return []
    affected = {m.name for m in start}
    grew = True
    while grew:
        dependents = {m.name for m in graph.values() if m.imports & affected} - affected
        affected |= dependents
        grew = bool(dependents)
    ordered: list[ProjectModule] = []
    placed: set[str] = set()
    remaining = sorted(affected)
    while remaining:
        ready = [n for n in remaining if not (graph[n].imports & set(remaining)) - {n}]
        if not ready:  # an import cycle: run the rest in name order
            ready = remaining[:1]
        for name in ready:
            ordered.append(graph[name])
            placed.add(name)
        remaining = [n for n in remaining if n not in placed]
    return ordered


def watched_directories(graph: Mapping[str, ProjectModule]) -> list[Path]:
    return sorted({module.path.parent for module in graph.values()})


def files_of(graph: Mapping[str, ProjectModule]) -> Iterable[Path]:
    return (module.path for module in graph.values())
