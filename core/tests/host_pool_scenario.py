"""Drives a real HostPool (forked hosts, fake jobs, livekit's real inference process) and prints
what it saw as JSON. Run as a script by test_host_pool.py: the hosts are forked from this
process, which must not have used livekit.rtc (the pytest process may have)."""

from __future__ import annotations

import asyncio
import json
import multiprocessing
import os
import signal
import sys
import time
from pathlib import Path
from typing import Any

from livekit.agents.inference_runner import _InferenceRunner
from livekit.agents.ipc.inference_proc_executor import InferenceProcExecutor
from livekit.agents.job import JobAcceptArguments, JobContext, JobProcess, RunningJobInfo
from livekit.protocol import agent, models

from openrtc.job_runners import JobsInHosts
from openrtc.livekit_adapter import HostJobExecutor, HostPool

OUT = Path(sys.argv[1])
ECHO = "openrtc-test-reverse"


class ReverseRunner(_InferenceRunner):
    INFERENCE_METHOD = ECHO

    def initialize(self) -> None:
        pass

    def run(self, data: bytes) -> bytes | None:
        return data[::-1]


def setup(proc: JobProcess) -> None:
    with (OUT / "setup.log").open("a") as log:
        log.write(f"{os.getpid()}\n")
    proc.userdata["setup_pid"] = os.getpid()


async def entrypoint(ctx: JobContext) -> None:
    seen: dict[str, Any] = {"pid": os.getpid(), "setup_pid": ctx.proc.userdata.get("setup_pid")}
    if ctx.job.metadata == "hog":
        # blocking work on the host's loop, as a session calling a sync SDK would do
        for _ in range(4):
            time.sleep(0.4)  # noqa: ASYNC251 (the point: a blocked loop)
            await asyncio.sleep(0.05)
    if ctx.job.metadata == "infer":
        answer = await ctx.inference_executor.do_inference(ECHO, b"openrtc")
        seen["inference"] = answer.decode() if answer else None
    (OUT / f"{ctx.job.id}.json").write_text(json.dumps(seen))
    if ctx.job.metadata == "infer":
        ctx.shutdown()
    # otherwise the job stays live, as a call does, until it is terminated


def job(job_id: str, kind: str) -> RunningJobInfo:
    return RunningJobInfo(
        accept_arguments=JobAcceptArguments(name="", identity=f"agent-{job_id}", metadata=""),
        job=agent.Job(id=job_id, room=models.Room(name=f"room-{job_id}"), metadata=kind),
        url="",
        token="",
        worker_id="worker",
        fake_job=True,
    )


async def wait_for(check: Any, what: str) -> Any:
    for _ in range(600):
        if value := check():
            return value
        await asyncio.sleep(0.05)
    raise TimeoutError(what)


def seen(job_id: str) -> dict[str, Any] | None:
    path = OUT / f"{job_id}.json"
    return json.loads(path.read_text()) if path.exists() else None


def alive(pid: int) -> bool:
    return Path(f"/proc/{pid}").exists()


async def main() -> dict[str, Any]:
    loop = asyncio.get_running_loop()
    inference = InferenceProcExecutor(
        runners={ECHO: ReverseRunner},
        initialize_timeout=60,
        close_timeout=5,
        memory_warn_mb=0,
        memory_limit_mb=0,
        ping_interval=5,
        ping_timeout=60,
        high_ping_threshold=2.5,
        mp_ctx=multiprocessing.get_context("fork"),
        loop=loop,
        http_proxy=None,
    )
    await inference.start()
    await inference.initialize()
    pool = HostPool(
        runner=JobsInHosts(hosts=2),
        setup_fnc=setup,
        entrypoint_fnc=entrypoint,
        session_end_fnc=None,
        simulation_end_fnc=None,
        inference_executor=inference,
        close_timeout=5,
        session_end_timeout=5,
        http_proxy=None,
        loop=loop,
        job_failed=None,
    )
    closed: dict[str, str] = {}

    def on_closed(executor: HostJobExecutor) -> None:
        closed[executor.running_job.job.id] = executor.status.name

    pool.on("process_closed", on_closed)
    report: dict[str, Any] = {"worker_pid": os.getpid()}
    await pool.start()
    report["hosts"] = pool.host_pids
    await pool.launch_job(job("a", "hog"))
    await pool.launch_job(job("b", "live"))
    live = [await wait_for(lambda j=j: seen(j), f"job {j}") for j in ("a", "b")]
    report["live"] = live
    # one job on each host: the next goes to the first host, whose loop job a kept blocked
    health, sessions = await wait_for(
        lambda: (h := pool.next_host_health()) and h[0].loop_lag_p95_s >= 0.2 and h,
        "the hog's lag in the first host's report",
    )
    report["next_host"] = {"lag_p95": health.loop_lag_p95_s, "sessions": sessions}
    # a job that asks the worker's inference process, through its host, then ends itself
    await pool.launch_job(job("c", "infer"))
    report["infer"] = await wait_for(lambda: seen("c"), "job c")
    await wait_for(lambda: "c" in closed, "job c to end")

    os.kill(live[0]["pid"], signal.SIGKILL)
    await wait_for(lambda: "a" in closed, "job a to end with its host")
    report["after_kill"] = {
        "closed": dict(closed),
        "b_status": pool.get_by_job_id("b").status.name,  # type: ignore[union-attr]
    }
    await wait_for(
        lambda: len(pool.host_pids) == 2 and live[0]["pid"] not in pool.host_pids, "a replacement"
    )
    report["hosts_after_kill"] = pool.host_pids
    await pool.launch_job(job("d", "live"))
    report["d"] = await wait_for(lambda: seen("d"), "job d")

    await pool.aclose()
    report["closed"] = dict(closed)
    report["hosts_left"] = [pid for pid in report["hosts_after_kill"] if alive(pid)]
    await inference.aclose()
    report["setup_calls"] = (OUT / "setup.log").read_text().split()
    return report


if __name__ == "__main__":
    print(json.dumps(asyncio.run(main())))
