from __future__ import annotations

from pathlib import Path

from openrtc.plugin import MetricsExporter, Setting, Settings, hookimpl
from openrtc_exporter_jsonl.exporter import JsonlExporter

PATH = Setting(
    "metrics_jsonl",
    "str",
    "",
    "Append metrics events and snapshots to this JSON Lines file (empty: off).",
)


@hookimpl
def openrtc_settings() -> list[Setting]:
    return [PATH]


@hookimpl
def openrtc_metrics_exporters(settings: Settings) -> list[MetricsExporter]:
    path = settings[PATH.name]
    return [JsonlExporter(Path(path))] if path else []
