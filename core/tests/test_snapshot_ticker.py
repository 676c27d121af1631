"""The snapshot ticker: periodic snapshots on the loop, a final one at stop, faults contained."""

from __future__ import annotations

import asyncio
import logging
import subprocess
import sys
from pathlib import Path

import pytest

from openrtc import AgentPool
from openrtc.events import MetricsEvent, RuntimeSnapshot
from openrtc.runtime import RuntimeState
from openrtc.settings import SettingError
from openrtc.snapshots import SnapshotTicker


class RecordingExporter:
    """A complete in-memory exporter: it keeps what it is given."""

    def __init__(self, name: str = "recording") -> None:
        self.name = name
        self.snapshots: list[RuntimeSnapshot] = []
        self.events: list[MetricsEvent] = []

    def export_event(self, event: MetricsEvent) -> None:
        self.events.append(event)

    def export_snapshot(self, snapshot: RuntimeSnapshot) -> None:
        self.snapshots.append(snapshot)

    def close(self) -> None:
        pass


class BrokenExporter(RecordingExporter):
    def export_snapshot(self, snapshot: RuntimeSnapshot) -> None:
        raise RuntimeError("exporter bug")


def make_state() -> RuntimeState:
    return RuntimeState(
        isolation="coroutine", max_concurrent_sessions=4, consecutive_failure_limit=0
    )


async def wait_until(check: object, timeout_s: float = 10.0) -> None:
    assert callable(check)
    deadline = asyncio.get_running_loop().time() + timeout_s
    while not check():
        assert asyncio.get_running_loop().time() < deadline, "condition never held"
        await asyncio.sleep(0.01)


async def test_ticks_repeatedly_and_sends_a_final_snapshot_with_the_last_state() -> None:
    state = make_state()
    exporter = RecordingExporter()
    ticker = SnapshotTicker(state.snapshot, [exporter], interval=0.02)
    ticker.start()
    assert ticker.running
    await wait_until(lambda: len(exporter.snapshots) >= 3)
    state.session_started("job-1", "dental", "room-1")
    ticker.stop()
    assert not ticker.running
    final = exporter.snapshots[-1]
    assert final.started == 1 and final.per_agent["dental"].active == 1
    count = len(exporter.snapshots)
    await asyncio.sleep(0.1)
    assert len(exporter.snapshots) == count  # nothing after stop
    assert ticker.sent == count


async def test_an_exporter_that_raises_is_logged_and_the_others_keep_receiving(
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.ERROR, logger="openrtc.snapshots")
    healthy = RecordingExporter()
    ticker = SnapshotTicker(
        make_state().snapshot, [BrokenExporter("broken"), healthy], interval=0.02
    )
    ticker.start()
    await wait_until(lambda: len(healthy.snapshots) >= 3)
    assert ticker.running  # the failures did not end the ticker
    ticker.stop()
    assert any("metrics exporter 'broken' failed" in m for m in caplog.messages)


async def test_no_exporters_means_no_task() -> None:
    before = asyncio.all_tasks()
    ticker = SnapshotTicker(make_state().snapshot, [], interval=0.02)
    ticker.start()
    assert not ticker.running and asyncio.all_tasks() == before
    ticker.stop()
    assert ticker.sent == 0


async def test_stop_leaves_no_task_behind() -> None:
    before = asyncio.all_tasks()
    ticker = SnapshotTicker(make_state().snapshot, [RecordingExporter()], interval=0.02)
    ticker.start()
    await asyncio.sleep(0.05)
    ticker.stop()
    await asyncio.sleep(0)  # the cancelled task finishes on the next loop pass
    assert asyncio.all_tasks() == before


def test_interval_must_be_positive() -> None:
    with pytest.raises(ValueError, match="metrics_interval must be positive"):
        SnapshotTicker(make_state().snapshot, [], interval=0)


def test_metrics_interval_is_a_setting_with_a_floor(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("OPENRTC_METRICS_INTERVAL", raising=False)
    assert AgentPool().settings["metrics_interval"] == 5.0
    assert AgentPool(metrics_interval=0.5).settings["metrics_interval"] == 0.5
    with pytest.raises(SettingError, match="use a value >= 0.1"):
        AgentPool(metrics_interval=0)
    monkeypatch.setenv("OPENRTC_METRICS_INTERVAL", "2")
    assert AgentPool(metrics_interval=0.5).settings["metrics_interval"] == 2.0


def test_bad_metrics_interval_flag_is_exit_2(tmp_path: Path) -> None:
    result = subprocess.run(
        [sys.executable, "-m", "openrtc.cli", "list", str(tmp_path), "--metrics-interval", "0"],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode == 2
    assert result.stderr.strip().splitlines() == [
        "error: --metrics-interval=0.0 is too small for setting 'metrics_interval'; "
        "use a value >= 0.1"
    ]
