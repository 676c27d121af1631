"""Which version of the code a worker runs: the one every call, snapshot and metric carries.

An operator sets ``deployment_version`` to the release or image tag. Without it the version is
derived from the code itself, a hash of the registered agents' source files, so two workers
running the same code report the same version and a changed agent changes it, with no git
checkout needed (container images seldom have one).
"""

from __future__ import annotations

import hashlib
import inspect
from collections.abc import Iterable
from pathlib import Path

SOURCE_PREFIX = "src-"


def source_files(agent_classes: Iterable[type]) -> list[Path]:
    files: set[Path] = set()
    for cls in agent_classes:
        try:
            found = inspect.getsourcefile(cls)
        except TypeError:  # built in, or made at run time: no file says what it is
            continue
        if found:
            files.add(Path(found).resolve())
    return sorted(files)


def source_version(agent_classes: Iterable[type]) -> str:
    """``src-`` and 8 hex digits of a hash over the agents' source files, by content."""
    digest = hashlib.sha256()
    for path in source_files(agent_classes):
        try:
            digest.update(path.read_bytes())
        except OSError:
            digest.update(str(path).encode())
    return SOURCE_PREFIX + digest.hexdigest()[:8]


def deployment_version(configured: str, agent_classes: Iterable[type]) -> str:
    return configured or source_version(agent_classes)
