"""A real pool behind a real livekit-server, scraped over HTTP while a real session runs.

The worker registers over LiveKit's agent protocol, the server dispatches, a caller joins and
hears the greeting (Silero VAD and the offline STT/LLM/TTS); meanwhile ``/metrics`` is read
the way Prometheus reads it, from another thread over loopback HTTP.
"""

from __future__ import annotations

import asyncio
import urllib.error
from collections.abc import Callable
from typing import Any

import pytest
from openrtc_demo import AGENTS_DIR
from openrtc_testing.caller import greeted_caller
from openrtc_testing.dispatch import ServerAdmin
from openrtc_testing.localserver import LocalLiveKitServer
from openrtc_testing.plugin import CallerFactory
from openrtc_testing.pools import offline_pool
from openrtc_testing.worker import running_worker

pytestmark = pytest.mark.e2e

DISPATCH_NAME = "openrtc-prometheus-e2e"
TIMEOUT = 45.0


async def scrape_until(
    scrape: Callable[[int], Any],
    port: int,
    holds: Callable[[Any], bool],
    what: str,
    within_s: float = TIMEOUT,
) -> Any:
    """Scrape off the loop (the worker shares it) until ``holds``; gauges move per snapshot."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + within_s
    while True:
        result = await asyncio.to_thread(scrape, port)
        if holds(result):
            return result
        if loop.time() > deadline:
            raise AssertionError(f"{what} never showed on /metrics; last scrape:\n{result.text}")
        await asyncio.sleep(0.2)


async def test_metrics_endpoint_during_and_after_a_real_session(
    livekit_server: LocalLiveKitServer,
    livekit_admin: ServerAdmin,
    caller_factory: CallerFactory,
    free_port: int,
    scrape: Callable[[int], Any],
) -> None:
    pool = offline_pool(
        dispatch_name=DISPATCH_NAME,
        metrics_interval=0.2,
        plugin_settings={"prometheus_port": free_port},
    )
    pool.discover(AGENTS_DIR)
    async with running_worker(pool, livekit_server):
        caller, _agent = await greeted_caller(
            livekit_admin, caller_factory, DISPATCH_NAME, prefix="prometheus", timeout_s=TIMEOUT
        )

        during = await scrape_until(
            scrape,
            free_port,
            lambda m: m.value("openrtc_active_sessions", agent="dental") == 1,
            "active session of 'dental'",
        )
        assert during.value("openrtc_active_sessions", agent="restaurant") == 0
        assert during.value("openrtc_sessions_started_total", agent="dental") == 1
        assert during.value("openrtc_jobs_routed_total", agent="dental", router="metadata") == 1
        assert during.total("openrtc_sessions_ended_total") == 0
        # the version derived from the agents' sources, as the snapshot reports it
        version = pool.runtime_snapshot().deployment
        assert version is not None and version.startswith("src-")
        assert during.value("openrtc_worker_info", isolation="coroutine", deployment=version) == 1
        resident = during.value("openrtc_resident_memory_bytes")
        assert resident is not None and resident > 50 * 2**20  # models are loaded in here

        # the caller hangs up. (Deleting the room instead once left the agent's SDK
        # reconnecting for over 45 s: the server closed its data channels before the leave
        # reached it, "server sent leave during reconnect: StateMismatch".)
        await caller.leave()
        after = await scrape_until(
            scrape,
            free_port,
            lambda m: m.total("openrtc_sessions_ended_total", agent="dental") == 1,
            "the ended session of 'dental'",
            # livekit ends the session some seconds after the caller left (about 17 s here);
            # a hang guard for a loaded machine, not a performance claim
            within_s=2 * TIMEOUT,
        )
        after = await scrape_until(
            scrape,
            free_port,
            lambda m: m.value("openrtc_active_sessions", agent="dental") == 0,
            "no active session of 'dental'",
        )
        assert after.value("openrtc_session_duration_seconds_count", agent="dental") == 1
        for secret in (livekit_server.api_key, livekit_server.api_secret):
            assert secret not in after.text
    # the worker stopped: its endpoint is closed with it
    with pytest.raises(urllib.error.URLError):
        scrape(free_port)
