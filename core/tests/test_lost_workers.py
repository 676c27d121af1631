"""A worker that died without stopping is reported once, by the next worker to look."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from openrtc.lost_workers import describe, find_lost


def dead_pid() -> int:
    child = subprocess.Popen([sys.executable, "-c", "pass"])
    child.wait()
    return child.pid


def leave_snapshot(directory: Path, pid: int, active: int) -> None:
    record = {
        "kind": "snapshot",
        "timestamp": 1796160000.0,
        "active": active,
        "deployment": "v7",
        "per_agent": {"dental": {"active": active}, "idle": {"active": 0}},
    }
    (directory / f"{pid}.json").write_text(json.dumps(record), encoding="utf-8")
    (directory / f"{pid}.sock").touch()


def test_a_dead_workers_snapshot_is_reported_once_and_removed(tmp_path: Path) -> None:
    gone = dead_pid()
    leave_snapshot(tmp_path, gone, active=3)
    leave_snapshot(tmp_path, os.getppid(), active=2)  # a worker that still runs
    (lost,) = find_lost(tmp_path)
    assert (lost.pid, lost.version, lost.active) == (gone, "v7", 3)
    assert lost.per_agent == {"dental": 3}
    assert "3 calls were live" in describe(lost) and f"pid {gone}" in describe(lost)
    assert not (tmp_path / f"{gone}.json").exists() and not (tmp_path / f"{gone}.sock").exists()
    assert (tmp_path / f"{os.getppid()}.json").exists()
    assert find_lost(tmp_path) == []


def test_an_unreadable_snapshot_is_removed_with_a_warning(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    gone = dead_pid()
    (tmp_path / f"{gone}.json").write_text("{not json", encoding="utf-8")
    assert find_lost(tmp_path) == []
    assert not (tmp_path / f"{gone}.json").exists()
    assert "unreadable snapshot" in caplog.text


def test_a_snapshot_under_this_workers_own_pid_is_an_earlier_process(tmp_path: Path) -> None:
    # a container restarted after a kill runs its new worker under the same pid (often 1)
    leave_snapshot(tmp_path, os.getpid(), active=4)
    (lost,) = find_lost(tmp_path)
    assert (lost.pid, lost.active) == (os.getpid(), 4)
    assert not (tmp_path / f"{os.getpid()}.json").exists()
    assert (tmp_path / f"{os.getpid()}.sock").exists()  # this worker's own, open already
