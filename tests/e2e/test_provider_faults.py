"""An LLM or TTS that fails mid-stream, or never answers, in one session of a worker with others.

Two agents share a worker: ``steady`` on the media profile's providers and ``broken``, whose
LLM (or TTS) either starts its answer and then raises a retryable error (``raise``), or never
sends anything (``hang``). What livekit-agents does, and OpenRTC counts:

* ``raise``: livekit retries the request (``conn_options``: 3 retries) and then reports an
  unrecoverable LLM error; the turn gets no reply, and the session goes on until more than
  ``max_unrecoverable_errors`` (3) such errors, when livekit closes it. OpenRTC then ends the
  job, counted failed, and counts every error on the way (``provider_error``: the retries
  the session survived and the requests given up), in every isolation mode. The steady caller
  is greeted meanwhile;
* ``hang``: livekit sets no limit on an LLM stream that never yields, so without OpenRTC the
  broken session would wait for as long as its caller stays. After ``reply_timeout`` OpenRTC
  drops the reply (``reply_stalled``) and the session listens again: every turn of the caller
  gets its own stalled reply, the session lives on. It never holds a drain longer than
  ``drain_timeout``: the worker cancels it (outcome ``cancelled``) and exits.
"""

from __future__ import annotations

import asyncio
import json
import signal
import textwrap
import time
from pathlib import Path

import pytest
from openrtc_testing.caller import Caller
from openrtc_testing.dispatch import ServerAdmin
from openrtc_testing.env import new_room_name
from openrtc_testing.localserver import LocalLiveKitServer
from openrtc_testing.process import WorkerProcess

pytestmark = pytest.mark.e2e

NAME = "faults-e2e"
BENCHMARKS = Path(__file__).resolve().parents[1] / "benchmarks"
SPEECH = Path(__file__).resolve().parents[1] / "data" / "hello_appointment_16k.wav"
TIMEOUT = 60.0
TURNS_TO_CLOSE = 4
"""livekit closes a session after more than ``max_unrecoverable_errors`` (3) LLM errors."""
DRAIN_TIMEOUT_S = 6
APP = """
import asyncio
import os
import sys

sys.path.insert(0, {benchmarks!r})
from density_media import TRANSCRIPT, media_providers
from livekit.agents import Agent, APIConnectionError, llm, stt, tts, utils
from livekit.agents.types import DEFAULT_API_CONNECT_OPTIONS, NOT_GIVEN

from openrtc import AgentPool

FAULT = os.environ["PROVIDER_FAULT"]
FAULTY = os.environ["FAULTY_PROVIDER"]


class FaultyStream(llm.LLMStream):
    async def _run(self) -> None:
        if FAULT == "hang":
            await asyncio.Event().wait()
        self._event_ch.send_nowait(
            llm.ChatChunk(id="faulty", delta=llm.ChoiceDelta(role="assistant", content="Hel"))
        )
        raise APIConnectionError("the provider dropped the stream")


class FaultyLLM(llm.LLM):
    def chat(self, *, chat_ctx, tools=None, conn_options=DEFAULT_API_CONNECT_OPTIONS, **_):
        return FaultyStream(self, chat_ctx=chat_ctx, tools=tools or [], conn_options=conn_options)


class FaultySpeech(tts.ChunkedStream):
    async def _run(self, output_emitter) -> None:
        if FAULT == "hang":
            await asyncio.Event().wait()
        output_emitter.initialize(
            request_id=utils.shortuuid("faulty_"),
            sample_rate=self._tts.sample_rate,
            num_channels=1,
            mime_type="audio/pcm",
        )
        raise APIConnectionError("the provider dropped the stream")


class FaultyTTS(tts.TTS):
    def __init__(self) -> None:
        super().__init__(
            capabilities=tts.TTSCapabilities(streaming=False), sample_rate=24000, num_channels=1
        )

    def synthesize(self, text, *, conn_options=DEFAULT_API_CONNECT_OPTIONS):
        return FaultySpeech(tts=self, input_text=text, conn_options=conn_options)


class FaultySTT(stt.STT):
    # its first request never returns; later ones hear the scripted line

    hung = False

    def __init__(self) -> None:
        super().__init__(capabilities=stt.STTCapabilities(streaming=False, interim_results=False))

    async def _recognize_impl(self, buffer, *, language=NOT_GIVEN, conn_options):
        if not FaultySTT.hung:
            FaultySTT.hung = True
            await asyncio.Event().wait()
        return stt.SpeechEvent(
            type=stt.SpeechEventType.FINAL_TRANSCRIPT,
            request_id=utils.shortuuid("faulty_"),
            alternatives=[stt.SpeechData(language="en", text=TRANSCRIPT, confidence=1.0)],
        )


class Steady(Agent):
    def __init__(self) -> None:
        super().__init__(instructions="steady")


class Broken(Agent):
    def __init__(self) -> None:
        super().__init__(instructions="broken")


stt_, llm_, tts_ = media_providers("Your appointment is booked.")
pool = AgentPool(default_stt=stt_, default_llm=llm_, default_tts=tts_, dispatch_name={name!r})
pool.add("steady", Steady, greeting="Greet the caller.")
FAULTY_CLASS = {{"llm": FaultyLLM, "tts": FaultyTTS, "stt": FaultySTT}}[FAULTY]
broken = {{FAULTY: FAULTY_CLASS()}}
pool.add("broken", Broken, greeting="Greet the caller.", **broken)

if __name__ == "__main__":
    pool.run()
"""


def worker(
    tmp: Path, server: LocalLiveKitServer, fault: str, *extra: str, faulty: str = "llm"
) -> WorkerProcess:
    app = tmp / "app.py"
    app.write_text(
        textwrap.dedent(APP.format(benchmarks=str(BENCHMARKS), name=NAME)), encoding="utf-8"
    )
    return WorkerProcess(
        app,
        server,
        *("--metrics-jsonl", str(tmp / "events.jsonl")),
        *("--drain-timeout", str(DRAIN_TIMEOUT_S)),
        *extra,
        env={
            "OPENRTC_DISABLE_PLUGINS": "openrtc-exporter-prometheus",
            "PROVIDER_FAULT": fault,
            "FAULTY_PROVIDER": faulty,
        },
    )


async def call(admin: ServerAdmin, server: LocalLiveKitServer, agent: str) -> Caller:
    room = new_room_name(f"fault-{agent}")
    await admin.create_room(room)
    caller = await Caller(server, room).join()
    await admin.create_dispatch(agent_name=NAME, room=room, metadata=json.dumps({"agent": agent}))
    await caller.wait_for_participant(TIMEOUT, agent=True)
    return caller


def records(tmp: Path) -> list[dict[str, object]]:
    lines = (tmp / "events.jsonl").read_text(encoding="utf-8").splitlines()
    return [json.loads(line) for line in lines]


def ended(tmp: Path, agent: str) -> list[str]:
    return [
        str(r["outcome"])
        for r in records(tmp)
        if r["kind"] == "session_ended" and r["agent"] == agent
    ]


@pytest.mark.parametrize(
    ("faulty", "isolation"),
    [("llm", "coroutine"), ("llm", "process"), ("llm", "hybrid"), ("tts", "coroutine")],
)
async def test_a_provider_failing_mid_stream_ends_its_session_failed_and_spares_the_other(
    livekit_server: LocalLiveKitServer,
    livekit_admin: ServerAdmin,
    tmp_path: Path,
    faulty: str,
    isolation: str,
) -> None:
    serving = worker(tmp_path, livekit_server, "raise", "--isolation", isolation, faulty=faulty)
    callers: list[Caller] = []
    try:
        await serving.start()
        await serving.wait_for_line("registered", TIMEOUT)
        steady = await call(livekit_admin, livekit_server, "steady")
        callers.append(steady)
        await steady.wait_for_speech(TIMEOUT)  # past the fresh worker's first-call stall
        broken = await call(livekit_admin, livekit_server, "broken")
        callers.append(broken)
        # both callers speak; the steady one is answered while the broken LLM fails
        await asyncio.gather(broken.say(SPEECH), steady.say(SPEECH))
        said = steady.last_said_at or 0.0
        heard = await steady.wait_for_speech(TIMEOUT, after=said)
        print(f"steady answered {heard - said:.1f} s after its caller spoke")

        loop = asyncio.get_running_loop()
        deadline = loop.time() + TIMEOUT * 3
        turns = 1
        while not ended(tmp_path, "broken"):
            assert loop.time() < deadline, f"broken session never ended\n{serving.tail()}"
            if turns < TURNS_TO_CLOSE + 2:
                await broken.say(SPEECH)
                turns += 1
            await asyncio.sleep(2.0)
        assert ended(tmp_path, "broken") == ["failed"], serving.tail()
        print(f"broken session ended failed after {turns} caller turns")
        assert "unrecoverable" in serving.tail(500_000), serving.tail()
        assert not ended(tmp_path, "steady")  # its caller is still on the line
        # every error is counted, the retries the session survived too (from job processes
        # and session hosts over the worker's control socket)
        errors = [r for r in records(tmp_path) if r["kind"] == "provider_error"]
        assert errors and {(r["agent"], r["component"]) for r in errors} == {("broken", faulty)}
        survived = [r for r in errors if r["recoverable"]]
        given_up = [r for r in errors if not r["recoverable"]]
        assert survived and len(given_up) > TURNS_TO_CLOSE - 1, errors
        assert "the provider dropped the stream" in str(given_up[0]["error"]), given_up[0]
        print(f"provider errors: {len(survived)} retried, {len(given_up)} given up")
    finally:
        for caller in callers:
            await caller.leave()
        await serving.stop()


async def test_an_llm_that_never_answers_does_not_hold_the_drain(
    livekit_server: LocalLiveKitServer, livekit_admin: ServerAdmin, tmp_path: Path
) -> None:
    serving = worker(tmp_path, livekit_server, "hang")
    callers: list[Caller] = []
    try:
        await serving.start()
        await serving.wait_for_line("registered", TIMEOUT)
        # the steady call first: a fresh worker's first call stalls its loop (imports), and
        # a call dispatched right then can be refused (the overload guard's, not this test's)
        steady = await call(livekit_admin, livekit_server, "steady")
        await steady.wait_for_speech(TIMEOUT)
        callers.append(await call(livekit_admin, livekit_server, "broken"))
        await steady.leave()  # the steady call ends as calls do; the broken one hangs on

        began = time.monotonic()
        serving.send_signal(signal.SIGTERM)
        code = await serving.wait(DRAIN_TIMEOUT_S + 30)
        took = time.monotonic() - began
        print(f"worker exited {code} {took:.1f} s after SIGTERM (drain_timeout {DRAIN_TIMEOUT_S})")
        assert took < DRAIN_TIMEOUT_S + 15, serving.tail()
        assert code == 0, serving.tail()  # a drain that ran out of time is still a drain
        assert ended(tmp_path, "broken") == ["cancelled"], serving.tail()
        assert ended(tmp_path, "steady") == ["succeeded"], serving.tail()
    finally:
        for caller in callers:
            await caller.leave()
        await serving.stop()


REPLY_TIMEOUT_S = 4.0


def stalled(tmp: Path) -> list[dict[str, object]]:
    return [r for r in records(tmp) if r["kind"] == "reply_stalled"]


@pytest.mark.parametrize("faulty", ["llm", "tts"])
async def test_a_reply_that_never_comes_is_dropped_and_the_caller_is_heard_again(
    livekit_server: LocalLiveKitServer, livekit_admin: ServerAdmin, tmp_path: Path, faulty: str
) -> None:
    timeout = str(REPLY_TIMEOUT_S)
    serving = worker(tmp_path, livekit_server, "hang", "--reply-timeout", timeout, faulty=faulty)
    callers: list[Caller] = []
    try:
        await serving.start()
        await serving.wait_for_line("registered", TIMEOUT)
        broken = await call(livekit_admin, livekit_server, "broken")
        callers.append(broken)
        loop = asyncio.get_running_loop()
        began = loop.time()
        # the greeting's reply hangs first: dropped after reply_timeout
        while len(stalled(tmp_path)) < 1:
            assert loop.time() - began < TIMEOUT, serving.tail()
            await asyncio.sleep(0.5)
        first_after = loop.time() - began
        # the session listens again: the caller's turn starts a new reply, which hangs too
        await broken.say(SPEECH)
        said = loop.time()
        while len(stalled(tmp_path)) < 2:
            assert loop.time() - said < TIMEOUT, serving.tail()
            await asyncio.sleep(0.5)
        second_after = loop.time() - said
        drops = stalled(tmp_path)
        assert {r["agent"] for r in drops} == {"broken"}, drops
        assert all(r["waited_s"] == REPLY_TIMEOUT_S for r in drops), drops
        assert not ended(tmp_path, "broken"), serving.tail()  # the call goes on
        assert "prepared a reply for 4 s without a word" in serving.tail(500_000)
        print(
            f"greeting dropped {first_after:.1f} s after the call began, the caller's turn's "
            f"reply {second_after:.1f} s after they spoke (reply_timeout {REPLY_TIMEOUT_S:g})"
        )
    finally:
        for caller in callers:
            await caller.leave()
        await serving.stop()


TRANSCRIPT_TIMEOUT_S = 4.0


async def test_an_stt_that_never_answers_is_restarted_and_the_caller_heard_again(
    livekit_server: LocalLiveKitServer, livekit_admin: ServerAdmin, tmp_path: Path
) -> None:
    """The broken agent's STT never returns its first transcript; livekit would wait on it,
    and on every later utterance queued behind it, for the rest of the call."""
    timeout = str(TRANSCRIPT_TIMEOUT_S)
    serving = worker(
        tmp_path, livekit_server, "hang", "--transcript-timeout", timeout, faulty="stt"
    )
    callers: list[Caller] = []
    try:
        await serving.start()
        await serving.wait_for_line("registered", TIMEOUT)
        broken = await call(livekit_admin, livekit_server, "broken")
        callers.append(broken)
        agent = await broken.wait_for_participant(TIMEOUT, agent=True)
        await broken.wait_for_speech(TIMEOUT)  # the greeting needs no STT
        await asyncio.sleep(4.0)
        await broken.say(SPEECH)  # into the STT that never answers
        loop = asyncio.get_running_loop()
        said = loop.time()

        def restarts() -> list[dict[str, object]]:
            return [r for r in records(tmp_path) if r["kind"] == "provider_error"]

        while not restarts():
            assert loop.time() - said < TIMEOUT, serving.tail()
            await asyncio.sleep(0.5)
        noticed = loop.time() - said
        await asyncio.sleep(1.0)  # the agent starts over at once: it was listening
        answered = await broken.take_turn(SPEECH, agent.identity, TIMEOUT)
        [error] = restarts()
        assert (error["agent"], error["component"], error["recoverable"]) == (
            "broken",
            "stt",
            True,
        ), error
        assert not ended(tmp_path, "broken"), serving.tail()  # the call went on
        assert "starting the agent over with a new STT stream" in serving.tail(500_000)
        print(
            f"the STT's silence noticed {noticed:.1f} s after the caller spoke "
            f"(transcript_timeout {TRANSCRIPT_TIMEOUT_S:g}); their next line answered "
            f"{answered:.1f} s after they said it"
        )
    finally:
        for caller in callers:
            await caller.leave()
        await serving.stop()
