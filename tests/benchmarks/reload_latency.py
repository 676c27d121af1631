"""Hot reload latency against a real livekit-server, with the reply latency of the same call
without a reload as the baseline of the same run.

One worker (coroutine isolation, offline providers, ``reload=on``) serves one live call. Each
round: the caller speaks and the reply latency is measured (baseline); then the agent file is
saved with the next version and the caller speaks at once. Printed per round and as medians:

* save -> reloaded: from the file write to the ``agent_reloaded`` event (watcher debounce of
  200 ms, the re-run, the registry swap);
* reload itself: the event's own duration (running the module again and swapping);
* save -> new reply: from the file write to the first audio of the new version's reply (the
  caller's 1.5 s line, end of turn, the reply);
* reply after save vs baseline: end of the caller's line -> first reply audio, in the round
  with a save against the round without.

    uv run --all-packages python tests/benchmarks/reload_latency.py [--rounds 8]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
SPEECH = HERE.parent / "data" / "hello_appointment_16k.wav"
DISPATCH = "reload-latency"
AGENT = """
from livekit.agents import Agent

from openrtc import agent_config


@agent_config(name="dental")
class DentalAgent(Agent):
    def __init__(self) -> None:
        super().__init__(instructions="You book dental appointments.")

    async def on_enter(self) -> None:
        await self.session.say("hello")

    async def llm_node(self, chat_ctx, tools, model_settings):
        yield "reply {version}."
"""


class Reloads:
    """An in-process exporter noting when each reload event arrived."""

    name = "reload-latency"

    def __init__(self) -> None:
        self.seen: list[tuple[float, Any]] = []
        self.arrived = asyncio.Event()

    def openrtc_metrics_exporters(self) -> list[Any]:
        return [self]

    def export_event(self, event: Any) -> None:
        if type(event).__name__ == "AgentReloaded":
            self.seen.append((time.monotonic(), event))
            self.arrived.set()

    def export_snapshot(self, snapshot: Any) -> None:
        pass

    def close(self) -> None:
        pass


async def run(rounds: int) -> dict[str, list[float]]:
    from openrtc_testing.caller import Caller
    from openrtc_testing.dispatch import ServerAdmin
    from openrtc_testing.localserver import LocalLiveKitServer
    from openrtc_testing.pools import offline_pool
    from openrtc_testing.worker import running_worker

    from openrtc.hookspecs import hookimpl

    Reloads.openrtc_metrics_exporters = hookimpl(Reloads.openrtc_metrics_exporters)  # type: ignore[method-assign]
    figures: dict[str, list[float]] = {
        "save_to_reloaded_ms": [],
        "reload_ms": [],
        "save_to_new_reply_s": [],
        "reply_after_save_s": [],
        "reply_baseline_s": [],
    }
    with tempfile.TemporaryDirectory() as scratch:
        agents = Path(scratch) / "agents"
        agents.mkdir()
        source = agents / "dental.py"
        source.write_text(AGENT.format(version="v0"))
        reloads = Reloads()
        pool = offline_pool(
            dispatch_name=DISPATCH,
            reload="on",
            plugins={"reloads": reloads},
            # one call: the guard has nothing to protect, and must not refuse it
            plugin_settings={"overload.loop_lag_ms": 0, "overload.loop_busy": 0},
        )
        pool.discover(agents)
        async with (
            LocalLiveKitServer() as server,
            running_worker(pool, server, register_timeout=120),
            ServerAdmin(server) as admin,
        ):
            hot = pool._runtime.hot_reload
            assert hot is not None
            await asyncio.wait_for(hot.watching.wait(), 30)
            await admin.create_room("reload-latency")
            await admin.create_dispatch(
                agent_name=DISPATCH, room="reload-latency", metadata=json.dumps({})
            )
            caller = await Caller(server, "reload-latency").join()
            agent = await caller.wait_for_participant(60, agent=True)
            await caller.wait_for_transcript(60, contains="hello")
            await asyncio.sleep(1.5)

            async def turn(expected: str) -> float:
                await caller.say(SPEECH)
                said = caller.last_said_at
                assert said is not None
                heard = await caller.wait_for_speech(60, participant=agent.identity, after=said)
                await caller.wait_for_transcript(60, contains=expected)
                await asyncio.sleep(1.0)  # the reply plays out
                return heard - said

            for index in range(1, rounds + 1):
                figures["reply_baseline_s"].append(await turn(f"reply v{index - 1}"))
                saved = time.monotonic()
                source.write_text(AGENT.format(version=f"v{index}"))
                while len(reloads.seen) < index:
                    reloads.arrived.clear()
                    await asyncio.wait_for(reloads.arrived.wait(), 30)
                arrived, event = reloads.seen[index - 1]
                assert event.outcome == "applied", event
                figures["save_to_reloaded_ms"].append((arrived - saved) * 1000)
                figures["reload_ms"].append(event.duration_s * 1000)
                await caller.say(SPEECH)
                said = caller.last_said_at
                assert said is not None
                heard = await caller.wait_for_speech(60, participant=agent.identity, after=said)
                await caller.wait_for_transcript(60, contains=f"reply v{index}")
                figures["save_to_new_reply_s"].append(heard - saved)
                figures["reply_after_save_s"].append(heard - said)
                await asyncio.sleep(1.0)
                print(
                    f"round {index}: save->reloaded {figures['save_to_reloaded_ms'][-1]:.0f} ms "
                    f"(reload {figures['reload_ms'][-1]:.1f} ms), save->new reply "
                    f"{figures['save_to_new_reply_s'][-1]:.2f} s, reply "
                    f"{figures['reply_after_save_s'][-1]:.2f} s vs baseline "
                    f"{figures['reply_baseline_s'][-1]:.2f} s",
                    flush=True,
                )
            await caller.leave()
    return figures


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--rounds", type=int, default=8)
    parser.add_argument("--host-network", action="store_true", help="skip the private network")
    args = parser.parse_args()
    sys.path.insert(0, str(HERE))
    from density import enter_private_network

    print(f"network: {enter_private_network(args.host_network)}", flush=True)
    figures = asyncio.run(run(args.rounds))
    median = {name: statistics.median(values) for name, values in figures.items()}
    print(
        f"\nmedians over {args.rounds} saves: save->reloaded {median['save_to_reloaded_ms']:.0f} ms"
        f" (reload itself {median['reload_ms']:.1f} ms); save->first reply in the new version "
        f"{median['save_to_new_reply_s']:.2f} s; reply after a save "
        f"{median['reply_after_save_s']:.2f} s vs {median['reply_baseline_s']:.2f} s without "
        f"(ratio {median['reply_after_save_s'] / median['reply_baseline_s']:.2f})"
    )


if __name__ == "__main__":
    main()
