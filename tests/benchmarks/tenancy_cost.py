"""What tenancy costs per job: the request's admission path and the session's construction.

Builds two real pools in this process, one with the tenancy plugin and a file of ``--tenants``
tenants (each with caps and its own LLM built from a key reference), one with the plugin
blocked, and times the two per-job steps the plugin adds to, with the kernel's own functions:

* request: ``JobHandlers.verdict`` (route, label, admission rules), what the request handler
  asks for every dispatch;
* session: ``JobHandlers.plan`` (every session-options layer, the tenant's providers from the
  per-tenant cache), what the entrypoint builds before ``AgentSession``.

Each step runs ``--rounds`` rounds of ``--jobs`` calls, over the tenants in turn; the figure is
the median round's microseconds per call. Nothing else needs to run: no server, no models.

Usage:
    uv run --all-packages python tests/benchmarks/tenancy_cost.py [--tenants 100]
        [--jobs 2000] [--rounds 7]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

from livekit.agents import Agent

from openrtc import AgentPool
from openrtc.plugin import SessionSpec


class Front(Agent):
    def __init__(self) -> None:
        super().__init__(instructions="Help the caller.")


def tenants_file(directory: Path, count: int) -> Path:
    lines = ["[defaults]", "max_sessions = 50", "sessions_per_minute = 1000", ""]
    for index in range(count):
        os.environ[f"BENCH_TENANT_{index}_KEY"] = f"bench-key-{index}"
        lines += [
            f"[tenants.t{index}.llm]",
            'use = "types:SimpleNamespace"',
            'model = "small"',
            f'api_key = {{ env = "BENCH_TENANT_{index}_KEY" }}',
            "",
        ]
    path = directory / "tenants.toml"
    path.write_text("\n".join(lines), encoding="utf-8")
    return path


def median_us(step: Callable[[int], object], jobs: int, rounds: int) -> float:
    per_round = []
    for _ in range(rounds):
        started = time.perf_counter()
        for job in range(jobs):
            step(job)
        per_round.append((time.perf_counter() - started) / jobs * 1e6)
    return statistics.median(per_round)


def measure(pool: AgentPool, tenants: int, jobs: int, rounds: int) -> dict[str, float]:
    handlers = pool._runtime.handlers  # the request handler's and entrypoint's own functions
    metadata = [json.dumps({"tenant": f"t{i}"}) for i in range(tenants)]
    config = handlers.agents["front"]
    verdicts = [handlers.verdict(f"j{i}", "room", metadata[i], "") for i in range(tenants)]
    specs = [
        SessionSpec(
            agent="front",
            job_id=f"j{i}",
            room_name="room",
            userdata={},
            settings=handlers.settings,
            labels=verdict.decision.labels if verdict.decision else {},
        )
        for i, verdict in enumerate(verdicts)
    ]

    def request(job: int) -> object:
        return handlers.verdict("j", "room", metadata[job % tenants], "")

    def session(job: int) -> object:
        return handlers.plan(config, specs[job % tenants])

    for job in range(tenants):  # first use: each tenant's providers built, models loaded
        request(job)
        session(job)
    return {
        "request_us": median_us(request, jobs, rounds),
        "session_us": median_us(session, jobs, rounds),
    }


def build(**kwargs: object) -> AgentPool:
    pool = AgentPool(**kwargs)  # type: ignore[arg-type]
    pool.add("front", Front)
    return pool


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tenants", type=int, default=100)
    parser.add_argument("--jobs", type=int, default=2000)
    parser.add_argument("--rounds", type=int, default=7)
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory() as tmp:
        path = tenants_file(Path(tmp), args.tenants)
        with_tenancy = build(plugin_settings={"tenancy.config": str(path)})
        without = build(disable_plugins=["openrtc-tenancy"])
        base = measure(without, args.tenants, args.jobs, args.rounds)
        tenancy = measure(with_tenancy, args.tenants, args.jobs, args.rounds)
    print(
        f"python {sys.version.split()[0]}, {os.cpu_count()} CPUs, {args.tenants} tenants, "
        f"{args.rounds} rounds of {args.jobs} calls, median round"
    )
    print(f"{'step':<10}{'without':>12}{'tenancy':>12}{'added':>12}")
    for step in ("request_us", "session_us"):
        added = tenancy[step] - base[step]
        print(f"{step[:-3]:<10}{base[step]:>10.1f}us{tenancy[step]:>10.1f}us{added:>10.1f}us")
    return 0


if __name__ == "__main__":
    sys.exit(main())
