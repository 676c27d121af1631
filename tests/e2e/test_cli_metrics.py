"""``openrtc dev --metrics-json-file ... --dashboard`` through the real command line and server.

The snapshot file must be valid JSON whenever it is read while the worker runs, and must hold
the final (draining) snapshot after SIGTERM; the dashboard draws the same counters.
"""

from __future__ import annotations

import asyncio
import json
import os
import signal
import sys
import textwrap
from pathlib import Path
from typing import Any

import pytest
from openrtc_testing.localserver import LocalLiveKitServer

pytestmark = pytest.mark.e2e

TIMEOUT = 60.0
APP = """
from openrtc_demo import AGENTS_DIR
from openrtc_providers_offline import offline_providers

from openrtc import AgentPool

stt, llm, tts = offline_providers()
pool = AgentPool(default_stt=stt, default_llm=llm, default_tts=tts, dispatch_name="metrics-cli")
pool.discover(AGENTS_DIR)

if __name__ == "__main__":
    pool.run()
"""


async def drain_stream(stream: asyncio.StreamReader, into: bytearray) -> None:
    """Keep reading: a worker whose pipe is full blocks on its next write."""
    while chunk := await stream.read(65536):
        into.extend(chunk)


def load_snapshot(path: Path) -> dict[str, Any] | None:
    if not path.exists():
        return None
    record: dict[str, Any] = json.loads(path.read_text(encoding="utf-8"))  # never partial
    return record


def directory_listing(path: Path) -> list[str]:
    return sorted(p.name for p in path.iterdir())


async def read_snapshots(path: Path, seen: list[dict[str, Any]], stop: asyncio.Event) -> None:
    while not stop.is_set():
        if (record := await asyncio.to_thread(load_snapshot, path)) is not None:
            seen.append(record)
        await asyncio.sleep(0.05)


async def test_dev_writes_the_snapshot_file_and_draws_the_dashboard(
    livekit_server: LocalLiveKitServer, tmp_path: Path
) -> None:
    app = tmp_path / "app.py"
    app.write_text(textwrap.dedent(APP), encoding="utf-8")
    snapshot_file = tmp_path / "out" / "snapshot.json"
    worker = await asyncio.create_subprocess_exec(
        sys.executable,
        str(app),
        "dev",
        "--url",
        livekit_server.url,
        "--api-key",
        livekit_server.api_key,
        "--api-secret",
        livekit_server.api_secret,
        "--metrics-json-file",
        str(snapshot_file),
        "--metrics-interval",
        "0.2",
        "--dashboard",
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
        env={**os.environ, "PYTHONUNBUFFERED": "1", "COLUMNS": "120"},
    )
    assert worker.stdout is not None and worker.stderr is not None
    out, err = bytearray(), bytearray()
    readers = [
        asyncio.create_task(drain_stream(worker.stdout, out)),
        asyncio.create_task(drain_stream(worker.stderr, err)),
    ]
    seen: list[dict[str, Any]] = []
    stop = asyncio.Event()
    watcher = asyncio.create_task(read_snapshots(snapshot_file, seen, stop))
    try:
        loop = asyncio.get_running_loop()
        deadline = loop.time() + TIMEOUT
        # a few rewrites read while the worker runs, each one whole
        while len({s["uptime_s"] for s in seen}) < 3:
            assert worker.returncode is None, (out + err).decode(errors="replace")[-3000:]
            assert loop.time() < deadline, "the snapshot file was not rewritten"
            await asyncio.sleep(0.1)
        assert all(s["schema"] == 1 and s["kind"] == "snapshot" for s in seen)
        assert not seen[-1]["draining"]
        worker.send_signal(signal.SIGTERM)
        code = await asyncio.wait_for(worker.wait(), TIMEOUT)
    finally:
        stop.set()
        await watcher
        if worker.returncode is None:
            worker.kill()
            await worker.wait()
        await asyncio.gather(*readers)
    output = (out + err).decode(errors="replace")
    assert code == 0, output[-3000:]
    final = load_snapshot(snapshot_file)
    assert final is not None
    assert final["draining"] is True and final["active"] == 0
    assert final["uptime_s"] >= seen[-1]["uptime_s"]
    assert directory_listing(snapshot_file.parent) == ["snapshot.json"]  # no temporary left
    dashboard = out.decode(errors="replace")
    assert "openrtc worker" in dashboard and "DRAINING" in dashboard  # the final view
    assert "registered" in dashboard  # log lines go through the dashboard's console
    for secret in (livekit_server.api_key, livekit_server.api_secret):
        assert secret not in output and secret not in json.dumps(final)
