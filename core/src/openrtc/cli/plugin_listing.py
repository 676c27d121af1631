"""``openrtc plugins list``: what is installed, what loaded, and what each plugin offers.

It reads installed metadata first and imports plugins without importing livekit-agents, so it
works (and stays fast) even when a plugin is broken.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from typing import Any

import attrs

from openrtc.plugins import PluginRecord, find_candidates, load_plugins
from openrtc.pool_settings import KERNEL_SETTINGS, PLUGIN_SELECTION
from openrtc.settings import SettingError, resolve
from openrtc.strategies import STRATEGY_KINDS

SCHEMA = "openrtc.plugins/1"
"""Version of the ``--json`` document; documented in docs/cli.md."""


def collect(flags: Mapping[str, Any] | None = None) -> list[PluginRecord]:
    flags = flags or {}
    selection = resolve(PLUGIN_SELECTION, flags=flags)
    # listing is for diagnosis: a broken plugin is shown, never fatal here
    host = load_plugins(
        candidates=find_candidates(),
        blocked=selection["disable_plugins"],
        strict=False,
        report=False,
    )
    try:
        settings = resolve([*KERNEL_SETTINGS, *host.declared_settings()], env=os.environ)
    except SettingError:
        settings = resolve([*KERNEL_SETTINGS, *host.declared_settings()], env={})
    offered: dict[str, list[str]] = {}
    problems: dict[str, str] = {}
    for hook_name, kind in STRATEGY_KINDS.items():
        caller = getattr(host.hook, hook_name)
        for impl in caller.get_hookimpls():
            try:
                result = impl.function(**{a: settings for a in impl.argnames})
            except Exception as exc:  # a plugin's registration bug is shown, not raised
                problems[impl.plugin_name] = f"{hook_name} raised {type(exc).__name__}: {exc}"
                continue
            for strategy in result or ():
                offered.setdefault(impl.plugin_name, []).append(f"{kind}:{strategy.name}")
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
