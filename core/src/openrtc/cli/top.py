"""``openrtc top``: the workers serving on this host, and their live calls.

Every worker answers ``sessions`` on its control socket (``openrtc.worker_control``): its load,
loop lag, memory, draining and version, and one entry per live session (agent, tenant, room,
state, age, turns, the last turn's wait; ``openrtc.call_states`` says how the state of a call
in a job process or session host gets there). Only the user who runs the workers can open
their sockets, and a worker nobody asks pays nothing. ``--json`` prints one reading for
scripts (schema ``openrtc.top/1``). On a terminal the view is live (``openrtc.cli.top_app``,
Textual), read every ``--interval`` seconds, with keys to sort and filter; with its output
piped, ``top`` prints one text reading and exits, as ``top -b -n 1`` does.
"""

from __future__ import annotations

import asyncio
import json
import sys
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Annotated, Any

import typer

from openrtc.control_socket import ControlSocketError, control_dir, each_worker
from openrtc.worker_control import SESSIONS_OP

SCHEMA = "openrtc.top/1"
SORT_KEYS: dict[str, Callable[[dict[str, Any]], Any]] = {
    "age": lambda row: -row["age_s"],
    "agent": lambda row: (row["agent"], -row["age_s"]),
    "turns": lambda row: -row["turns"],
    "wait": lambda row: -(row["last_turn_latency_s"] or 0.0),
}
"""How ``--sort`` orders the rows: oldest call, agent, most turns, longest last wait first."""
COLUMNS = (
    f"  {'AGENT':<16} {'TENANT':<12} {'ROOM':<28} {'STATE':<10} {'AGE':>7} {'TURNS':>5} LAST WAIT"
)


async def read_workers_async(directory: Path) -> list[dict[str, Any]]:
    """One ``sessions`` reply per worker with a socket in ``directory``, by pid."""
    replies = await each_worker(directory, {"op": SESSIONS_OP})
    return sorted((r for r in replies if "error" not in r), key=lambda r: int(r.get("pid", 0)))


def read_workers(directory: Path) -> list[dict[str, Any]]:
    return asyncio.run(read_workers_async(directory))


def ms(seconds: float | None) -> str:
    return "-" if seconds is None else f"{seconds * 1000:.0f} ms"


def _cpu(health: dict[str, Any]) -> str:
    """The loop thread's share of a core (and of the time it waited for one), and the host's
    share of all its cores."""
    if "loop_busy" not in health:
        return "-"
    host, wait = health.get("host_cpu"), health.get("loop_cpu_wait")
    shown_host = "-" if host is None else f"{host * 100:.0f}%"
    shown_wait = "" if wait is None else f" waiting {wait * 100:.0f}%"
    return f"loop {health['loop_busy'] * 100:.0f}%{shown_wait} host {shown_host}"


def _header(worker: dict[str, Any]) -> str:
    health = worker.get("health") or {}
    rss = worker.get("rss_bytes")
    state = "draining" if worker.get("draining") else "serving"
    if not worker.get("registered"):
        state = "not registered"
    return (
        f"pid {worker['pid']}  version {worker.get('version') or '-'}  "
        f"{worker.get('isolation', '?')}  {state}  load {worker.get('load', 0):.2f}  "
        f"active {worker.get('active', 0)}  loop lag p99 {ms(health.get('loop_lag_p99_s'))}  "
        f"CPU {_cpu(health)}  RSS {'-' if rss is None else f'{rss / 2**20:.0f} MiB'}"
    )


def worker_lines(worker: dict[str, Any]) -> list[str]:
    """A worker's header and the last minute's waits per agent."""
    lines = [_header(worker)]
    for name, stats in sorted((worker.get("turns") or {}).items()):
        lines.append(
            f"  {name}: {stats['turns']} turn{'' if stats['turns'] == 1 else 's'} in the last "
            "minute, caller waited "
            f"p50 {ms(stats['latency_p50_s'])}, p95 {ms(stats['latency_p95_s'])}"
        )
    return lines


def render(workers: Sequence[dict[str, Any]], *, sort: str, agent: str | None) -> str:
    """The text view of one reading."""
    if not workers:
        return "no OpenRTC worker of this user is serving on this host"
    lines = []
    for worker in workers:
        lines.extend(worker_lines(worker))
        rows = [s for s in worker.get("sessions", []) if agent is None or s["agent"] == agent]
        rows.sort(key=SORT_KEYS[sort])
        lines.append(COLUMNS)
        for row in rows:
            lines.append(
                f"  {row['agent']:<16} {row['labels'].get('tenant', '-'):<12} "
                f"{row['room'][:28]:<28} {row.get('state') or '-':<10} "
                f"{row['age_s']:>6.0f}s {row['turns']:>5} "
                f"{ms(row['last_turn_latency_s'])}"
            )
        if not rows:
            lines.append("  (no live calls)")
        lines.append("")
    return "\n".join(lines)


def register(app: typer.Typer) -> None:
    @app.command("top")
    def top(
        as_json: Annotated[
            bool, typer.Option("--json", help="Print one reading as JSON and exit.")
        ] = False,
        directory: Annotated[
            str,
            typer.Option("--control-dir", help="The workers' control directory (their default)."),
        ] = "",
        interval: Annotated[
            float, typer.Option("--interval", min=0.2, help="Seconds between readings.")
        ] = 2.0,
        sort: Annotated[
            str, typer.Option("--sort", help=f"Order of the rows: {', '.join(SORT_KEYS)}.")
        ] = "age",
        agent: Annotated[
            str | None, typer.Option("--agent", help="Only the calls of this agent.")
        ] = None,
    ) -> None:
        """Show the workers serving on this host and their live calls, live (keys: s sort,
        a agent filter, r refresh, q quit); piped, one reading as text."""
        if sort not in SORT_KEYS:
            typer.echo(f"error: --sort {sort!r}: use one of {', '.join(SORT_KEYS)}", err=True)
            raise typer.Exit(2)
        try:
            where = control_dir(directory)
        except (ControlSocketError, OSError) as exc:
            typer.echo(f"error: {exc}", err=True)
            raise typer.Exit(2) from None
        if as_json:
            reading = {"schema": SCHEMA, "at": time.time(), "workers": read_workers(where)}
            typer.echo(json.dumps(reading, indent=2))
            return
        if not sys.stdout.isatty():
            typer.echo(render(read_workers(where), sort=sort, agent=agent))
            return
        from openrtc.cli.top_app import TopApp

        TopApp(lambda: read_workers_async(where), interval=interval, sort=sort, agent=agent).run()
