"""Periodic runtime snapshots for metrics exporters.

Events say what happened; snapshots say where the worker stands (gauges such as live sessions
and memory), so exporters that show state (snapshot file, dashboard, Prometheus gauges) get one
every ``metrics_interval`` seconds on the worker's loop, and one more when the worker stops so
the last view they keep is the final one.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Sequence

from openrtc.events import RuntimeSnapshot
from openrtc.strategies import MetricsExporter

logger = logging.getLogger("openrtc.snapshots")


def export_snapshot(exporters: Sequence[MetricsExporter], snapshot: RuntimeSnapshot) -> None:
    """Hand ``snapshot`` to every exporter; one exporter's bug never stops the others."""
    for exporter in exporters:
        try:
            exporter.export_snapshot(snapshot)
        except Exception:  # an exporter bug must never fail the worker; it is logged loudly
            logger.exception("metrics exporter '%s' failed on a snapshot", exporter.name)


class SnapshotTicker:
    """Sends ``take()`` to the exporters now, every ``interval`` seconds, and once at ``stop``."""

    def __init__(
        self,
        take: Callable[[], RuntimeSnapshot],
        exporters: Sequence[MetricsExporter],
        interval: float,
    ) -> None:
        if interval <= 0:
            raise ValueError(f"metrics_interval must be positive, got {interval!r}")
        self._take = take
        self._exporters = list(exporters)
        self._interval = interval
        self._task: asyncio.Task[None] | None = None
        self.sent = 0

    @property
    def running(self) -> bool:
        return self._task is not None and not self._task.done()

    def start(self) -> None:
        """Start ticking on the running loop; without exporters there is nothing to do."""
        if self._task is not None or not self._exporters:
            return
        self._task = asyncio.get_running_loop().create_task(self._tick(), name="openrtc-snapshots")

    def stop(self) -> None:
        """Stop ticking and send the final snapshot.

        Synchronous on purpose: it runs in the worker's ``finally``, possibly while that task
        is being cancelled, where awaiting again could be interrupted before the last export.
        """
        if self._task is None:
            return
        self._task.cancel()
        self._task = None
        self._send()

    def _send(self) -> None:
        try:
            snapshot = self._take()
        except Exception:  # counters are plain Python; a failure here is a kernel bug to log
            logger.exception("could not take a runtime snapshot")
            return
        export_snapshot(self._exporters, snapshot)
        self.sent += 1

    async def _tick(self) -> None:
        while True:
            self._send()
            await asyncio.sleep(self._interval)
