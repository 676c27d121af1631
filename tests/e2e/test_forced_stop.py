"""A second SIGTERM stops the worker at once, and still every session gets its end record.

With a call live, the first SIGTERM starts the drain and the second stops the worker now: the
live session is cancelled. Its ``session_ended`` (outcome ``cancelled``) reaches the JSONL
file before the final snapshot, which counts it (``active 0``, ``cancelled 1``); then the
exporters close and stay closed (the Prometheus endpoint is opened once), and the log has no
unclosed HTTP session and no put to a closed event loop.
"""

from __future__ import annotations

import json
import signal
from pathlib import Path

import pytest
from openrtc_testing.apps import write_pool_app
from openrtc_testing.calls import ListeningCall
from openrtc_testing.dispatch import ServerAdmin
from openrtc_testing.env import free_tcp_port
from openrtc_testing.localserver import LocalLiveKitServer
from openrtc_testing.process import WorkerProcess

pytestmark = pytest.mark.e2e

NAME = "forced-stop-e2e"
TIMEOUT = 90.0
BENCHMARKS = Path(__file__).resolve().parents[1] / "benchmarks"
MODES = {
    "coroutine": (),
    "process": ("--isolation", "process"),
    "hybrid": ("--isolation", "hybrid"),
}


@pytest.mark.parametrize("mode", list(MODES))
async def test_a_second_sigterm_still_ends_every_session_before_the_final_snapshot(
    livekit_server: LocalLiveKitServer, livekit_admin: ServerAdmin, tmp_path: Path, mode: str
) -> None:
    from openrtc_demo import AGENTS_DIR

    app = tmp_path / "app.py"
    write_pool_app(app, dispatch_name=NAME, import_paths=(BENCHMARKS,))
    jsonl = tmp_path / "events.jsonl"
    serving = WorkerProcess(
        app,
        livekit_server,
        str(AGENTS_DIR),
        *("--metrics-jsonl", str(jsonl), "--prometheus-port", str(free_tcp_port())),
        *("--drain-timeout", "120"),
        *MODES[mode],
    )
    call: ListeningCall | None = None
    try:
        await serving.start()
        await serving.wait_for_line("registered", TIMEOUT)
        call = await ListeningCall(livekit_server, livekit_admin, NAME, prefix="forced").start()
        assert call.error is None, (call.error, serving.tail())

        serving.send_signal(signal.SIGTERM)
        await serving.wait_for_line("draining", TIMEOUT)
        serving.send_signal(signal.SIGTERM)
        assert await serving.wait(TIMEOUT) == 1, serving.tail()
    finally:
        if call is not None:
            await call.end()
        await serving.stop()

    records = [json.loads(line) for line in jsonl.read_text(encoding="utf-8").splitlines()]
    ends = [i for i, r in enumerate(records) if r["kind"] == "session_ended"]
    assert len(ends) == 1, records
    end = records[ends[0]]
    assert (end["outcome"], end["agent"]) == ("cancelled", "dental"), end
    final = records[-1]
    assert final["kind"] == "snapshot", final
    assert ends[0] < len(records) - 1
    counts = {k: final[k] for k in ("active", "started", "succeeded", "failed", "cancelled")}
    assert counts == {"active": 0, "started": 1, "succeeded": 0, "failed": 0, "cancelled": 1}

    log = "".join(serving.log)
    assert log.count("prometheus metrics on") == 1, serving.tail()
    assert "Unclosed client session" not in log, serving.tail()
    assert "Event loop is closed" not in log, serving.tail()
