"""Workers on this host that ended without stopping, found by the next worker to start.

A worker killed with SIGKILL (the OOM killer, a node drain that ran out of patience, an
operator's ``kill -9``) takes its live calls with it: their callers hear the agent leave, and
LiveKit does not dispatch those jobs again (its server leaves re-dispatch to the operator).
Nothing in the dead process can report that, so every serving worker keeps its latest
snapshot next to its control socket (``<pid>.json``, replaced atomically every
``metrics_interval``) and removes it when it stops. A worker that starts and finds the
snapshot of a pid that no longer runs reports the loss once: a warning naming the pid, its
version and the calls that were live at its last snapshot, and a ``worker_lost`` event
(``openrtc_sessions_lost_total`` in Prometheus). The figure is as of that snapshot: calls
that started or ended in the last ``metrics_interval`` before the kill are not in it.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
from pathlib import Path

import attrs

from openrtc.call_states import WATCH_SUFFIX
from openrtc.control_socket import SUFFIX as SOCKET_SUFFIX
from openrtc.control_socket import files_by_pid, pid_alive
from openrtc.snapshot_file import SnapshotFileExporter

logger = logging.getLogger("openrtc.control")

SUFFIX = ".json"


@attrs.frozen
class LostWorker:
    pid: int
    version: str
    active: int
    """Sessions live at the worker's last snapshot."""
    per_agent: dict[str, int]
    """Of those, by agent."""
    snapshot_at: float
    """When that snapshot was taken (Unix time)."""


def last_snapshot_exporter(directory: Path) -> SnapshotFileExporter:
    """The exporter that keeps this worker's latest snapshot in ``directory``."""
    return SnapshotFileExporter(directory / f"{os.getpid()}{SUFFIX}")


def forget(exporter: SnapshotFileExporter) -> None:
    """A clean stop: the worker's last snapshot has nothing left to tell."""
    with contextlib.suppress(FileNotFoundError):
        exporter.path.unlink()


def _read(path: Path, pid: int) -> LostWorker | None:
    try:
        record = json.loads(path.read_text(encoding="utf-8"))
        per_agent = {
            str(name): int(stats.get("active", 0))
            for name, stats in (record.get("per_agent") or {}).items()
        }
        return LostWorker(
            pid=pid,
            version=str(record.get("deployment") or ""),
            active=int(record.get("active", 0)),
            per_agent={name: n for name, n in per_agent.items() if n},
            snapshot_at=float(record.get("timestamp", 0.0)),
        )
    except (OSError, ValueError, TypeError, AttributeError) as exc:
        logger.warning("unreadable snapshot %s left by a worker that is gone: %s", path, exc)
        return None


def find_lost(directory: Path) -> list[LostWorker]:
    """The workers whose last snapshot is in ``directory`` and whose process is gone; their
    snapshot and control socket are removed, so each loss is reported once. Call it before
    this worker writes its own snapshot there."""
    lost = []
    for pid, path in files_by_pid(directory, SUFFIX):
        # this worker's own pid: left by an earlier process that had it (a container
        # restarted after a kill runs its worker under the same pid), since this worker
        # writes its snapshot only after looking
        mine = pid == os.getpid()
        if not mine and pid_alive(pid):
            continue
        found = _read(path, pid)
        leftovers = [path, directory / f"{pid}{WATCH_SUFFIX}"]
        if not mine:
            leftovers.append(directory / f"{pid}{SOCKET_SUFFIX}")
        for leftover in leftovers:  # this worker's own socket is open already: kept
            with contextlib.suppress(FileNotFoundError):
                leftover.unlink()
        if found is not None:
            lost.append(found)
    return lost


def describe(lost: LostWorker) -> str:
    agents = ", ".join(f"{name} {n}" for name, n in sorted(lost.per_agent.items()))
    return (
        f"worker pid {lost.pid} (version {lost.version or 'unknown'}) ended without stopping: "
        f"{lost.active} calls were live at its last snapshot"
        + (f" ({agents})" if agents else "")
        + "; their callers lost the agent and LiveKit does not dispatch them again"
    )
