"""The secrets a worker is given never come back out of it.

A worker gets the server's API key and secret and an agent whose LLM carries a provider key;
it serves a real call with every output turned on (DEBUG logs, the snapshot file, JSON Lines
events, Prometheus), and ``openrtc list`` describes it. Every byte those produced is searched for
each secret.
"""

from __future__ import annotations

import asyncio
import signal
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
from openrtc_testing.caller import Caller
from openrtc_testing.dispatch import ServerAdmin
from openrtc_testing.env import free_tcp_port, new_room_name, scrape_metrics
from openrtc_testing.localserver import LocalLiveKitServer
from openrtc_testing.process import WorkerProcess

pytestmark = pytest.mark.e2e

PROVIDER_KEY = "sk-provider-4f1c9e0d2b7a"
AGENT = f"""
from livekit.agents import Agent
from openrtc_providers_offline import OfflineLLM

from openrtc import agent_config


class KeyedLLM(OfflineLLM):
    # stands in for a hosted LLM client that was handed its key
    def __init__(self) -> None:
        super().__init__()
        self.api_key = "{PROVIDER_KEY}"


@agent_config(name="keyed", llm=KeyedLLM(), greeting="Say hello.")
class KeyedAgent(Agent):
    def __init__(self) -> None:
        super().__init__(instructions="Answer briefly.")
"""
APP = """
import sys
from openrtc_providers_offline import offline_providers
from openrtc import AgentPool

stt, _, tts = offline_providers()
pool = AgentPool(default_stt=stt, default_tts=tts, dispatch_name="secrets-e2e")
pool.discover(sys.argv.pop(1))

if __name__ == "__main__":
    pool.run()
"""


def openrtc_list(agents: Path, *args: str) -> str:
    done = subprocess.run(
        [sys.executable, "-m", "openrtc.cli", "list", str(agents), *args],
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    )
    return done.stdout + done.stderr


async def test_no_output_contains_a_configured_secret(
    livekit_server: LocalLiveKitServer, livekit_admin: ServerAdmin, tmp_path: Path
) -> None:
    agents = tmp_path / "agents"
    agents.mkdir()
    (agents / "keyed.py").write_text(textwrap.dedent(AGENT), encoding="utf-8")
    app = tmp_path / "app.py"
    app.write_text(textwrap.dedent(APP), encoding="utf-8")
    snapshot, events = tmp_path / "snapshot.json", tmp_path / "events.jsonl"
    port = free_tcp_port()
    worker = WorkerProcess(
        app,
        livekit_server,
        "--log-level",
        "DEBUG",
        "--metrics-jsonl",
        str(events),
        "--prometheus-port",
        str(port),
        snapshot_file=snapshot,
        args_before=(str(agents),),
    )
    outputs: dict[str, str] = {}
    caller: Caller | None = None
    try:
        await worker.start()
        await worker.wait_for_line("registered")
        room = new_room_name("secrets")
        await livekit_admin.create_room(room)
        await livekit_admin.create_dispatch(agent_name="secrets-e2e", room=room)
        caller = await Caller(livekit_server, room).join()
        agent = await caller.wait_for_participant(90, agent=True)
        await caller.wait_for_speech(90, participant=agent.identity)
        outputs["prometheus"] = await asyncio.to_thread(scrape_metrics, port)
        outputs["participant attributes"] = repr(dict(agent.attributes))
        await caller.leave()
        worker.send_signal(signal.SIGTERM)
        assert await worker.wait(90) == 0, worker.tail()
    finally:
        if caller is not None:
            await caller.leave()
        await worker.stop()
    outputs["worker log"] = "".join(worker.log)
    outputs["snapshot file"] = snapshot.read_text(encoding="utf-8")
    outputs["jsonl events"] = events.read_text(encoding="utf-8")
    outputs["list --json"] = await asyncio.to_thread(openrtc_list, agents, "--json")
    outputs["list --resources"] = await asyncio.to_thread(openrtc_list, agents, "--resources")

    assert "session_ended" in outputs["jsonl events"]  # the outputs really saw a session
    assert "keyed" in outputs["list --json"]
    secrets = {
        "API secret": livekit_server.api_secret,
        "API key": livekit_server.api_key,
        "provider key": PROVIDER_KEY,
    }
    leaks = [
        f"{what} in {where}"
        for what, secret in secrets.items()
        for where, text in outputs.items()
        if secret in text
    ]
    assert not leaks, leaks
