"""N real calls at once: each a room, an explicit dispatch, and a Caller that speaks and listens.

A call dispatches the worker into a fresh room, joins it with the real ``livekit`` SDK,
waits for the agent's greeting (dispatch->greeting is the latency reported), then speaks the
recorded line ``turns`` times and waits for each spoken reply. Every caller then stays in its
room until all calls got this far, so all sessions are live together when memory peaks, and
hangs up when the benchmark releases them.

The callers run in a process of their own (``python density_calls.py``, driven by
density_driver): on a saturated host the client SDK can abort its whole process ("FFI Panic"),
and that must cost one run, not the benchmark. The protocol is one JSON plan on stdin, then
``RELEASE`` or ``ABORT`` on stdin; on stdout ``CALL {json}`` as each call ends its script,
``FINISHED`` once all have, ``RESULT {json}`` per call after hanging up, then ``CPU {json}``.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from density_agents import AGENTS, DISPATCH_NAME
from openrtc_testing.caller import Caller, read_wav
from openrtc_testing.dispatch import ServerAdmin

# the caller speaks once the agent has been quiet this long: a greeting that arrives late, or
# in bursts from a stalled worker, must not be taken for the reply to what the caller says
QUIET_BEFORE_SPEAKING_S = 1.5


@dataclass
class CallResult:
    index: int
    room: str
    agent: str
    greeting_s: float | None = None
    reply_s: list[float] = field(default_factory=list)
    served: bool = False
    agent_present_at_release: bool = False
    error: str | None = None

    def as_dict(self) -> dict[str, Any]:
        return dict(self.__dict__)


@dataclass(frozen=True)
class Server:
    url: str
    api_key: str
    api_secret: str


@dataclass
class CallPlan:
    server: Server
    speech: bytes
    speech_rate: int
    turns: int
    timeout_s: float
    dispatch_interval_s: float


async def _call(
    plan: CallPlan,
    admin: ServerAdmin,
    result: CallResult,
    on_done: Callable[[CallResult], None],
    release: asyncio.Event,
) -> None:
    caller = Caller(plan.server, result.room, f"caller-{result.index}")
    agent_identity: str | None = None
    try:
        try:
            await admin.create_room(result.room, empty_timeout=30)
            started = time.monotonic()
            metadata = json.dumps({"agent": result.agent})
            await admin.create_dispatch(
                agent_name=DISPATCH_NAME, room=result.room, metadata=metadata
            )
            # the microphone goes up once an agent is there: a call the worker refused would
            # otherwise send (and the server take in) a caller's audio for the whole wait, on
            # the cores the worker is measured on, where in production it costs the worker's
            # host nothing
            await caller.join(microphone=False)
            remote = await caller.wait_for_participant(plan.timeout_s, agent=True)
            agent_identity = remote.identity
            await caller.publish_microphone()
            greeted = await caller.wait_for_speech(plan.timeout_s, participant=agent_identity)
            result.greeting_s = greeted - started
            for _ in range(plan.turns):
                await _until_quiet(caller, agent_identity, plan.timeout_s)
                await caller.say(plan.speech, sample_rate=plan.speech_rate)
                said = caller.last_said_at or time.monotonic()
                replied = await caller.wait_for_speech(
                    plan.timeout_s, participant=agent_identity, after=said
                )
                result.reply_s.append(replied - said)
            result.served = True
        except Exception as exc:  # a dropped call is a result, not a crash of the benchmark
            result.error = f"{type(exc).__name__}: {exc}"[:300]
        on_done(result)
        if agent_identity is None:
            return  # no agent ever came: the caller hangs up (an agent that came stays watched)
        await release.wait()
        result.agent_present_at_release = agent_identity in caller.room.remote_participants
    finally:
        await caller.leave()


async def _until_quiet(caller: Caller, identity: str, timeout_s: float) -> None:
    async with asyncio.timeout(timeout_s):
        while True:
            stats = caller.heard.get(identity)
            last = None if stats is None else stats.last_speech_at
            if last is not None and time.monotonic() - last >= QUIET_BEFORE_SPEAKING_S:
                return
            await asyncio.sleep(0.1)


def plan_results(run_id: str, count: int) -> list[CallResult]:
    """One result per call, filled in while the calls run (kept even if they are cancelled)."""
    return [
        CallResult(index=i, room=f"density-{run_id}-{i}", agent=AGENTS[i % len(AGENTS)])
        for i in range(count)
    ]


async def run_calls(
    plan: CallPlan,
    results: list[CallResult],
    *,
    on_done: Callable[[CallResult], None],
    release: asyncio.Event,
) -> None:
    """Place the calls, ``plan.dispatch_interval_s`` apart; return when all hung up.

    ``on_done`` hears of each call once it was served or failed; the calls hang up when
    ``release`` is set, or at once if this coroutine is cancelled.
    """
    async with ServerAdmin(plan.server) as admin:
        try:
            # a TaskGroup, so cancelling this coroutine (an abort) hangs every call up
            async with asyncio.TaskGroup() as group:
                for result in results:
                    group.create_task(_call(plan, admin, result, on_done, release))
                    await asyncio.sleep(plan.dispatch_interval_s)
        finally:
            for result in results:
                # the agent leaves a deleted room at once instead of after the empty timeout;
                # a room that is already gone is just as good
                with contextlib.suppress(Exception):
                    await admin.delete_room(result.room)


def _emit(kind: str, payload: dict[str, Any] | None = None) -> None:
    line = kind if payload is None else f"{kind} {json.dumps(payload)}"
    print(line, flush=True)


async def drive(spec: dict[str, Any]) -> None:
    """The caller process: run the planned calls, report them, obey RELEASE and ABORT."""
    pcm, rate = read_wav(spec["speech_path"])
    plan = CallPlan(
        server=Server(**spec["server"]),
        speech=pcm,
        speech_rate=rate,
        turns=spec["turns"],
        timeout_s=spec["timeout_s"],
        dispatch_interval_s=spec["dispatch_interval_s"],
    )
    results = plan_results(spec["run_id"], spec["count"])
    done: set[int] = set()

    def on_done(result: CallResult) -> None:
        done.add(result.index)
        _emit("CALL", result.as_dict())
        if len(done) == len(results):
            _emit("FINISHED")

    release = asyncio.Event()
    calls = asyncio.create_task(run_calls(plan, results, on_done=on_done, release=release))
    command = await asyncio.get_running_loop().run_in_executor(None, sys.stdin.readline)
    if command.strip() == "ABORT":
        calls.cancel()
    release.set()
    await asyncio.gather(calls, return_exceptions=True)
    for result in results:
        _emit("RESULT", result.as_dict())
    # the callers share the host's cores with the worker: say how much they took
    times = os.times()
    _emit("CPU", {"seconds": times.user + times.system})


if __name__ == "__main__":
    asyncio.run(drive(json.loads(sys.stdin.readline())))
    sys.stdout.flush()
    # Everything is reported. The livekit client's native runtime can still panic while the
    # interpreter finalizes with its threads alive ("panic in a function that cannot unwind");
    # leaving now keeps that noise out of the benchmark's verdict.
    os._exit(0)
