"""``--dashboard``: the rendered view and the exporter that drives rich.live."""

from __future__ import annotations

import io
import pickle
import subprocess
import sys
import threading
from pathlib import Path

from rich.console import Console

from openrtc.cli.dashboard import (
    REDRAW_THREAD_NAME,
    Dashboard,
    DashboardPlugin,
    event_line,
    render_dashboard,
)
from openrtc.events import (
    AdmissionRejected,
    AgentStats,
    JobRouted,
    RuntimeSnapshot,
    SessionEnded,
    SessionStarted,
)


def snapshot(
    *, draining: bool = False, per_agent: dict[str, AgentStats] | None = None
) -> RuntimeSnapshot:
    return RuntimeSnapshot(
        uptime_s=3725.4,
        isolation="coroutine",
        active=2,
        started=7,
        succeeded=4,
        failed=1,
        rejected=3,
        draining=draining,
        max_concurrent_sessions=50,
        consecutive_failures=1,
        rss_bytes=300 * 2**20,
        per_agent={
            "dental": AgentStats(active=2, started=5, succeeded=3, failed=0),
            "restaurant": AgentStats(active=0, started=2, succeeded=1, failed=1),
        }
        if per_agent is None
        else per_agent,
        deployment="v42",
    )


def text_of(renderable: object) -> str:
    console = Console(record=True, width=120, file=io.StringIO(), color_system=None)
    console.print(renderable)
    return console.export_text()


def agent_rows(text: str) -> dict[str, list[str]]:
    """Cells of the per-agent table, by agent name, with the borders stripped."""
    rows = {}
    for line in text.splitlines():
        cells = line.replace("│", " ").split()
        if cells and cells[0] in ("dental", "restaurant"):
            rows[cells[0]] = cells[1:]
    return rows


def test_view_shows_uptime_totals_agents_memory_and_status() -> None:
    text = text_of(render_dashboard(snapshot(), ["10:00:00  started    dental  room r1"]))
    assert "uptime 1:02:05" in text
    assert "isolation coroutine" in text and "RSS 300.0 MiB" in text
    assert "status serving" in text and "deployment v42" in text
    assert "2/50" in text  # active of capacity
    assert agent_rows(text) == {"dental": ["2", "5", "3", "0"], "restaurant": ["0", "2", "1", "1"]}
    assert "started    dental  room r1" in text


def test_view_marks_draining_and_an_empty_worker() -> None:
    text = text_of(render_dashboard(snapshot(draining=True, per_agent={})))
    assert "status DRAINING" in text and "no sessions yet" in text
    assert "waiting for the first snapshot" in text_of(render_dashboard(None))


def test_uptime_can_age_between_snapshots() -> None:
    assert "uptime 1:02:15" in text_of(render_dashboard(snapshot(), uptime_s=3735.0))


def test_event_lines_cover_what_an_operator_watches() -> None:
    ended = SessionEnded(job_id="j", room="r1", agent="dental", outcome="failed", duration_s=65.0)
    assert event_line(ended) is not None and "failed" in (event_line(ended) or "")
    assert "0:01:05" in (event_line(ended) or "")
    rejected = AdmissionRejected(
        job_id="j", room="r", agent=None, rule="capacity", reason="at capacity: 50/50 sessions"
    )
    assert "capacity: at capacity" in (event_line(rejected) or "")
    # routing is shown through the session start, not twice
    assert event_line(JobRouted(job_id="j", room="r", agent="dental", router="metadata")) is None


def refresh_threads() -> list[threading.Thread]:
    return [t for t in threading.enumerate() if t.name == REDRAW_THREAD_NAME]


def test_dashboard_exporter_draws_live_and_stops_its_thread_on_close() -> None:
    out = io.StringIO()
    console = Console(file=out, force_terminal=True, width=120, color_system=None)
    dashboard = Dashboard(console, refresh_per_second=20)
    plugin_exporters = DashboardPlugin(dashboard).openrtc_metrics_exporters(settings=None)  # type: ignore[arg-type]
    assert plugin_exporters == [dashboard]
    before = refresh_threads()
    dashboard.export_event(SessionStarted(job_id="j", room="room-7", agent="dental"))
    dashboard.export_snapshot(snapshot())
    assert len(refresh_threads()) == len(before) + 1  # drawing happens off the event loop
    dashboard.export_snapshot(snapshot(draining=True))
    dashboard.close()
    assert refresh_threads() == before
    drawn = out.getvalue()
    assert "restaurant" in drawn and "room room-7" in drawn
    assert "DRAINING" in drawn  # the final snapshot is what stays on screen
    dashboard.close()  # twice is harmless


def test_dashboard_flag_is_accepted_by_the_worker_verbs(tmp_path: Path) -> None:
    # start and dev are made by one factory; start stands for both
    result = subprocess.run(
        [sys.executable, "-m", "openrtc.cli", "start", str(tmp_path / "nope"), "--dashboard"],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode == 2
    assert "does not exist" in result.stderr  # parsing passed; the directory is the problem


def test_the_dashboard_stays_in_the_worker_when_plugins_go_to_session_processes() -> None:
    dashboard = Dashboard(Console(file=io.StringIO(), force_terminal=True))
    dashboard.export_snapshot(snapshot())  # running: a live thread, locks, a console
    try:
        copy = pickle.loads(pickle.dumps(DashboardPlugin(dashboard)))
    finally:
        dashboard.close()
    assert not hasattr(copy, "openrtc_metrics_exporters")
