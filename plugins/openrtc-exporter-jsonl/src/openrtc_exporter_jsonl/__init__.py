"""Metrics as JSON Lines: one event or snapshot per line, written off the event loop."""

from openrtc_exporter_jsonl.exporter import JsonlExporter

__all__ = ["JsonlExporter"]
