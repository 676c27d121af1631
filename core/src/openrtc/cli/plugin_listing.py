"""``openrtc plugins list``: what is installed, what loaded, and what each plugin offers.

It reads installed metadata first and imports plugins without importing livekit-agents, so it
works (and stays fast) even when a plugin is broken.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import attrs

from openrtc.plugins import PluginRecord, load_and_resolve
from openrtc.strategies import STRATEGY_KINDS

SCHEMA = "openrtc.plugins/1"
"""Version of the ``--json`` document; documented in docs/cli.md."""


def collect(flags: Mapping[str, Any] | None = None) -> list[PluginRecord]:
    # listing is for diagnosis: a broken plugin is shown, never fatal here
    loaded = load_and_resolve(flags=flags, diagnose=True)
    host, settings = loaded.host, loaded.settings
    offered: dict[str, list[str]] = {}
    problems: dict[str, str] = {}
    for hook_name, kind in STRATEGY_KINDS.items():
        # a plugin's registration bug is shown on its row, not raised
        raised: dict[str, Exception] = {}
        for plugin_name, result in host.call_each(hook_name, errors=raised, settings=settings):
            for strategy in result or ():
                offered.setdefault(plugin_name, []).append(f"{kind}:{strategy.name}")
        for plugin_name, exc in raised.items():
            problems[plugin_name] = f"{hook_name} raised {type(exc).__name__}: {exc}"
    owners: dict[str, list[str]] = {}
    for plugin, strategies in offered.items():
        for strategy in strategies:
            owners.setdefault(strategy, []).append(plugin)
    records = []
    for record in host.records:
        mine = tuple(offered.get(record.name, ()))
        error = record.error or problems.get(record.name)
        clashes = [s for s in mine if len(owners[s]) > 1]
        if clashes and record.status == "active":
            others = sorted({p for s in clashes for p in owners[s]} - {record.name})
            error = f"duplicate {', '.join(clashes)} (also provided by {', '.join(others)})"
        status = "error" if error and record.status != "blocked" else record.status
        records.append(attrs.evolve(record, strategies=mine, error=error, status=status))
    return records


def as_json_document(records: list[PluginRecord]) -> dict[str, Any]:
    return {
        "schema": SCHEMA,
        "plugins": [
            {
                "name": r.name,
                "distribution": r.distribution,
                "version": r.version,
                "value": r.value,
                "status": r.status,
                "error": r.error,
                "hooks": list(r.hooks),
                "strategies": list(r.strategies),
            }
            for r in records
        ],
    }
