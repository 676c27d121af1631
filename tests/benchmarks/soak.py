"""Soak: many short calls against one worker; does it keep anything once they ended?

Starts a livekit-server and one worker (cloud-like providers, ``--isolation`` as given) and
runs ``--calls`` listening calls, ``--concurrency`` at a time, each held ``--hold`` seconds.
Between batches of ``--sample-every`` calls, once nothing is live, it samples the worker: RSS,
threads, open file descriptors, child processes, asyncio tasks, loop lag p99. It prints the
samples and compares the last one with the first after warm-up (the first batch): RSS drift
under 5 %, no more tasks, threads, fds or child processes; and the worker's own counters:
``started`` = ``succeeded`` + ``failed`` + ``cancelled``, nothing active.

Usage:
    uv run --all-packages python tests/benchmarks/soak.py [--calls 1000] [--concurrency 10]
        [--hold 2] [--sample-every 250] [--isolation coroutine]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import sys
import tempfile
from pathlib import Path
from typing import Any

import attrs
from openrtc_testing.apps import write_pool_app
from openrtc_testing.dispatch import ServerAdmin
from openrtc_testing.localserver import LocalLiveKitServer
from openrtc_testing.process import WorkerProcess
from openrtc_testing.soak import COUNTED, SLACK, SoakResult, soak, thread_names

NAME = "soak"
HERE = Path(__file__).resolve().parent


def verdicts(result: SoakResult, snapshot: dict[str, Any]) -> list[tuple[str, bool]]:
    warm, last = result.warm, result.samples[-1]
    drift = (last.rss_mib - warm.rss_mib) / warm.rss_mib
    ended = snapshot["succeeded"] + snapshot["failed"] + snapshot.get("cancelled", 0)
    found = [
        (f"RSS after warm-up {warm.rss_mib} -> {last.rss_mib} MiB, {drift:+.1%}", drift < 0.05),
        (f"started {snapshot['started']} = ended {ended}", snapshot["started"] == ended),
        (f"active at the end: {snapshot['active']}", snapshot["active"] == 0),
    ]
    grew = result.grew()
    for name in COUNTED:
        before, after = getattr(warm, name), getattr(last, name)
        slack = f" (up to +{SLACK[name]} allowed)" if name in SLACK else ""
        found.append((f"{name} after warm-up {before} -> {after}{slack}", name not in grew))
    return found


async def run(args: argparse.Namespace) -> int:
    from openrtc_demo import AGENTS_DIR

    tmp = Path(tempfile.mkdtemp(prefix="soak-"))
    control = Path(tempfile.mkdtemp(prefix="ortc-")) / "control"
    app = tmp / "app.py"
    write_pool_app(app, dispatch_name=NAME, import_paths=(HERE,))
    server = LocalLiveKitServer().start()
    worker = WorkerProcess(
        app,
        server,
        str(AGENTS_DIR),
        *("--isolation", args.isolation, "--control-dir", str(control)),
        snapshot_file=tmp / "snapshot.json",
        env={
            "OPENRTC_DISABLE_PLUGINS": os.environ.get(
                "SOAK_DISABLE", "openrtc-exporter-prometheus"
            ),
            # a soak counts what calls leave behind: the guard's lag signal, which a moment's
            # CPU starvation on a shared host trips (LiveKit then drops calls), is off unless
            # SOAK_LOOP_LAG_MS says otherwise
            "OPENRTC_OVERLOAD_LOOP_LAG_MS": os.environ.get("SOAK_LOOP_LAG_MS", "0"),
        },
    )
    admin = ServerAdmin(server)
    try:
        await worker.start()
        await worker.wait_for_line("registered", 120)
        result = await soak(
            server,
            admin,
            agent_name=NAME,
            worker_pid=worker.pid,
            control_socket=control / f"{worker.pid}.sock",
            calls=args.calls,
            concurrency=args.concurrency,
            hold_s=args.hold,
            sample_every=args.sample_every,
        )
        await asyncio.sleep(1.0)  # one more snapshot file, written after the last call ended
        snapshot = worker.snapshot() or {}
        threads = thread_names(worker.pid)
    finally:
        await admin.aclose()
        await worker.stop()
        worker.save_log(tmp / "worker.log")
        (tmp / "livekit-server.log").write_text(server.log_path.read_text(errors="replace"))
        server.stop()
        print(f"logs in {tmp}", file=sys.stderr)
    print(json.dumps([attrs.asdict(s) for s in result.samples], indent=1))
    print(f"failed calls: {len(result.failed_calls)} {result.failed_calls[:3]}")
    print(f"calls waited {result.waited_full_s:.1f} s in all while the worker reported full")
    print(f"threads at the end by name: {threads}")
    ok = not result.failed_calls
    for line, passed in verdicts(result, snapshot):
        print(("PASS " if passed else "FAIL ") + line)
        ok = ok and passed
    return 0 if ok else 1


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--calls", type=int, default=1000)
    parser.add_argument("--concurrency", type=int, default=10)
    parser.add_argument("--hold", type=float, default=2.0)
    parser.add_argument("--sample-every", type=int, default=250)
    parser.add_argument("--isolation", default="coroutine")
    sys.exit(asyncio.run(run(parser.parse_args())))


if __name__ == "__main__":
    main()
