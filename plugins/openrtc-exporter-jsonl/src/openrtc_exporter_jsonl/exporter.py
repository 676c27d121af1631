"""A bounded queue feeds a writer thread, so exporting never blocks the event loop.

When the queue is full the record is dropped and counted; the count is written as a
``dropped`` record as soon as there is room again, so a reader can tell data is missing.
"""

from __future__ import annotations

import json
import logging
import queue
import threading
from pathlib import Path
from typing import Any

from openrtc.plugin import SCHEMA_VERSION, MetricsEvent, RuntimeSnapshot

logger = logging.getLogger("openrtc.exporter.jsonl")

_STOP = object()


class JsonlExporter:
    name = "jsonl"

    def __init__(self, path: Path, *, max_pending: int = 10_000) -> None:
        self.path = path
        self.dropped = 0
        self._unreported_drops = 0
        self._queue: queue.Queue[object] = queue.Queue(maxsize=max_pending)
        # started on the first record: registration hooks must stay free of side effects
        self._thread: threading.Thread | None = None

    def _offer(self, record: dict[str, Any]) -> None:
        if self._thread is None:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            self._thread = threading.Thread(
                target=self._write_loop, name="openrtc-jsonl", daemon=True
            )
            self._thread.start()
        if self._unreported_drops:
            drop = {"schema": SCHEMA_VERSION, "kind": "dropped", "count": self._unreported_drops}
            try:
                self._queue.put_nowait(drop)
                self._unreported_drops = 0
            except queue.Full:
                pass  # still full: the count keeps growing and is reported later
        try:
            self._queue.put_nowait(record)
        except queue.Full:
            self.dropped += 1
            self._unreported_drops += 1

    def export_event(self, event: MetricsEvent) -> None:
        self._offer(event.as_record())

    def export_snapshot(self, snapshot: RuntimeSnapshot) -> None:
        self._offer(snapshot.as_record())

    def close(self) -> None:
        if self._thread is None:
            return
        self._queue.put(_STOP)
        self._thread.join(timeout=5)
        if self.dropped:
            logger.warning("jsonl exporter dropped %d records (queue full)", self.dropped)

    def _write_loop(self) -> None:
        with self.path.open("a", encoding="utf-8") as stream:
            while True:
                item = self._queue.get()
                if item is _STOP:
                    return
                stream.write(json.dumps(item, separators=(",", ":"), default=str) + "\n")
                if self._queue.empty():
                    stream.flush()
