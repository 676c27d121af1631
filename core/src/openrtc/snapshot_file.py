"""The ``metrics_json_file`` exporter: one JSON file that always holds the latest snapshot.

Other programs (a health check, a node-exporter textfile script, a shell loop with ``jq``) read
the file at any moment, so it is replaced atomically: the record is written to a temporary file
in the same directory and renamed over the target, and a reader sees the old or the new
snapshot, never part of one. The writing happens on a thread; the event loop only hands over
the latest record, and a record that is superseded before it is written is simply skipped.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import tempfile
import threading
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from openrtc.events import MetricsEvent, RuntimeSnapshot

logger = logging.getLogger("openrtc.snapshot_file")


def write_atomically(path: Path, text: str) -> None:
    """Replace ``path`` with ``text`` so that readers see either the old or the new content."""
    # same directory: os.replace is only atomic within one file system
    fd, temporary = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as stream:
            stream.write(text)
            stream.flush()
            # without it a crash right after the rename can leave an empty file behind
            os.fsync(stream.fileno())
        os.chmod(temporary, 0o644)  # mkstemp makes it private; a snapshot holds no secrets
        os.replace(temporary, path)
    except BaseException:  # remove the temporary file, then re-raise unchanged
        with contextlib.suppress(FileNotFoundError):
            os.unlink(temporary)
        raise


def snapshot_document(snapshot: RuntimeSnapshot) -> str:
    return json.dumps(snapshot.as_record(), indent=2, default=str) + "\n"


class SnapshotFileExporter:
    name = "snapshot-file"

    def __init__(self, path: Path) -> None:
        self.path = path
        self.written = 0
        self._pending: RuntimeSnapshot | None = None
        self._closing = False
        self._lock = threading.Lock()
        self._wake = threading.Event()
        # started on the first snapshot: registration hooks must stay free of side effects
        self._thread: threading.Thread | None = None
        self._last_error: str | None = None

    def export_event(self, event: MetricsEvent) -> None:
        """Events are not kept: the file holds state, not history (see the JSONL exporter)."""

    def export_snapshot(self, snapshot: RuntimeSnapshot) -> None:
        with self._lock:
            if self._closing:
                return
            self._pending = snapshot
        if self._thread is None:
            self._thread = threading.Thread(
                target=self._write_loop, name="openrtc-snapshot-file", daemon=True
            )
            self._thread.start()
        self._wake.set()

    def close(self) -> None:
        """Write what is pending (the final snapshot), then stop the writer."""
        with self._lock:
            self._closing = True
        if self._thread is None:
            return
        self._wake.set()
        self._thread.join(timeout=10)
        if self._thread.is_alive():
            logger.warning("metrics_json_file: %s is still being written at exit", self.path)

    def _take(self) -> tuple[RuntimeSnapshot | None, bool]:
        with self._lock:
            snapshot, self._pending = self._pending, None
            return snapshot, self._closing

    def _write_loop(self) -> None:
        while True:
            self._wake.wait()
            self._wake.clear()
            snapshot, closing = self._take()
            if snapshot is not None:
                self._write(snapshot)
            if closing:
                return

    def _write(self, snapshot: RuntimeSnapshot) -> None:
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            write_atomically(self.path, snapshot_document(snapshot))
        except OSError as exc:
            problem = f"{type(exc).__name__}: {exc}"
            if problem != self._last_error:  # one line per distinct problem, not per interval
                logger.error(
                    "metrics_json_file: cannot write %s (%s); point --metrics-json-file at a "
                    "writable path",
                    self.path,
                    problem,
                )
            self._last_error = problem
            return
        self._last_error = None
        self.written += 1


def exporters_for(settings: Mapping[str, Any]) -> list[SnapshotFileExporter]:
    """The exporter the ``metrics_json_file`` setting asks for, if any."""
    path = settings["metrics_json_file"]
    return [SnapshotFileExporter(Path(path))] if path else []
