from __future__ import annotations

import pytest
from livekit.agents import Agent
from openrtc_isolation_process.plugin import ProcessIsolationUnavailable

from openrtc import AgentPool


class Echo(Agent):
    pass


async def test_pool_that_cannot_be_pickled_is_refused_in_one_line() -> None:
    # Known limitation: the kernel's job handlers hold the plugin manager, which livekit's
    # forkserver cannot pickle; process isolation refuses before anything starts.
    pool = AgentPool(isolation="process")
    pool.add("echo", Echo)
    with pytest.raises(ProcessIsolationUnavailable, match="isolation='coroutine'") as raised:
        await pool.serve(url="ws://127.0.0.1:9", api_key="k", api_secret="s")
    assert "\n" not in str(raised.value)


def test_memory_cap_is_a_declared_setting() -> None:
    pool = AgentPool(isolation="process", plugin_settings={"process.job_memory_limit_mb": 256})
    assert pool.settings["process.job_memory_limit_mb"] == 256.0
