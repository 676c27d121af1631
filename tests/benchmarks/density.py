"""Density: worker memory and latency with N live voice sessions against a real LiveKit server.

For every N, implementation and isolation mode, a fresh worker process starts against a local
livekit-server and settles; then N callers (in a process of their own) each dispatch it into
a room of their own, publish real speech through WebRTC and listen for the greeting and the
reply. Every session is a real ``AgentSession`` (VAD, end-of-turn model, offline STT/LLM/TTS).
The worker's whole process tree is sampled every 0.5 s: marginal memory per session =
(peak - idle) / N. A larger N is skipped once the last one served under half its calls, or
would pass ``--max-rss-gb``; a mode that does not start is recorded, not fatal.

Implementations: ``openrtc`` (this workspace, default prewarm: local Silero VAD and the local
end-of-turn model v1-mini), ``openrtc-silero`` (this workspace with the reference's models:
livekit-plugins-silero VAD and v1-mini) and ``reference`` (PyPI openrtc 0.20.1 in a virtualenv
of its own, built with uv; v1-mini replaces its multilingual end-of-turn model, which cannot
load offline).

Usage (as root: like the test suite it moves into a private network namespace, because WebRTC
media does not flow over plain loopback; matplotlib only for --plot):
    uv run --all-packages --with matplotlib python tests/benchmarks/density.py \
        [--sessions 1,10,25,50] [--modes coroutine,process] \
        [--impls openrtc,openrtc-silero,reference] [--max-rss-gb 16] \
        [--json out.json] [--plot out.png] [--markdown out.md] [--from-json out.json]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import psutil
from density_agents import PROFILES
from density_reference import (
    ReferenceEnv,
    ReferenceUnavailable,
    ensure_reference,
    installed_versions,
)
from density_report import markdown, plot, ratios, slopes, table
from density_run import MiB, RunConfig, log_counts, measure_run
from density_worker_process import WorkerLaunch
from openrtc_testing.localserver import NO_WORKER_AVAILABLE

HERE = Path(__file__).resolve().parent
REPO = HERE.parents[1]
SPEECH = REPO / "tests" / "data" / "hello_appointment_16k.wav"
MODES = ("coroutine", "process", "hybrid")
MIN_SERVED_FRACTION = 0.5
IMPLEMENTATIONS = {
    "openrtc": "this workspace; default prewarm: local Silero VAD + local end-of-turn v1-mini",
    "openrtc-silero": "this workspace; livekit-plugins-silero VAD + local end-of-turn v1-mini",
    "openrtc-lk-defaults": (
        "this workspace with livekit-agents' own session defaults (openrtc-session-defaults "
        "blocked: 24 kHz input, gain control on; the VAD on a thread per session)"
    ),
    "openrtc-uvloop": "this workspace on uvloop's event loop (run with `uv run --with uvloop`)",
    "reference": (
        "PyPI openrtc {version} in its own virtualenv; its defaults (livekit-plugins-silero VAD "
        "shared by all sessions) except end-of-turn: local v1-mini instead of the multilingual "
        "model, whose files need a download"
    ),
}
OUR_PACKAGES = (
    "openrtc-core",
    "livekit-agents",
    "livekit",
    "livekit-plugins-silero",
    "livekit-local-inference",
    "onnxruntime",
)


def _csv(kind: type, choices: tuple[str, ...] | None = None) -> Any:
    def parse(text: str) -> list[Any]:
        items = [part.strip() for part in text.split(",") if part.strip()]
        try:
            values = [kind(item) for item in items]
        except ValueError:
            raise argparse.ArgumentTypeError(f"{text!r} is not a comma-separated list") from None
        if not values:
            raise argparse.ArgumentTypeError("give at least one value")
        if choices is not None and (bad := [v for v in values if v not in choices]):
            raise argparse.ArgumentTypeError(f"unknown {bad}; choose from {', '.join(choices)}")
        if kind is int and min(values) < 1:
            raise argparse.ArgumentTypeError("session counts start at 1")
        return values

    return parse


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    add = parser.add_argument
    add("--sessions", type=_csv(int), default=[1, 10, 25, 50], help="N values, e.g. 1,10,25,50")
    add("--modes", type=_csv(str, MODES), default=list(MODES), help="isolation modes")
    add("--impls", type=_csv(str, tuple(IMPLEMENTATIONS)), default=list(IMPLEMENTATIONS))
    add("--reference-version", default="0.20.1", help="PyPI openrtc version to compare")
    add("--max-rss-gb", type=float, default=16.0, help="stop a run whose worker tree passes this")
    add(
        "--providers",
        choices=PROFILES,
        default="offline",
        help="offline: STT/TTS on the worker's CPU; media: near-free STT/LLM/TTS, the worker's "
        "cost is the media (VAD, end-of-turn model, audio in and out), as with cloud providers",
    )
    add("--turns", type=int, default=1, help="times each caller speaks and waits for a reply")
    add("--hold-s", type=float, default=10.0, help="all sessions live together this long")
    add("--settle-s", type=float, default=5.0, help="minimum idle time before the calls")
    add("--timeout-s", type=float, default=120.0, help="per wait: agent, greeting, reply")
    add("--dispatch-interval-s", type=float, default=0.2, help="pause between dispatches")
    add("--register-timeout-s", type=float, default=300.0, help="worker start + prewarm limit")
    add("--json", type=Path, help="write every result, with each call, to this file")
    add("--plot", type=Path, help="write a PNG plot here (needs matplotlib)")
    add("--markdown", type=Path, help="write the results table as Markdown here")
    add("--workdir", type=Path, help="worker logs (default: a new temporary directory)")
    add("--host-network", action="store_true", help="do not enter a private network namespace")
    add("--from-json", type=Path, help="no run: print and plot the results of an earlier --json")
    args = parser.parse_args(argv)
    if args.turns < 0 or args.hold_s < 0 or args.max_rss_gb <= 0:
        parser.error("--turns and --hold-s must be >= 0 and --max-rss-gb > 0")
    args.sessions = sorted(set(args.sessions))
    return args


def enter_private_network(host_network: bool) -> str:
    from openrtc_testing.testbed import prepare_test_bed

    def announce(line: str) -> None:
        print(line, file=sys.stderr, flush=True)

    # the server is obtained (built on a first run) before the network is isolated
    bed = prepare_test_bed(isolate=not host_network, announce=announce)
    if bed.server_binary is None:
        sys.exit(f"error: {bed.server_error}")
    if not bed.isolated and not host_network:
        print(f"warning: media may not flow in the {bed.network}", file=sys.stderr)
    return bed.network


def launch_for(
    impl: str,
    mode: str,
    server: Any,
    cap: int,
    reference: ReferenceEnv | None,
    providers: str = "offline",
) -> WorkerLaunch:
    env = {**os.environ, "PYTHONUNBUFFERED": "1", "HF_HUB_OFFLINE": "1", **server.env()}
    env["DENSITY_PROVIDERS"] = providers
    if impl == "reference":
        assert reference is not None
        env.update(PYTHONPATH=str(HERE), DENSITY_ISOLATION=mode, DENSITY_MAX_SESSIONS=str(cap))
        command = [str(reference.python), str(HERE / "density_worker_reference.py"), "start"]
        return WorkerLaunch(impl, mode, command, env, HERE)
    command = [sys.executable, str(HERE / "density_worker.py"), "start", "--log-level", "INFO"]
    command += ["--isolation", mode, "--max-concurrent-sessions", str(cap)]
    if impl == "openrtc-silero":
        command += ["--prewarm-vad", "silero", "--prewarm-turn-detector", "local"]
    if impl == "openrtc-lk-defaults":
        env["OPENRTC_DISABLE_PLUGINS"] = "openrtc-session-defaults"
        command += ["--prewarm-vad-inference", "thread"]
    if impl == "openrtc-uvloop":
        env["DENSITY_LOOP"] = "uvloop"
    return WorkerLaunch(impl, mode, command, env, HERE)


def _skip_reason(previous: dict[str, Any] | None, n: int, limit_mib: float) -> str | None:
    """Why this implementation and mode should not try ``n`` sessions, after ``previous``."""
    if previous is None:
        return None
    if previous["status"] == "skipped":
        return str(previous["error"])
    if previous["status"] != "ok":
        return f"skipped: N={previous['sessions']} ended {previous['status']}"
    if previous.get("served", 0) < MIN_SERVED_FRACTION * previous["sessions"]:
        # on a saturated host more calls only make every call worse, and take long to fail
        return (
            f"skipped: N={previous['sessions']} served only "
            f"{previous.get('served', 0)}/{previous['sessions']} calls"
        )
    if previous.get("marginal_rss_mib") is None:
        return None
    predicted = previous["idle_rss_mib"] + previous["marginal_rss_mib"] * n * 1.2
    if predicted > limit_mib:
        return f"skipped: predicted {predicted / 1024:.1f} GiB (+20%) passes --max-rss-gb"
    return None


def dispatch_refusals(row: dict[str, Any], server_log: str) -> int:
    """Dispatches of this run the server could not place on the worker, from the server log.

    The server logs "no worker available to handle job" with the room when the worker it
    offered the job to answered "unavailable" (livekit's load at its load_threshold) and no
    other worker was there.
    """
    rooms = {f'"room": "{call["room"]}"' for call in row.get("calls", []) if "room" in call}
    return sum(
        NO_WORKER_AVAILABLE in line and any(room in line for room in rooms)
        for line in server_log.splitlines()
    )


def _server_log(server: Any) -> str:
    return str(server.log_path.read_text(encoding="utf-8", errors="replace"))


async def sweep(
    args: argparse.Namespace,
    impls: list[str],
    reference: ReferenceEnv | None,
    workdir: Path,
    on_row: Callable[[dict[str, Any]], None],
) -> None:
    from openrtc_testing.localserver import LocalLiveKitServer

    cap = 2 * max(args.sessions)
    last: dict[tuple[str, str], dict[str, Any]] = {}
    async with LocalLiveKitServer(workdir=workdir / "livekit-server", udp_ports=40) as server:
        for n in args.sessions:
            for impl in impls:
                for mode in args.modes:
                    reason = _skip_reason(last.get((impl, mode)), n, args.max_rss_gb * 1024)
                    if reason is not None:
                        row = {"implementation": impl, "mode": mode, "sessions": n}
                        row.update(status="skipped", error=reason)
                        on_row(row)
                        last[(impl, mode)] = row
                        continue
                    config = RunConfig(
                        sessions=n,
                        turns=args.turns,
                        timeout_s=args.timeout_s,
                        dispatch_interval_s=args.dispatch_interval_s,
                        settle_s=args.settle_s,
                        hold_s=args.hold_s,
                        register_timeout_s=args.register_timeout_s,
                        max_rss_bytes=int(args.max_rss_gb * 1024 * MiB),
                        sample_interval_s=0.5,
                    )
                    launch = launch_for(impl, mode, server, cap, reference, args.providers)
                    print(f"-- {impl} {mode} N={n}", file=sys.stderr, flush=True)
                    try:
                        row = await measure_run(launch, server, SPEECH, config, workdir)
                    except Exception as exc:  # one broken run must not lose the whole sweep
                        row = {"implementation": impl, "mode": mode, "sessions": n}
                        row.update(status="error", error=f"{type(exc).__name__}: {exc}")
                    row["dispatch_refused"] = dispatch_refusals(row, _server_log(server))
                    row["providers"] = args.providers
                    print(table([row]).splitlines()[2], file=sys.stderr, flush=True)
                    on_row(row)
                    last[(impl, mode)] = row


def write_outputs(args: argparse.Namespace, report: dict[str, Any]) -> None:
    rows = report["results"]
    print(table(rows))
    for line in ratios(rows) + slopes(rows):
        print(line)
    if args.markdown:
        args.markdown.write_text(markdown(rows) + "\n", encoding="utf-8")
    if args.plot:
        cpus = report["host"]["cpus"]
        plot(rows, args.plot, f"OpenRTC density, {cpus} CPUs, {report['started_at']}")


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    if args.from_json:
        earlier = json.loads(args.from_json.read_text(encoding="utf-8"))
        server_log = Path(earlier["workdir"]) / "livekit-server" / "livekit-server.log"
        if server_log.exists():  # count again, with this version's rule, while the log is kept
            text = server_log.read_text(encoding="utf-8", errors="replace")
            for row in earlier["results"]:
                row["dispatch_refused"] = dispatch_refusals(row, text)
                log = Path(row.get("worker_log", "-"))
                if log.exists() and "calls" in row:
                    row.update(log_counts(log.read_text(errors="replace").splitlines()))
        if args.json:
            args.json.write_text(json.dumps(earlier, indent=2) + "\n", encoding="utf-8")
        write_outputs(args, earlier)
        return 0
    started, load_at_start = time.time(), os.getloadavg()
    workdir = args.workdir or Path(tempfile.mkdtemp(prefix="openrtc-density-"))
    workdir.mkdir(parents=True, exist_ok=True)
    impls = list(args.impls)
    ours = {"python": sys.executable, "packages": installed_versions(sys.executable, OUR_PACKAGES)}
    # every implementation but the reference runs this workspace's environment
    environments: dict[str, Any] = {name: ours for name in IMPLEMENTATIONS if name != "reference"}
    reference: ReferenceEnv | None = None
    if "reference" in impls:
        # before the private network: building the virtualenv needs the package registry
        try:
            reference = ensure_reference(args.reference_version)
            environments["reference"] = {
                "python": str(reference.python),
                "packages": reference.packages,
            }
        except ReferenceUnavailable as exc:
            environments["reference"] = {"error": str(exc)}
            impls.remove("reference")
    network = enter_private_network(args.host_network)
    report: dict[str, Any] = {
        "schema": "openrtc.bench.density/1",
        "command": " ".join([Path(sys.executable).name, *sys.argv]),
        "started_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(started)),
        "host": {
            "cpus": os.cpu_count(),
            "memory_gib": psutil.virtual_memory().total / 2**30,
            "load_average_at_start": load_at_start,
            "python": platform.python_version(),
        },
        "network": network,
        "implementations": {
            name: {"description": IMPLEMENTATIONS[name].format(version=args.reference_version)}
            | environments[name]
            for name in args.impls
        },
        "workdir": str(workdir),
        "results": [],
    }

    def on_row(row: dict[str, Any]) -> None:
        report["results"].append(row)
        report["duration_s"] = time.time() - started
        report["host"]["load_average_at_end"] = os.getloadavg()
        if args.json:  # after every run: a crash late in a long sweep keeps what was measured
            args.json.write_text(json.dumps(report, indent=2) + "\n", encoding="utf-8")

    for impl in args.impls:
        if impl not in impls:
            on_row(
                {
                    "implementation": impl,
                    "mode": "-",
                    "sessions": 0,
                    "status": "unavailable",
                    "error": environments[impl]["error"],
                }
            )
    asyncio.run(sweep(args, impls, reference, workdir, on_row))
    write_outputs(args, report)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
