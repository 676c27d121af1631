"""Rich tables and JSON documents for the listing commands."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from rich.console import Console
from rich.table import Table

from openrtc.settings import describe

if TYPE_CHECKING:
    from openrtc.plugins import PluginRecord
    from openrtc.pool import AgentPool

AGENTS_SCHEMA = "openrtc.agents/1"
"""Version of ``openrtc list --json``; documented in docs/cli.md."""


def agents_document(pool: AgentPool, *, resources: bool) -> dict[str, Any]:
    agents = []
    defaults = pool.defaults
    for name in pool.list_agents():
        config = pool.get(name)
        entry: dict[str, Any] = {
            "name": name,
            "class": f"{config.agent_cls.__module__}.{config.agent_cls.__qualname__}",
            # providers by describe(): strings as given, instances by class, never their secrets
            "stt": describe(config.stt if config.stt is not None else defaults.stt),
            "llm": describe(config.llm if config.llm is not None else defaults.llm),
            "tts": describe(config.tts if config.tts is not None else defaults.tts),
            "greeting": config.greeting if config.greeting is not None else defaults.greeting,
            "source": str(config.source_path) if config.source_path else None,
        }
        if resources:
            path = config.source_path
            entry["source_bytes"] = path.stat().st_size if path and path.exists() else None
        agents.append(entry)
    return {
        "schema": AGENTS_SCHEMA,
        "isolation": pool.isolation,
        "routers": list(pool.routers),
        "settings": pool.settings.public_items(),
        "agents": agents,
    }


def agents_table(document: dict[str, Any]) -> None:
    table = Table(title=f"{len(document['agents'])} agents ({document['isolation']} isolation)")
    for column in ("name", "class", "stt", "llm", "tts", "greeting"):
        table.add_column(column)
    for agent in document["agents"]:
        table.add_row(
            *(str(agent[c] or "-") for c in ("name", "class", "stt", "llm", "tts", "greeting"))
        )
    Console().print(table)


def plugins_table(records: list[PluginRecord]) -> None:
    table = Table(title="OpenRTC plugins")
    for column in ("name", "distribution", "version", "status", "hooks", "strategies"):
        table.add_column(column, overflow="fold")
    colours = {"active": "green", "blocked": "yellow", "error": "red"}
    for record in records:
        status = f"[{colours[record.status]}]{record.status}[/]"
        if record.error:
            status += f"\n{record.error}"
        hooks = "\n".join(h.removeprefix("openrtc_") for h in record.hooks)
        table.add_row(
            record.name,
            record.distribution or "-",
            record.version or "-",
            status,
            hooks or "-",
            "\n".join(record.strategies) or "-",
        )
    Console(width=140).print(table)
