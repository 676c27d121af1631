"""What ``openrtc demo`` does: server, worker, callers, summary."""

from __future__ import annotations

import asyncio
import json
import logging
import multiprocessing
import time
from concurrent.futures import ProcessPoolExecutor
from typing import Any

import attrs
from rich.console import Console
from rich.table import Table

from openrtc_demo import AGENTS_DIR

DISPATCH_NAME = "openrtc-demo"
CALLER_LINE = "Hello, I would like to book an appointment please."
WAIT_S = 90.0

console = Console(width=110)


@attrs.define
class CallResult:
    caller: str
    room: str
    wanted: str
    agent: str = "-"
    router: str = "-"
    greeting_s: float | None = None
    reply_s: float | None = None
    error: str | None = None


@attrs.frozen
class ServerAddress:
    """Where the callers' process finds the server (picklable, unlike the server itself)."""

    url: str
    api_key: str
    api_secret: str


def run_demo(*, callers: int, isolation: str, host_network: bool) -> int:
    from openrtc_testing.netns import NamespaceUnavailable
    from openrtc_testing.testbed import prepare_test_bed

    try:
        # the server is obtained (built on a first run) before the network is isolated
        bed = prepare_test_bed(isolate=not host_network, announce=console.print)
    except NamespaceUnavailable as exc:
        console.print(f"[red]error:[/] cannot isolate the demo's network: {exc}")
        return 1
    console.print(f"[dim]network: {bed.network}[/]")
    if bed.server_binary is None:
        console.print(f"[red]error:[/] {bed.server_error}")
        return 1
    binary = bed.server_binary
    _quiet_sdk_logs()
    return asyncio.run(_demo(binary, callers, isolation))


def _quiet_sdk_logs() -> None:
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    # the WebRTC SDK reports callers hanging up as errors; the summary says what went wrong
    logging.getLogger("livekit").setLevel(logging.CRITICAL)


def _callers_main(address: ServerAddress, results: list[CallResult]) -> list[CallResult]:
    """The callers' process: dial every call at once and return how each went.

    Callers run apart from the worker, as they do in production: in the worker's process
    their audio and WebRTC work would share its event loop, and the worker's overload guard
    would count it as the worker's own load."""
    _quiet_sdk_logs()

    async def dial_all() -> list[CallResult]:
        from openrtc_testing.dispatch import ServerAdmin

        speech = await _caller_speech()
        async with ServerAdmin(address) as admin:
            await asyncio.gather(*(_call(address, admin, r, speech) for r in results))
        return results

    return asyncio.run(dial_all())


async def _caller_speech() -> bytes:
    """The caller's line, spoken by the offline TTS at 16 kHz."""
    from openrtc_providers_offline import OfflineTTS

    tts = OfflineTTS(sample_rate=16_000)
    pcm = bytearray()
    async with tts.synthesize(CALLER_LINE) as stream:
        async for event in stream:
            pcm.extend(event.frame.data.tobytes())
    await tts.aclose()
    return bytes(pcm)


async def _call(server: Any, admin: Any, result: CallResult, speech: bytes) -> None:
    from openrtc_testing.caller import Caller

    started = time.monotonic()
    caller = Caller(server, result.room, result.caller)
    try:
        await admin.create_room(result.room)
        await admin.create_dispatch(
            agent_name=DISPATCH_NAME,
            room=result.room,
            metadata=json.dumps({"agent": result.wanted}),
        )
        await caller.join()
        remote = await caller.wait_for_participant(WAIT_S, agent=True)
        result.agent = remote.attributes.get("openrtc.agent", "?")
        result.router = remote.attributes.get("openrtc.router", "?")
        greeted = await caller.wait_for_speech(WAIT_S, participant=remote.identity)
        result.greeting_s = greeted - started
        console.print(
            f"  {result.caller}: greeted by [bold]{result.agent}[/] after {result.greeting_s:.2f} s"
        )
        await asyncio.sleep(3.0)  # let the greeting play out
        await caller.say(speech, sample_rate=16_000)
        said = caller.last_said_at or time.monotonic()
        replied = await caller.wait_for_speech(WAIT_S, participant=remote.identity, after=said)
        result.reply_s = replied - said
        console.print(f"  {result.caller}: answered {result.reply_s:.2f} s after speaking")
    except Exception as exc:  # one failed call is reported in the summary, not raised
        result.error = f"{type(exc).__name__}: {exc}"
        console.print(f"  [red]{result.caller}: {result.error}[/]")
    finally:
        await caller.leave()


async def _demo(binary: Any, callers: int, isolation: str) -> int:
    from openrtc_providers_offline import Rule, offline_providers
    from openrtc_testing.localserver import LocalLiveKitServer
    from openrtc_testing.worker import running_worker

    from openrtc import AgentPool

    server = LocalLiveKitServer(binary)
    server.start()
    console.print(f"livekit-server: {server.url}")
    try:
        stt, llm, tts = offline_providers(
            rules=[Rule(pattern=r"appointment|book|table", reply="Done, you are booked.")]
        )
        pool = AgentPool(
            default_stt=stt,
            default_llm=llm,
            default_tts=tts,
            isolation=isolation,
            dispatch_name=DISPATCH_NAME,
        )
        pool.discover(AGENTS_DIR)
        agents = pool.list_agents()
        console.print(
            f"worker: {isolation} isolation, agents: {', '.join(agents)}; loading models..."
        )
        results = [
            CallResult(
                caller=f"caller-{i + 1}", room=f"demo-{i + 1}", wanted=agents[i % len(agents)]
            )
            for i in range(callers)
        ]
        address = ServerAddress(server.url, server.api_key, server.api_secret)
        spawn = multiprocessing.get_context("spawn")  # a clean process: no copy of the worker
        with ProcessPoolExecutor(max_workers=1, mp_context=spawn) as callers_process:
            async with running_worker(pool, server, register_timeout=120):
                console.print(f"worker registered; {callers} callers dialling...")
                results = await asyncio.get_running_loop().run_in_executor(
                    callers_process, _callers_main, address, results
                )
                snapshot = pool.runtime_snapshot()
    finally:
        server.stop()
    _summary(results, snapshot)
    return 0 if all(r.error is None for r in results) else 1


def _summary(results: list[CallResult], snapshot: Any) -> None:
    table = Table(title="calls")
    for column in (
        "caller",
        "asked for",
        "served by",
        "router",
        "dispatch->greeting",
        "speech->reply",
        "result",
    ):
        table.add_column(column)
    for r in results:
        table.add_row(
            r.caller,
            r.wanted,
            r.agent,
            r.router,
            f"{r.greeting_s:.2f} s" if r.greeting_s is not None else "-",
            f"{r.reply_s:.2f} s" if r.reply_s is not None else "-",
            "ok" if r.error is None else f"[red]{r.error}[/]",
        )
    console.print(table)
    per_agent = ", ".join(f"{name}: {stats.started}" for name, stats in snapshot.per_agent.items())
    greetings = sorted(r.greeting_s for r in results if r.greeting_s is not None)
    rss = f"{snapshot.rss_bytes / 2**20:.0f} MiB" if snapshot.rss_bytes else "unknown"
    console.print(f"sessions per agent: {per_agent}")
    if snapshot.rejected_by_rule:
        refused = ", ".join(f"{rule}: {n}" for rule, n in snapshot.rejected_by_rule.items())
        console.print(
            f"[yellow]calls the worker refused, by admission rule: {refused}[/] "
            "(`openrtc plugins` lists the rules and their settings)"
        )
    if greetings:
        console.print(
            f"dispatch->greeting: median {greetings[len(greetings) // 2]:.2f} s, "
            f"max {greetings[-1]:.2f} s"
        )
    console.print(
        f"worker RSS at the end: {rss} ({snapshot.isolation} isolation, one process "
        f"for {snapshot.started} sessions)"
    )
