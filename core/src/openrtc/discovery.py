"""Find agent classes in a directory of Python modules, one agent module per file."""

from __future__ import annotations

import hashlib
import importlib.util
import logging
import sys
from pathlib import Path
from types import ModuleType

import attrs

from openrtc.blueprint_modules import run_module_file
from openrtc.config import AgentConfigError, AgentDiscoveryConfig, discovery_config_of

logger = logging.getLogger("openrtc.discovery")


class DiscoveryError(AgentConfigError):
    """A module in the agents directory cannot be used; the message names file and fix."""


@attrs.frozen
class DiscoveredAgent:
    name: str
    agent_cls: type
    config: AgentDiscoveryConfig
    source_path: Path


def agent_modules(directory: Path) -> list[Path]:
    """The candidate agent modules of ``directory``: ``*.py`` files not starting with ``_``."""
    if not directory.exists():
        raise DiscoveryError(
            f"agents directory '{directory}' does not exist; create it or pass the right path"
        )
    if not directory.is_dir():
        raise DiscoveryError(f"agents path '{directory}' is a file; pass its directory instead")
    return sorted(p for p in directory.glob("*.py") if not p.name.startswith("_"))


def _module_name(path: Path) -> str:
    digest = hashlib.sha1(str(path.resolve()).encode()).hexdigest()[:10]
    return f"openrtc_agents_{path.stem}_{digest}"


def load_module(path: Path) -> ModuleType:
    """Import one agent module by path, reporting syntax and import errors with file and line."""
    name = _module_name(path)
    spec = importlib.util.spec_from_file_location(name, path)
    if spec is None or spec.loader is None:
        raise DiscoveryError(f"cannot import '{path}': not a Python module")
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    try:
        run_module_file(module, path)
    except SyntaxError as exc:
        sys.modules.pop(name, None)
        raise DiscoveryError(
            f"syntax error in {exc.filename or path}:{exc.lineno}: {exc.msg}; fix the file and "
            "run again"
        ) from exc
    except Exception as exc:  # user code: any failure is reported with the file it came from
        sys.modules.pop(name, None)
        raise DiscoveryError(
            f"importing {path} failed: {type(exc).__name__}: {exc}; fix the module or move it "
            "out of the agents directory"
        ) from exc
    return module


def agents_in_module(module: ModuleType, path: Path, agent_base: type) -> list[DiscoveredAgent]:
    """The agent classes a module defines itself (imported ones are ignored)."""
    defined = [
        value
        for value in vars(module).values()
        if isinstance(value, type)
        and issubclass(value, agent_base)
        and value is not agent_base
        and value.__module__ == module.__name__
    ]
    marked = [cls for cls in defined if discovery_config_of(cls) is not None]
    if marked:
        chosen = marked
    elif len(defined) == 1:
        chosen = defined
    elif not defined:
        logger.debug("%s defines no Agent subclass; skipped", path)
        return []
    else:
        names = ", ".join(sorted(cls.__name__ for cls in defined))
        raise DiscoveryError(
            f"{path} defines several Agent classes ({names}) and none has @agent_config; "
            "decorate the ones to register with @agent_config(name=...)"
        )
    found = []
    for cls in chosen:
        config = discovery_config_of(cls) or AgentDiscoveryConfig()
        found.append(DiscoveredAgent(config.name or path.stem, cls, config, path))
    return found
