"""``--dashboard``: a live terminal view of the worker, fed as a metrics exporter.

The exporter calls only store the latest snapshot and a line per notable event; a redraw thread
of the dashboard's own builds and draws the view, so the worker's event loop never waits on the
terminal. rich's auto-refresh thread is not used: ``Live.stop`` only signals it and returns, so
it could still be drawing after ``close()``; ours is joined.
"""

from __future__ import annotations

import collections
import datetime
import threading
import time
from collections.abc import Sequence
from typing import Any

from rich.console import Console, Group, RenderableType
from rich.live import Live
from rich.panel import Panel
from rich.table import Table
from rich.text import Text

from openrtc import events
from openrtc.hookspecs import hookimpl
from openrtc.settings import Settings
from openrtc.strategies import MetricsExporter

RECENT_EVENTS = 8
REDRAW_THREAD_NAME = "openrtc-dashboard-redraw"


def _duration(seconds: float) -> str:
    return str(datetime.timedelta(seconds=int(seconds)))


def _megabytes(rss_bytes: int | None) -> str:
    return "n/a" if rss_bytes is None else f"{rss_bytes / 2**20:.1f} MiB"


def event_line(event: events.MetricsEvent) -> str | None:
    """One short line for the events an operator watches; ``None`` for the rest."""
    clock = time.strftime("%H:%M:%S", time.localtime(event.timestamp))
    if isinstance(event, events.SessionStarted):
        return f"{clock}  started    {event.agent}  room {event.room}"
    if isinstance(event, events.SessionEnded):
        took = "" if event.duration_s is None else f" after {_duration(event.duration_s)}"
        return f"{clock}  {event.outcome:<10} {event.agent or '?'}  room {event.room}{took}"
    if isinstance(event, events.AdmissionRejected):
        return f"{clock}  rejected   {event.agent or '?'}  {event.rule}: {event.reason}"
    if isinstance(event, events.DrainStarted):
        return f"{clock}  draining   {event.reason} ({event.active_sessions} live)"
    if isinstance(event, events.WorkerRegistered):
        return f"{clock}  registered serving {', '.join(event.agents)}"
    if isinstance(event, events.AgentReloaded):
        if event.outcome == "applied":
            return f"{clock}  reloaded   {', '.join(event.agents)}  from {event.file}"
        return f"{clock}  reload failed  {event.error}"
    return None


def render_dashboard(
    snapshot: events.RuntimeSnapshot | None,
    recent: Sequence[str] = (),
    *,
    uptime_s: float | None = None,
) -> RenderableType:
    """The dashboard for one snapshot; ``uptime_s`` overrides the snapshot's (it ages)."""
    if snapshot is None:
        return Panel(Text("waiting for the first snapshot..."), title="openrtc")
    status = Text("DRAINING", style="bold yellow") if snapshot.draining else Text("serving")
    header = Table.grid(padding=(0, 3))
    for _ in range(4):
        header.add_column()
    header.add_row(
        Text.assemble("status ", status),
        f"uptime {_duration(snapshot.uptime_s if uptime_s is None else uptime_s)}",
        f"isolation {snapshot.isolation}",
        f"RSS {_megabytes(snapshot.rss_bytes)}",
    )
    if snapshot.deployment:
        header.add_row(f"deployment {snapshot.deployment}", "", "", "")

    totals = Table(box=None, pad_edge=False)
    for column in ("active", "started", "succeeded", "failed", "rejected", "failures in a row"):
        totals.add_column(column, justify="right")
    failed_style = "red" if snapshot.failed else ""
    totals.add_row(
        f"{snapshot.active}/{snapshot.max_concurrent_sessions}",
        str(snapshot.started),
        str(snapshot.succeeded),
        Text(str(snapshot.failed), style=failed_style),
        str(snapshot.rejected),
        str(snapshot.consecutive_failures),
    )

    agents = Table(title="per agent", title_justify="left", expand=False)
    agents.add_column("agent")
    for column in ("active", "started", "succeeded", "failed"):
        agents.add_column(column, justify="right")
    for name, stats in snapshot.per_agent.items():
        agents.add_row(
            name, str(stats.active), str(stats.started), str(stats.succeeded), str(stats.failed)
        )
    if not snapshot.per_agent:
        agents.add_row(Text("no sessions yet", style="dim"), "", "", "", "")

    parts: list[RenderableType] = [header, Text(), totals, Text(), agents]
    if recent:
        lines = (Text(line, no_wrap=True, overflow="ellipsis") for line in recent)
        parts += [Text(), Text("recent", style="bold"), *lines]
    return Panel(Group(*parts), title="openrtc worker", title_align="left")


class Dashboard:
    """A metrics exporter that draws ``render_dashboard`` with ``rich.live``."""

    name = "dashboard"

    def __init__(self, console: Console | None = None, *, refresh_per_second: float = 2) -> None:
        self.console = console or Console()
        self._refresh_per_second = refresh_per_second
        self._latest: events.RuntimeSnapshot | None = None
        self._received_at = 0.0
        self._recent: collections.deque[str] = collections.deque(maxlen=RECENT_EVENTS)
        self._live: Live | None = None
        self._lock = threading.Lock()
        self._closed = False
        self._stop = threading.Event()
        self._redraw: threading.Thread | None = None

    def renderable(self) -> RenderableType:
        """Called from rich's refresh thread: reads only what the exporter calls replace."""
        snapshot = self._latest
        aged = None
        if snapshot is not None and not self._closed:
            aged = snapshot.uptime_s + (time.monotonic() - self._received_at)
        return render_dashboard(snapshot, list(self._recent), uptime_s=aged)

    def export_event(self, event: events.MetricsEvent) -> None:
        line = event_line(event)
        if line is not None:
            self._recent.append(line)

    def export_snapshot(self, snapshot: events.RuntimeSnapshot) -> None:
        self._received_at = time.monotonic()
        self._latest = snapshot
        with self._lock:
            if self._live is None and not self._closed:
                # started on the first snapshot: registration hooks must stay side-effect free
                self._live = Live(
                    console=self.console,
                    auto_refresh=False,
                    get_renderable=self.renderable,
                )
                self._live.start()
                self._redraw = threading.Thread(
                    target=self._redraw_until_closed,
                    args=(self._live,),
                    name=REDRAW_THREAD_NAME,
                    daemon=True,
                )
                self._redraw.start()

    def _redraw_until_closed(self, live: Live) -> None:
        while not self._stop.wait(1 / self._refresh_per_second):
            live.refresh()

    def close(self) -> None:
        """Stop the refresh thread; the final snapshot stays on screen."""
        with self._lock:
            self._closed = True
            live, self._live = self._live, None
            redraw, self._redraw = self._redraw, None
        self._stop.set()
        if redraw is not None:
            redraw.join()
        if live is not None:
            live.stop()


class _StaysInTheWorker:
    """What a session process gets in place of the dashboard plugin: nothing to offer."""


class DashboardPlugin:
    """Registers one ``Dashboard`` with a pool as an in-process plugin."""

    def __init__(self, dashboard: Dashboard) -> None:
        self.dashboard = dashboard

    def __reduce__(self) -> tuple[Any, ...]:
        # process isolation pickles in-process plugins into session processes; the dashboard
        # draws the worker's own terminal and its counters, so it does not go along
        return (_StaysInTheWorker, ())

    @hookimpl
    def openrtc_metrics_exporters(self, settings: Settings) -> list[MetricsExporter]:
        return [self.dashboard]
