"""The session-host pool without a server: real forked hosts running fake jobs (livekit's mock
room), with livekit's real inference process. The pool runs in a fresh interpreter
(host_pool_scenario.py): its hosts are forked, and this pytest process may already have used
livekit.rtc, whose native runtime does not survive a fork."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

SCENARIO = Path(__file__).with_name("host_pool_scenario.py")


@pytest.fixture(scope="module")
def report(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    out = tmp_path_factory.mktemp("host-pool")
    done = subprocess.run(
        [sys.executable, str(SCENARIO), str(out)],
        capture_output=True,
        text=True,
        timeout=180,
        check=False,
    )
    assert done.returncode == 0, done.stderr[-4000:]
    result: dict[str, Any] = json.loads(done.stdout.strip().splitlines()[-1])
    return result


def test_prewarm_runs_once_in_the_worker_and_every_host_sees_it(report: dict[str, Any]) -> None:
    assert report["setup_calls"] == [str(report["worker_pid"])]
    for seen in (*report["live"], report["infer"], report["d"]):
        assert seen["setup_pid"] == report["worker_pid"]
        assert seen["pid"] != report["worker_pid"]


def test_jobs_go_to_the_least_loaded_host(report: dict[str, Any]) -> None:
    assert len(report["hosts"]) == 2
    assert sorted(seen["pid"] for seen in report["live"]) == sorted(report["hosts"])


def test_each_host_reports_its_own_loop_to_the_worker(report: dict[str, Any]) -> None:
    # job a blocked its host's loop; the worker sees that host's lag, and its one session
    assert report["next_host"]["lag_p95"] >= 0.2
    assert report["next_host"]["sessions"] == 1


def test_a_job_in_a_host_reaches_the_workers_inference_process(report: dict[str, Any]) -> None:
    assert report["infer"]["inference"] == "openrtc"[::-1]
    assert report["after_kill"]["closed"]["c"] == "SUCCESS"


def test_a_dead_host_fails_only_its_jobs_and_is_replaced(report: dict[str, Any]) -> None:
    killed = report["live"][0]["pid"]
    assert report["after_kill"]["closed"]["a"] == "FAILED"
    assert report["after_kill"]["b_status"] == "RUNNING"
    assert killed not in report["hosts_after_kill"]
    assert len(report["hosts_after_kill"]) == 2
    assert report["d"]["pid"] in report["hosts_after_kill"]


def test_closing_the_pool_ends_every_job_and_every_host(report: dict[str, Any]) -> None:
    assert set(report["closed"]) == {"a", "b", "c", "d"}
    assert report["hosts_left"] == []
