"""``openrtc connect --room``: the worker joins one named room and a caller there is greeted.

The real command line runs in a subprocess against the real livekit-server. The worker does
not register for dispatch; it creates or finds the room, joins it as the agent, greets the
caller, and exits 0 on its own once the caller hangs up and the room closes.
"""

from __future__ import annotations

import asyncio
import json
import os
import sys
import textwrap
from pathlib import Path

import pytest
from openrtc_testing.caller import Caller
from openrtc_testing.dispatch import ServerAdmin
from openrtc_testing.env import new_room_name
from openrtc_testing.localserver import LocalLiveKitServer

pytestmark = pytest.mark.e2e

TIMEOUT = 90.0
APP = """
from openrtc_demo import AGENTS_DIR
from openrtc_providers_offline import offline_providers

from openrtc import AgentPool

stt, llm, tts = offline_providers()
pool = AgentPool(default_stt=stt, default_llm=llm, default_tts=tts)
pool.discover(AGENTS_DIR)

if __name__ == "__main__":
    pool.run()
"""


async def read_lines(stream: asyncio.StreamReader, seen: list[str]) -> None:
    """Keep reading: a worker whose stderr pipe is full blocks on its next log line."""
    while line := await stream.readline():
        seen.append(line.decode(errors="replace"))


@pytest.mark.parametrize(
    ("agent_flag", "room_metadata", "agent", "router"),
    [
        pytest.param("restaurant", "", "restaurant", "connect", id="agent-flag"),
        pytest.param(None, '{"agent": "dental"}', "dental", "metadata", id="routed"),
    ],
)
async def test_connect_joins_the_room_and_greets_the_caller(
    livekit_server: LocalLiveKitServer,
    livekit_admin: ServerAdmin,
    tmp_path: Path,
    agent_flag: str | None,
    room_metadata: str,
    agent: str,
    router: str,
) -> None:
    app = tmp_path / "app.py"
    app.write_text(textwrap.dedent(APP), encoding="utf-8")
    room = new_room_name("connect")
    if room_metadata:
        await livekit_admin.create_room(room, metadata=room_metadata)
    snapshot = tmp_path / "snapshot.json"
    args = ["connect", "--room", room, "--participant-identity", f"agent-under-test-{agent}"]
    args += ["--metrics-json-file", str(snapshot)]
    if agent_flag is not None:
        args += ["--agent", agent_flag]
    worker = await asyncio.create_subprocess_exec(
        sys.executable,
        str(app),
        *args,
        "--url",
        livekit_server.url,
        "--api-key",
        livekit_server.api_key,
        "--api-secret",
        livekit_server.api_secret,
        stderr=asyncio.subprocess.PIPE,
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
    )
    assert worker.stderr is not None
    log: list[str] = []
    reader = asyncio.create_task(read_lines(worker.stderr, log))
    caller = Caller(livekit_server, room)
    try:
        await caller.join()
        joined = await caller.wait_for_participant(TIMEOUT, agent=True)
        assert joined.identity == f"agent-under-test-{agent}"
        assert joined.attributes.get("openrtc.agent") == agent
        assert joined.attributes.get("openrtc.router") == router
        await caller.wait_for_speech(TIMEOUT, participant=joined.identity)
    except Exception as exc:
        worker.kill()
        await worker.wait()
        raise AssertionError(f"{exc!r}; the worker's log ends:\n{''.join(log)[-4000:]}") from exc
    finally:
        await caller.leave()
    # the caller hung up and the room is closed (rather than waiting for LiveKit to close the
    # empty room): the job ends, and with it the worker, by itself
    await livekit_admin.delete_room(room)
    code = await asyncio.wait_for(worker.wait(), TIMEOUT)
    await reader
    assert code == 0, "".join(log)[-4000:]
    # it never registered for dispatch, so LiveKit could not have offered it other rooms
    assert not any("registered (" in line for line in log)
    # the job it launched itself is counted like a dispatched one, start and end
    final = json.loads(snapshot.read_text(encoding="utf-8"))
    assert (final["started"], final["succeeded"], final["active"]) == (1, 1, 0)
    assert final["per_agent"][agent]["started"] == 1
