"""Time and resident memory a model load costs, so operators see what prewarm bought."""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import contextmanager

import attrs

from openrtc.plugin import current_rss_bytes


@attrs.define
class LoadRecord:
    what: str
    """Which model, e.g. ``"vad local"``."""
    model: str
    """The class or model name that was loaded."""
    seconds: float = 0.0
    rss_added_bytes: int | None = None

    def describe(self) -> str:
        rss = (
            f"{self.rss_added_bytes / 2**20:+.1f} MiB RSS"
            if self.rss_added_bytes is not None
            else "RSS unknown"
        )
        return f"{self.what} ({self.model}) in {self.seconds * 1000:.0f} ms, {rss}"


@contextmanager
def measured(what: str, model: str) -> Iterator[LoadRecord]:
    """Fill a ``LoadRecord`` with the wall time and RSS growth of the block it wraps."""
    record = LoadRecord(what=what, model=model)
    rss_before = current_rss_bytes()
    started = time.perf_counter()
    yield record
    record.seconds = time.perf_counter() - started
    rss_after = current_rss_bytes()
    if rss_before is not None and rss_after is not None:
        record.rss_added_bytes = rss_after - rss_before
