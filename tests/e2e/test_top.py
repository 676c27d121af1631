"""``openrtc top`` against a live worker: a live call's row appears with its turns and last
wait, and goes when the caller hangs up. The worker is started from the command line; the
view is read with ``openrtc top --json`` as a script would, and once in a real terminal (tmux)
as a person would."""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest
from openrtc_demo import AGENTS_DIR
from openrtc_testing.apps import write_pool_app
from openrtc_testing.caller import greeted_caller
from openrtc_testing.dispatch import ServerAdmin
from openrtc_testing.localserver import LocalLiveKitServer
from openrtc_testing.plugin import CallerFactory
from openrtc_testing.process import WorkerProcess
from openrtc_testing.terminal import TmuxPane

pytestmark = pytest.mark.e2e

REPO = Path(__file__).resolve().parents[2]
BENCHMARKS = REPO / "tests" / "benchmarks"
SPEECH = REPO / "tests" / "data" / "hello_appointment_16k.wav"
NAME = "openrtc-e2e-top"
TIMEOUT = 90.0


def top_json(control_dir: Path) -> dict[str, Any]:
    done = subprocess.run(
        [sys.executable, "-m", "openrtc.cli", "top", "--json", "--control-dir", str(control_dir)],
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    reading: dict[str, Any] = json.loads(done.stdout)
    return reading


async def rows_until(control_dir: Path, wanted: Any, within_s: float = 30.0) -> dict[str, Any]:
    """Read ``top --json`` until ``wanted(reading)`` holds; the last reading either way."""
    deadline = time.monotonic() + within_s
    while True:
        reading = await asyncio.to_thread(top_json, control_dir)
        if wanted(reading) or time.monotonic() > deadline:
            return reading
        await asyncio.sleep(0.5)


@pytest.mark.parametrize("isolation", ["coroutine", "process", "hybrid"])
async def test_top_shows_a_live_call_and_drops_it_after_the_hang_up(
    livekit_server: LocalLiveKitServer,
    livekit_admin: ServerAdmin,
    caller_factory: CallerFactory,
    tmp_path: Path,
    control_dir: Path,
    isolation: str,
) -> None:
    app = write_pool_app(tmp_path / "app.py", dispatch_name=NAME, import_paths=(BENCHMARKS,))
    worker = WorkerProcess(
        app,
        livekit_server,
        str(AGENTS_DIR),
        *("--isolation", isolation, "--control-dir", str(control_dir)),
        *("--deployment-version", "v7"),
        env={"OPENRTC_DISABLE_PLUGINS": "openrtc-exporter-prometheus"},
    )
    try:
        await worker.start()
        await worker.wait_for_line("registered (", TIMEOUT)
        caller, agent = await greeted_caller(
            livekit_admin, caller_factory, NAME, prefix="top", timeout_s=TIMEOUT
        )
        await asyncio.sleep(4.0)  # the greeting plays out
        await caller.take_turn(SPEECH, agent.identity, TIMEOUT, plays_s=0.0)

        def one_turn(reading: dict[str, Any]) -> bool:
            rows = [s for w in reading["workers"] for s in w["sessions"]]
            return len(rows) == 1 and rows[0]["turns"] == 1 and rows[0]["state"] == "listening"

        during = await rows_until(control_dir, one_turn)
        assert during["schema"] == "openrtc.top/1"
        [serving] = during["workers"]
        assert (serving["pid"], serving["version"]) == (worker.proc.pid, "v7"), serving
        assert serving["isolation"] == isolation and serving["registered"], serving
        [row] = serving["sessions"]
        assert row["agent"] == "dental" and row["room"] == caller.room_name, row
        assert row["turns"] == 1 and row["last_turn_latency_s"] > 0, row
        # the reply played out: the agent listens again (read in the worker, reported by the
        # job process once top watches)
        assert row["state"] == "listening", row
        assert serving["turns"]["dental"]["turns"] == 1, serving["turns"]

        await caller.leave()
        after = await rows_until(
            control_dir, lambda r: not [s for w in r["workers"] for s in w["sessions"]]
        )
        assert [w["sessions"] for w in after["workers"]] == [[]], after
    finally:
        await worker.stop()
        worker.save_log(tmp_path / "worker.log")


async def test_the_live_view_in_a_real_terminal(
    livekit_server: LocalLiveKitServer,
    livekit_admin: ServerAdmin,
    caller_factory: CallerFactory,
    tmp_path: Path,
    control_dir: Path,
) -> None:
    """``openrtc top`` as a person runs it, in a terminal (tmux): the call's row appears, the
    agent filter hides and shows it, the hang-up removes it, ``q`` quits."""
    app = write_pool_app(tmp_path / "app.py", dispatch_name=NAME, import_paths=(BENCHMARKS,))
    worker = WorkerProcess(
        app,
        livekit_server,
        str(AGENTS_DIR),
        *("--control-dir", str(control_dir), "--deployment-version", "v9"),
        env={"OPENRTC_DISABLE_PLUGINS": "openrtc-exporter-prometheus"},
    )
    top = [sys.executable, "-m", "openrtc.cli", "top", "--control-dir", str(control_dir)]
    pane = TmuxPane([*top, "--interval", "0.5"])
    try:
        await worker.start()
        await worker.wait_for_line("registered (", TIMEOUT)
        pane.open()
        await pane.wait_for(f"pid {worker.proc.pid}  version v9")
        caller, _agent = await greeted_caller(
            livekit_admin, caller_factory, NAME, prefix="tmux", timeout_s=TIMEOUT
        )
        room = caller.room_name
        shown = await pane.wait_for(room)
        [row] = [line for line in shown.splitlines() if room in line]
        assert "dental" in row and str(worker.proc.pid) in row, shown

        pane.send_keys("a", "restaurant", "Enter")
        await pane.wait_for("calls of 'restaurant'", gone=room)
        pane.send_keys("Escape")
        await pane.wait_for(room)

        await caller.leave()
        await pane.wait_for("every call", gone=room)
        pane.send_keys("q")
        await pane.wait_closed()
    finally:
        pane.close()
        (tmp_path / "screens.txt").write_text("\n----\n".join(pane.screens[-20:]))
        await worker.stop()
        worker.save_log(tmp_path / "worker.log")
