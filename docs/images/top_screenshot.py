"""Make docs/images/top.png: ``openrtc top`` over a real worker with four live calls.

Starts a livekit-server and one worker (coroutine isolation; cloud-like providers: a scripted
transcript, the offline LLM, pre-rendered audio), dials four callers (two per agent), has
three of them speak once so their turns and waits show, then runs the live view headless at
120x16, saves Textual's SVG screenshot and turns it into a PNG with cairosvg (not a project
dependency: ``--with cairosvg`` below; it needs the cairo library, Debian's libcairo2), set in
DejaVu Sans Mono where the SVG asks for Fira Code, which is rarely installed.

Usage:
    uv run --all-packages --with cairosvg python docs/images/top_screenshot.py
        [--out docs/images/top.png]
"""

from __future__ import annotations

import argparse
import asyncio
import tempfile
from collections.abc import Awaitable
from pathlib import Path

from openrtc_demo import AGENTS_DIR
from openrtc_testing.apps import write_pool_app
from openrtc_testing.caller import Caller, greeted_caller
from openrtc_testing.dispatch import ServerAdmin
from openrtc_testing.localserver import LocalLiveKitServer
from openrtc_testing.process import WorkerProcess
from openrtc_testing.server_binary import find_server_binary

from openrtc.cli.top import read_workers_async
from openrtc.cli.top_app import TopApp

REPO = Path(__file__).resolve().parents[2]
BENCHMARKS = REPO / "tests" / "benchmarks"
SPEECH = REPO / "tests" / "data" / "hello_appointment_16k.wav"
NAME = "top-screenshot"
TIMEOUT = 120.0


async def call(server: LocalLiveKitServer, admin: ServerAdmin, agent: str, speak: bool) -> Caller:
    def join(room: str) -> Awaitable[Caller]:
        return Caller(server, room).join()

    caller, participant = await greeted_caller(
        admin, join, NAME, agent=agent, prefix=f"call-{agent}", timeout_s=TIMEOUT
    )
    if speak:
        await asyncio.sleep(4.0)  # the greeting plays out
        await caller.take_turn(SPEECH, participant.identity, TIMEOUT, plays_s=0.0)
    return caller


async def screenshot(control_dir: Path, svg: Path) -> None:
    app = TopApp(lambda: read_workers_async(control_dir), interval=1.0)
    async with app.run_test(size=(120, 16)) as pilot:
        await pilot.pause(2.5)
        app.save_screenshot(filename=svg.name, path=str(svg.parent))


async def main(out: Path) -> None:
    server = await asyncio.to_thread(LocalLiveKitServer(find_server_binary()).start)
    admin = ServerAdmin(server)
    with tempfile.TemporaryDirectory(prefix="top-png-") as tmp:
        control_dir = Path(tmp) / "control"
        app = write_pool_app(Path(tmp) / "app.py", dispatch_name=NAME, import_paths=(BENCHMARKS,))
        worker = WorkerProcess(
            app,
            server,
            str(AGENTS_DIR),
            *("--control-dir", str(control_dir), "--deployment-version", "v1.4.2"),
            env={"OPENRTC_DISABLE_PLUGINS": "openrtc-exporter-prometheus"},
        )
        callers: list[Caller] = []
        try:
            await worker.start()
            await worker.wait_for_line("registered (", TIMEOUT)
            plan = [("dental", True), ("restaurant", True), ("dental", True), ("restaurant", False)]
            for agent, speak in plan:  # one after the other: the ages differ
                callers.append(await call(server, admin, agent, speak))
            await asyncio.sleep(3.0)  # the last reply plays out: every call listens again
            svg = out.with_suffix(".svg")
            await screenshot(control_dir, svg)
        finally:
            for caller in callers:
                await caller.leave()
            await worker.stop()
            await admin.aclose()
            await asyncio.to_thread(server.stop)
    import cairosvg

    text = svg.read_text(encoding="utf-8").replace("Fira Code, monospace", "DejaVu Sans Mono")
    cairosvg.svg2png(bytestring=text.encode(), write_to=str(out), output_width=1400)
    svg.unlink()
    print(f"wrote {out}")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=REPO / "docs" / "images" / "top.png")
    asyncio.run(main(parser.parse_args().out.resolve()))
