"""Per-tenant isolation against a real livekit-server: keys, caps and the circuit breaker.

One worker with the tenancy plugin serves two tenants, each with its own LLM built from the
tenancy file with its own key: ``acme`` (capped at two live calls) and ``bravo``, whose LLM
answers the greeting and then fails every turn, as a provider that revoked the key does. The
LLM stand-ins record, from inside the worker, a fingerprint of the key they were built with
and the room they served, so the test proves which key served which call without any key
being printed.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import signal
import textwrap
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from openrtc_testing.caller import Caller
from openrtc_testing.dispatch import ServerAdmin
from openrtc_testing.env import free_tcp_port, new_room_name, scrape_metrics
from openrtc_testing.localserver import LocalLiveKitServer
from openrtc_testing.process import WorkerProcess

pytestmark = pytest.mark.e2e

REPO = Path(__file__).resolve().parents[2]
SPEECH = REPO / "tests" / "data" / "hello_appointment_16k.wav"
DISPATCH = "tenancy-e2e"
TIMEOUT = 90.0
ACME_KEY = "sk-acme-7d41f09a"
BRAVO_KEY = "sk-bravo-2c88e315"
COOLDOWN_S = 12.0

PROVIDERS = """
import hashlib
import json
import os
from pathlib import Path

from livekit.agents import APIError, get_job_context, llm
from openrtc_providers_offline import OfflineLLM

PROOF = Path(os.environ["TENANT_PROOF_DIR"])


class KeyedLLM(OfflineLLM):
    # stands in for a hosted LLM client: it is handed its tenant's key and keeps it
    def __init__(self, api_key: str) -> None:
        super().__init__()
        self.api_key = api_key

    def chat(self, *, chat_ctx, **kwargs):
        room = get_job_context().room.name
        proof = {
            "key": hashlib.sha256(self.api_key.encode()).hexdigest(),
            "client": id(self),
            "pid": os.getpid(),
        }
        (PROOF / f"{room}.json").write_text(json.dumps(proof))
        return self.answer(chat_ctx=chat_ctx, **kwargs)

    def answer(self, *, chat_ctx, **kwargs):
        return super().chat(chat_ctx=chat_ctx, **kwargs)


class GoneStream(llm.LLMStream):
    async def _run(self) -> None:
        raise APIError("provider rejected the key", retryable=False)


class RevokedLLM(KeyedLLM):
    # greets, then fails every turn the caller starts
    def answer(self, *, chat_ctx, **kwargs):
        if not any(getattr(item, "role", None) == "user" for item in chat_ctx.items):
            return super().answer(chat_ctx=chat_ctx, **kwargs)
        return GoneStream(
            self,
            chat_ctx=chat_ctx,
            tools=kwargs.get("tools") or [],
            conn_options=kwargs["conn_options"],
        )
"""

APP = """
from livekit.agents import Agent
from livekit.agents.voice.agent_session import SessionConnectOptions
from openrtc_providers_offline import offline_providers

from openrtc import AgentPool


class Front(Agent):
    def __init__(self) -> None:
        super().__init__(instructions="Help the caller.")


stt, llm, tts = offline_providers()
pool = AgentPool(default_stt=stt, default_llm=llm, default_tts=tts, dispatch_name="tenancy-e2e")
pool.add(
    "front",
    Front,
    greeting="Greet the caller.",
    # a failing LLM ends the session at once (livekit's default allows a few errors)
    session_kwargs={"conn_options": SessionConnectOptions(max_unrecoverable_errors=0)},
)

if __name__ == "__main__":
    pool.run()
"""

TENANTS = """
[tenants.acme]
max_sessions = 2

[tenants.acme.llm]
use = "tenant_providers:KeyedLLM"
api_key = {{ env = "ACME_LLM_KEY" }}

[tenants.bravo.llm]
use = "tenant_providers:RevokedLLM"
api_key = {{ file = "{bravo_key_file}" }}
"""


def fingerprint(key: str) -> str:
    return hashlib.sha256(key.encode()).hexdigest()


class Bed:
    """A worker with the tenancy plugin, its outputs, and calls placed on it."""

    def __init__(self, server: LocalLiveKitServer, admin: ServerAdmin, tmp: Path) -> None:
        self.server, self.admin, self.tmp = server, admin, tmp
        self.proof = tmp / "proof"
        self.proof.mkdir()
        self.events = tmp / "events.jsonl"
        self.port = free_tcp_port()
        self.callers: list[Caller] = []

    def worker(self, isolation: str) -> WorkerProcess:
        (self.tmp / "tenant_providers.py").write_text(PROVIDERS, encoding="utf-8")
        (self.tmp / "app.py").write_text(textwrap.dedent(APP), encoding="utf-8")
        bravo_key = self.tmp / "bravo.key"
        bravo_key.write_text(BRAVO_KEY + "\n", encoding="utf-8")
        tenants = self.tmp / "tenants.toml"
        tenants.write_text(TENANTS.format(bravo_key_file=bravo_key), encoding="utf-8")
        return WorkerProcess(
            self.tmp / "app.py",
            self.server,
            *("--isolation", isolation, "--log-level", "DEBUG"),
            *("--tenancy-config", str(tenants)),
            *("--tenancy-breaker-min-sessions", "2"),
            *("--tenancy-breaker-cooldown-s", str(COOLDOWN_S)),
            *("--metrics-jsonl", str(self.events), "--prometheus-port", str(self.port)),
            snapshot_file=self.tmp / "snapshot.json",
            env={"ACME_LLM_KEY": ACME_KEY, "TENANT_PROOF_DIR": str(self.proof)},
        )

    async def call(self, tenant: Any) -> Caller:
        """Dispatch a call for ``tenant`` (any JSON value) into a new room, caller joined."""
        room = new_room_name(f"t-{tenant}" if isinstance(tenant, str) else "t-odd")
        await self.admin.create_room(room)
        caller = await Caller(self.server, room).join()
        self.callers.append(caller)
        await self.admin.create_dispatch(
            agent_name=DISPATCH, room=room, metadata=json.dumps({"tenant": tenant})
        )
        return caller

    async def greeted(self, caller: Caller) -> str:
        agent = await caller.wait_for_participant(TIMEOUT, agent=True)
        await caller.wait_for_speech(TIMEOUT, participant=agent.identity)
        return agent.identity

    def records(self, kind: str) -> list[dict[str, Any]]:
        if not self.events.exists():
            return []
        lines = self.events.read_text(encoding="utf-8").splitlines()
        return [r for r in map(json.loads, lines) if r["kind"] == kind]

    def declined_rooms(self, rule: str) -> set[str]:
        return {r["room"] for r in self.records("admission_rejected") if r["rule"] == rule}

    def proof_of(self, caller: Caller) -> dict[str, Any]:
        return dict(json.loads((self.proof / f"{caller.room_name}.json").read_text()))

    async def hang_up(self) -> None:
        for caller in self.callers:
            await caller.leave()


async def has_agent(admin: ServerAdmin, room: str) -> bool:
    return any(p.identity.startswith("agent-") for p in await admin.list_participants(room))


async def wait_until(check: Callable[[], Any], what: str) -> Any:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + TIMEOUT
    while not (found := check()):
        assert loop.time() < deadline, what
        await asyncio.sleep(0.25)
    return found


async def stays_without_agent(bed: Bed, caller: Caller, seconds: float = 8.0) -> None:
    loop = asyncio.get_running_loop()
    until = loop.time() + seconds
    while loop.time() < until:
        assert not await has_agent(bed.admin, caller.room_name), caller.room_name
        await asyncio.sleep(0.5)


@pytest.fixture
def bed(livekit_server: LocalLiveKitServer, livekit_admin: ServerAdmin, tmp_path: Path) -> Bed:
    return Bed(livekit_server, livekit_admin, tmp_path)


async def test_each_tenants_calls_use_its_own_key_and_no_key_leaks(bed: Bed) -> None:
    worker = bed.worker("coroutine")
    outputs: dict[str, str] = {}
    try:
        await worker.start()
        await worker.wait_for_line("registered")
        calls = await asyncio.gather(bed.call("acme"), bed.call("bravo"), bed.call("acme"))
        agents = await asyncio.gather(*(bed.greeted(c) for c in calls))
        acme_1, bravo, acme_2 = (bed.proof_of(c) for c in calls)
        # the providers that served each call were built with that tenant's key, no other
        assert acme_1["key"] == acme_2["key"] == fingerprint(ACME_KEY)
        assert bravo["key"] == fingerprint(BRAVO_KEY)
        # one tenant's sessions share its client; the other tenant never sees it
        assert acme_1["client"] == acme_2["client"] != bravo["client"]
        participant = calls[1].room.remote_participants[agents[1]]
        assert participant.attributes["openrtc.label.tenant"] == "bravo"
        outputs["participant attributes"] = repr(
            [
                dict(c.room.remote_participants[a].attributes)
                for c, a in zip(calls, agents, strict=True)
            ]
        )
        outputs["prometheus"] = await asyncio.to_thread(scrape_metrics, bed.port)
        await bed.hang_up()
        worker.send_signal(signal.SIGTERM)
        assert await worker.wait(90) == 0, worker.tail()
    finally:
        await bed.hang_up()
        await worker.stop()
    outputs["worker log"] = "".join(worker.log)
    outputs["snapshot file"] = (bed.tmp / "snapshot.json").read_text(encoding="utf-8")
    outputs["jsonl events"] = bed.events.read_text(encoding="utf-8")
    started = {r["labels"].get("tenant") for r in bed.records("session_started")}
    assert started == {"acme", "bravo"}  # the outputs really saw both tenants' calls
    leaks = [
        f"{tenant}'s key in {where}"
        for tenant, key in (("acme", ACME_KEY), ("bravo", BRAVO_KEY))
        for where, text in outputs.items()
        if key in text
    ]
    assert not leaks, leaks


@pytest.mark.parametrize("isolation", ["coroutine", "process", "hybrid"])
async def test_a_capped_tenant_and_bad_tenants_are_declined(bed: Bed, isolation: str) -> None:
    worker = bed.worker(isolation)
    try:
        await worker.start()
        await worker.wait_for_line("registered")
        offered = [await bed.call("acme") for _ in range(4)]
        served: list[Caller] = []
        loop = asyncio.get_running_loop()
        deadline = loop.time() + TIMEOUT
        while len(served) < 2 or len(bed.declined_rooms("tenant")) < 2:
            assert loop.time() < deadline, f"{worker.snapshot()}\n{worker.tail()}"
            served = [c for c in offered if await has_agent(bed.admin, c.room_name)]
            live = ((worker.snapshot() or {}).get("per_label") or {}).get("tenant", {})
            assert live.get("acme", {}).get("active", 0) <= 2, live
            await asyncio.sleep(0.5)
        refused = [c for c in offered if c not in served]
        assert {c.room_name for c in refused} == bed.declined_rooms("tenant")
        for caller in refused:
            await stays_without_agent(bed, caller, seconds=3.0)

        odd = [await bed.call("not a tenant"), await bed.call("initech"), await bed.call(7)]
        await wait_until(lambda: len(bed.declined_rooms("tenant")) == 5, "bad tenants taken")
        reasons = {
            r["room"]: r["reason"]
            for r in bed.records("admission_rejected")
            if r["room"] in {c.room_name for c in odd}
        }
        assert (
            "tenant id 'not a tenant' in the job metadata field 'tenant' is invalid"
            in (reasons[odd[0].room_name])
        )
        assert "'initech' is not in the tenancy config" in reasons[odd[1].room_name]
        assert "must be a string tenant id, not int" in reasons[odd[2].room_name]
        snapshot = worker.snapshot() or {}
        acme = snapshot["per_label"]["tenant"]["acme"]
        assert (acme["started"], acme["rejected_by_rule"].get("tenant")) == (2, 2), snapshot
        assert worker.proc is not None and worker.proc.returncode is None  # still serving
    finally:
        await bed.hang_up()
        await worker.stop()


@pytest.mark.parametrize("isolation", ["coroutine", "process", "hybrid"])
async def test_a_failing_tenants_breaker_opens_alone_then_lets_one_probe_through(
    bed: Bed, isolation: str
) -> None:
    worker = bed.worker(isolation)
    try:
        await worker.start()
        await worker.wait_for_line("registered")
        acme_call = await bed.call("acme")
        await bed.greeted(acme_call)
        for _ in range(2):  # bravo's calls fail mid-call, at the caller's first turn
            call = await bed.call("bravo")
            agent = await bed.greeted(call)
            await call.say(SPEECH)
            await wait_until(
                lambda c=call, a=agent: a not in c.room.remote_participants,
                f"bravo's failed session stayed in {call.room_name}",
            )
        opened = await wait_until(
            lambda: [r for r in bed.records("admission_state_changed") if r["state"] == "open"],
            "bravo's breaker never opened",
        )
        assert opened[0]["subject"] == "tenant=bravo"
        assert "2 of the last 2 sessions failed" in opened[0]["reason"]

        blocked = await bed.call("bravo")
        await wait_until(
            lambda: blocked.room_name in bed.declined_rooms("tenant_breaker"),
            "bravo's call was not declined by its breaker",
        )
        await stays_without_agent(bed, blocked, seconds=3.0)
        # acme is untouched: a new call is served and the first one is still live
        second_acme = await bed.call("acme")
        await bed.greeted(second_acme)
        assert await has_agent(bed.admin, acme_call.room_name)

        await asyncio.sleep(COOLDOWN_S)
        probe = await bed.call("bravo")
        await bed.greeted(probe)
        await wait_until(
            lambda: any(r["state"] == "half_open" for r in bed.records("admission_state_changed")),
            "the probe call did not half-open the breaker",
        )
        snapshot = await wait_until(worker.snapshot, "no snapshot")
        tenants = snapshot["per_label"]["tenant"]
        assert tenants["bravo"]["failed"] == 2 and tenants["acme"]["failed"] == 0, snapshot
        assert snapshot["admission"]["tenant_breaker"]["bravo"]["failures"] == 2, snapshot
        assert "tenant 'bravo' circuit breaker open" in "".join(worker.log)
        metrics = await asyncio.to_thread(scrape_metrics, bed.port)
        for line in (  # the exposition format sorts labels by name
            'openrtc_tenant_sessions_ended_total{outcome="failed",tenant="bravo"} 2.0',
            'openrtc_tenant_sessions_ended_total{outcome="failed",tenant="acme"} 0.0',
            'openrtc_tenant_admission_rejected_total{rule="tenant_breaker",tenant="bravo"}',
            'openrtc_admission_state{rule="tenant_breaker",state="half_open",'
            'subject="tenant=bravo"} 1.0',
        ):
            assert line in metrics, metrics
    finally:
        await bed.hang_up()
        await worker.stop()
