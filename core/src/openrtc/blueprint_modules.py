"""The modules a pool blueprint refers to, and making them importable in a job process.

A forkserver child starts from the worker's ``sys.path`` but not from its imports: the worker's
``__main__`` script, the agent modules ``discover()`` loaded by path, and test modules pytest
imported by path cannot be imported by name there. The blueprint records the module and file
of every class and function it pickles by reference; the job process imports each by name and
falls back to its file.

Agent modules the kernel ran from their files (``discover()``, hot reload) travel as the text
the worker ran: a job process runs exactly the code the worker validated, not whatever the file
holds by the time the process starts (an edit in progress, a save that does not compile).
"""

from __future__ import annotations

import importlib
import importlib.util
import io
import itertools
import pickle
import sys
import types
from pathlib import Path
from typing import Any

import attrs


class ModuleLoadError(ImportError):
    """A module the blueprint refers to cannot be loaded from its file."""


SOURCE_ATTRIBUTE = "__openrtc_source__"
"""Set on a module the kernel ran from its file: the text it ran."""
RUN_ORDER_ATTRIBUTE = "__openrtc_run_order__"
"""Set beside it: when it ran, so job processes run such modules in the same order (a helper
hot reload ran again before the agents that import it)."""
_run_order = itertools.count()


@attrs.frozen
class ModuleSource:
    """A module the blueprint refers to, and the file to load it from if it is not importable
    by name in the job process."""

    name: str
    path: str
    text: str | None = None
    """The text the worker ran, for a module the kernel ran from its file: run instead of
    importing by name or reading the file."""
    order: int | None = None
    """When the worker ran that text, relative to the other modules it ran."""


def run_module_file(module: types.ModuleType, path: Path) -> None:
    """Run the file at ``path`` as ``module`` and remember the text that ran."""
    text = importlib.util.decode_source(path.read_bytes())
    run_module_text(module, text, path)


def run_module_text(module: types.ModuleType, text: str, path: Path) -> None:
    code = compile(text, str(path), "exec", dont_inherit=True)
    exec(code, module.__dict__)
    module.__dict__[SOURCE_ATTRIBUTE] = text
    module.__dict__[RUN_ORDER_ATTRIBUTE] = next(_run_order)


class RecordingPickler(pickle.Pickler):
    """Notes the module of every class and function it pickles by reference."""

    def __init__(self, file: io.BytesIO) -> None:
        super().__init__(file, protocol=pickle.HIGHEST_PROTOCOL)
        self.modules: set[str] = set()

    def reducer_override(self, obj: Any) -> Any:
        if isinstance(obj, (type, types.FunctionType)):
            self.modules.add(obj.__module__)
        return NotImplemented


def module_sources(names: set[str]) -> tuple[ModuleSource, ...]:
    """The modules among ``names`` that have a file (built-in ones need nothing)."""
    sources = []
    for name in sorted(names):
        module = sys.modules.get(name)
        path = getattr(module, "__file__", None)
        if isinstance(path, str):
            text = getattr(module, SOURCE_ATTRIBUTE, None)
            order = getattr(module, RUN_ORDER_ATTRIBUTE, None)
            if isinstance(text, str) and isinstance(order, int):
                sources.append(ModuleSource(name, path, text, order))
            else:
                sources.append(ModuleSource(name, path))
    # the modules the worker ran itself first, in the order it ran them; then the others
    return tuple(sorted(sources, key=lambda s: (s.order is None, s.order or 0, s.name)))


def ensure_module(source: ModuleSource) -> None:
    """Make ``source.name`` importable here: import it, or load it from its file."""
    if source.name == "__main__":
        # forkserver children do not re-run the worker's main script; do what multiprocessing's
        # spawn does: run it as __mp_main__ (so `if __name__ == "__main__"` stays false)
        if getattr(sys.modules.get("__main__"), "__file__", None) != source.path:
            from multiprocessing import spawn

            spawn.import_main_path(source.path)
        return
    if source.name in sys.modules:
        return
    if source.text is None:
        try:
            importlib.import_module(source.name)
            return
        except ModuleNotFoundError as exc:
            missing = exc.name or ""
            if not (source.name == missing or source.name.startswith(missing + ".")):
                raise  # the module exists but one of its own imports is missing
    spec = importlib.util.spec_from_file_location(source.name, source.path)
    if spec is None or spec.loader is None:
        raise ModuleLoadError(f"cannot load module '{source.name}' from {source.path}")
    module = importlib.util.module_from_spec(spec)
    sys.modules[source.name] = module
    try:
        if source.text is None:
            spec.loader.exec_module(module)
        else:
            run_module_text(module, source.text, Path(source.path))
    except BaseException:  # undo the half-registered module, then re-raise unchanged
        sys.modules.pop(source.name, None)
        raise
    _add_parent_packages(source.name, Path(source.path).parent)


def _add_parent_packages(name: str, directory: Path) -> None:
    """Give a module loaded from its file under a dotted name (as pytest's importlib mode
    names test modules) the parent packages unpickling imports before it looks the name up."""
    child = sys.modules[name]
    while "." in name:
        name, _, leaf = name.rpartition(".")
        parent = sys.modules.get(name)
        if parent is None:
            parent = types.ModuleType(name)
            parent.__path__ = [str(directory)]
            sys.modules[name] = parent
        setattr(parent, leaf, child)
        child, directory = parent, directory.parent
