"""Which plugins are installed: the ``openrtc.plugins`` entry points, read from metadata.

Nothing is imported here until ``load_entry_point``; ``openrtc plugins list`` can therefore
describe a plugin whose code is broken.
"""

from __future__ import annotations

import importlib.metadata as metadata

import attrs

ENTRY_POINT_GROUP = "openrtc.plugins"


@attrs.frozen
class PluginCandidate:
    """A plugin as installed metadata describes it, before anything is imported."""

    name: str
    value: str
    distribution: str | None
    version: str | None


def find_candidates() -> list[PluginCandidate]:
    """Read the ``openrtc.plugins`` entry points of every installed distribution."""
    seen: dict[str, PluginCandidate] = {}
    for entry_point in metadata.entry_points(group=ENTRY_POINT_GROUP):
        dist = entry_point.dist
        candidate = PluginCandidate(
            name=entry_point.name,
            value=entry_point.value,
            distribution=dist.metadata["Name"] if dist is not None else None,
            version=dist.version if dist is not None else None,
        )
        # the same distribution can be visible twice on sys.path (e.g. an editable install);
        # the first one wins, as it does for imports
        seen.setdefault(candidate.name, candidate)
    return sorted(seen.values(), key=lambda c: c.name)


def load_entry_point(candidate: PluginCandidate) -> object:
    return metadata.EntryPoint(
        name=candidate.name, value=candidate.value, group=ENTRY_POINT_GROUP
    ).load()
