"""The ``metrics_json_file`` exporter: atomic replacement, final snapshot, contained failures."""

from __future__ import annotations

import json
import logging
import threading
from pathlib import Path

import pytest

from openrtc import AgentPool
from openrtc.events import SCHEMA_VERSION, AgentStats, RuntimeSnapshot, SessionStarted
from openrtc.snapshot_file import SnapshotFileExporter, write_atomically


def snapshot(started: int, *, draining: bool = False) -> RuntimeSnapshot:
    return RuntimeSnapshot(
        uptime_s=float(started),
        isolation="coroutine",
        active=1,
        started=started,
        succeeded=started - 1,
        failed=0,
        rejected=0,
        draining=draining,
        max_concurrent_sessions=50,
        consecutive_failures=0,
        rss_bytes=123_456_789,
        per_agent={"dental": AgentStats(active=1, started=started, succeeded=started - 1)},
    )


def test_readers_never_see_a_partial_file(tmp_path: Path) -> None:
    target = tmp_path / "snapshot.json"
    write_atomically(target, json.dumps({"round": -1}))
    # big enough that a plain rewrite would be caught half written many times over
    filler = "x" * 200_000
    stop = threading.Event()
    reads: list[int] = []
    problems: list[str] = []

    def reader() -> None:
        while not stop.is_set():
            text = target.read_text(encoding="utf-8")
            try:
                reads.append(json.loads(text)["round"])
            except ValueError as exc:
                problems.append(f"{exc} after {len(text)} characters")

    thread = threading.Thread(target=reader)
    thread.start()
    try:
        for round_ in range(300):
            write_atomically(target, json.dumps({"round": round_, "filler": filler}))
    finally:
        stop.set()
        thread.join()
    assert problems == []
    assert len(reads) > 10
    assert reads == sorted(reads)  # a reader never goes back to an older snapshot
    assert json.loads(target.read_text())["round"] == 299
    assert [p.name for p in tmp_path.iterdir()] == ["snapshot.json"]  # no temporary left


def test_a_failed_write_keeps_the_old_file_and_removes_the_temporary(tmp_path: Path) -> None:
    target = tmp_path / "snapshot.json"
    write_atomically(target, '{"ok": true}')
    with pytest.raises(TypeError):  # bytes into a text file: the write fails midway
        write_atomically(target, b"{}")  # type: ignore[arg-type]
    assert json.loads(target.read_text()) == {"ok": True}
    assert [p.name for p in tmp_path.iterdir()] == ["snapshot.json"]


def test_exporter_keeps_the_latest_snapshot_and_writes_the_final_one_at_close(
    tmp_path: Path,
) -> None:
    target = tmp_path / "metrics" / "snapshot.json"  # the directory is created
    exporter = SnapshotFileExporter(target)
    exporter.export_event(SessionStarted(job_id="j", room="r", agent="dental"))
    for started in range(1, 6):
        exporter.export_snapshot(snapshot(started))
    exporter.export_snapshot(snapshot(6, draining=True))
    exporter.close()
    record = json.loads(target.read_text(encoding="utf-8"))
    assert record["schema"] == SCHEMA_VERSION and record["kind"] == "snapshot"
    assert record["started"] == 6 and record["draining"] is True
    assert record["per_agent"] == {
        "dental": {"active": 1, "started": 6, "succeeded": 5, "failed": 0}
    }
    assert record["rss_bytes"] == 123_456_789
    assert 1 <= exporter.written <= 6  # superseded snapshots may be skipped, never the last
    exporter.export_snapshot(snapshot(7))  # after close: ignored, nothing raises
    assert json.loads(target.read_text())["started"] == 6


def test_an_unwritable_path_is_logged_once_and_never_raises(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.ERROR, logger="openrtc.snapshot_file")
    blocker = tmp_path / "not-a-directory"
    blocker.write_text("")
    exporter = SnapshotFileExporter(blocker / "snapshot.json")
    for started in range(1, 4):
        exporter.export_snapshot(snapshot(started))
    exporter.close()
    assert exporter.written == 0
    errors = [m for m in caplog.messages if "metrics_json_file: cannot write" in m]
    assert len(errors) == 1, errors
    assert "writable path" in errors[0]


def test_the_setting_offers_the_exporter_through_the_kernel_plugin(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("OPENRTC_METRICS_JSON_FILE", raising=False)
    runtime = AgentPool()._runtime
    assert "snapshot-file" not in runtime.host.strategies(
        "openrtc_metrics_exporters", runtime.settings
    )
    path = tmp_path / "s.json"
    runtime = AgentPool(metrics_json_file=str(path))._runtime
    exporters = runtime.host.strategies("openrtc_metrics_exporters", runtime.settings)
    assert isinstance(exporters["snapshot-file"], SnapshotFileExporter)
    assert exporters["snapshot-file"].path == path
    owners = runtime.host.strategy_owners(runtime.settings)
    assert "metrics exporter:snapshot-file" in owners["openrtc-core"]
