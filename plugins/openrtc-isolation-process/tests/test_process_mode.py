"""Process isolation without a server: what it refuses at start, and how a job process tells
the worker its job failed. tests/e2e/test_process_isolation.py runs it against a real server."""

from __future__ import annotations

import multiprocessing
import os
import socket
import threading

import pytest
from livekit.agents import Agent

from openrtc import AgentPool
from openrtc.blueprint import BlueprintError
from openrtc.livekit_adapter import JOB_FAILED_EXIT_CODE, report_job_failure
from openrtc.livekit_adapter.process_pool import run_job_process


class Echo(Agent):
    pass


async def test_a_pool_that_cannot_be_shipped_is_refused_at_start_in_one_line() -> None:
    pool = AgentPool(isolation="process", default_tts=threading.Lock())  # type: ignore[arg-type]
    pool.add("echo", Echo)
    # refused before anything connects: the URL below is never dialled
    with pytest.raises(BlueprintError, match="isolation='coroutine'") as raised:
        await pool.serve(url="ws://127.0.0.1:9", api_key="k", api_secret="s")
    assert "default_tts (lock) cannot be pickled" in str(raised.value)
    assert "\n" not in str(raised.value)
    # nothing it started is left behind: the Prometheus exporter's port is free again
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 9464))


def test_process_settings_are_declared() -> None:
    pool = AgentPool(
        isolation="process",
        plugin_settings={
            "process.job_memory_limit_mb": 256,
            "process.num_idle_processes": 0,
            "process.initialize_timeout": 90,
        },
    )
    assert pool.settings["process.job_memory_limit_mb"] == 256.0
    assert pool.settings["process.num_idle_processes"] == 0
    assert pool.settings["process.initialize_timeout"] == 90.0


def _job_that_fails() -> None:
    report_job_failure()


def _job_that_succeeds() -> None:
    pass


@pytest.mark.parametrize(
    ("job", "exit_code"), [(_job_that_fails, JOB_FAILED_EXIT_CODE), (_job_that_succeeds, 0)]
)
def test_a_job_process_exit_code_says_whether_its_job_failed(job: object, exit_code: int) -> None:
    # a real child process runs the target the way livekit's job processes do under openrtc;
    # fork keeps the test's module-level targets reachable without importing it by name
    # the test process stands for the worker the job process watches (openrtc.orphan_exit)
    worker_pid = os.getpid()
    process = multiprocessing.get_context("fork").Process(
        target=run_job_process, args=(worker_pid, job)
    )
    process.start()
    process.join(timeout=30)
    assert process.exitcode == exit_code
