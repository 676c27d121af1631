"""The per-job path: request -> route once -> admission -> accept -> session -> greeting.

The routing decision is made in the request handler, before accept, and travels with the job as
participant attributes of the accept call; the entrypoint reads it back and never routes again.
"""

from __future__ import annotations

import json
import logging
import os
from collections.abc import Callable, Mapping, MutableMapping
from typing import TYPE_CHECKING, Any

import attrs

from openrtc import events
from openrtc.call_states import StateReporter
from openrtc.call_watch import watch_call
from openrtc.caller_gone import end_job_when_caller_gone
from openrtc.config import AgentConfig
from openrtc.event_channel import EventForwarder, worker_socket
from openrtc.job_traces import open_job_traces, traced_job
from openrtc.labels import LabelRefused, label_job
from openrtc.live_sessions import LiveSessions
from openrtc.routing import (
    NAMED,
    VERSION_ATTRIBUTE,
    RouterChain,
    UnknownAgentError,
    decide_agent,
    decision_attributes,
    decision_from_attributes,
)
from openrtc.session import PoolDefaults
from openrtc.session_close import end_job_on_session_close
from openrtc.sessions import SessionPlan, build_session, plan_session, start_session
from openrtc.settings import Settings
from openrtc.strategies import (
    AdmissionRequest,
    AdmissionRule,
    JobEnded,
    JobLabeler,
    JobTracer,
    JobVerdict,
    RouteDecision,
    RouteRequest,
    RoutingError,
    SessionSpec,
    WorkerState,
)

if TYPE_CHECKING:
    from openrtc.plugins import PluginHost
    from openrtc.runtime import RuntimeState

logger = logging.getLogger("openrtc.jobs")


@attrs.define
class JobHandlers:
    """The functions an isolation mode calls; one instance per running pool."""

    host: PluginHost
    settings: Settings
    chain: RouterChain
    admission_rules: Mapping[str, AdmissionRule]
    agents: MutableMapping[str, AgentConfig]
    """The pool's registry itself: hot reload swaps classes in it."""
    defaults: PoolDefaults
    state: RuntimeState
    emit: Callable[[events.MetricsEvent], None]
    labelers: Mapping[str, JobLabeler] = attrs.field(factory=dict)
    tracers: Mapping[str, JobTracer] = attrs.field(factory=dict)
    version: str = ""
    """The deployment version every call accepted here carries (``openrtc.version``)."""
    extra_plugins: Mapping[str, object] = attrs.field(factory=dict)
    """The in-process plugins the pool was built with, for job processes to register too."""
    on_not_launched: Callable[[JobEnded], None] | None = None
    """Reports an accepted job that never launched, so no executor will ever report its end."""

    live: LiveSessions = attrs.field(factory=LiveSessions, eq=False)
    """The sessions running in this process, which hot reload moves to new code."""

    worker_pid: int = attrs.field(factory=os.getpid)
    """The worker's pid, also in the job processes and session hosts that run its sessions:
    where a session runs elsewhere, its events travel back to this worker's control socket."""
    _forwarder: EventForwarder | None = attrs.field(default=None, init=False, eq=False)
    _reporter: StateReporter | None = attrs.field(default=None, init=False, eq=False)

    ship: Callable[[JobHandlers], tuple[Any, ...]] | None = attrs.field(default=None, eq=False)
    """How these handlers cross into a job process (process isolation pickles the entrypoint
    and prewarm bound to them); set by the pool runtime, see ``blueprint``."""

    def __reduce__(self) -> tuple[Any, ...]:
        # What crosses is a blueprint the job process rebuilds its own handlers from; the
        # plugin manager, counters and exporters stay in the worker.
        if self.ship is None:
            raise TypeError("these job handlers cannot be sent to another process")
        return self.ship(self)

    # -- before accept --------------------------------------------------------------------

    def decide(
        self,
        job_id: str,
        room_name: str,
        job_md: str,
        room_md: str,
        *,
        agent: str | None = None,
        named_by: str = NAMED,
    ) -> RouteDecision:
        """This pool's routing decision for a job (see ``routing.decide_agent``), with the
        job's labels; raises ``LabelRefused`` when a labeler declines it."""
        request = RouteRequest(
            job_id=job_id,
            room_name=room_name,
            job_metadata=job_md,
            room_metadata=room_md,
            agents=tuple(self.agents),
        )
        decision = decide_agent(self.chain, request, agent=agent, named_by=named_by)
        if not self.labelers:
            return decision
        return attrs.evolve(decision, labels=label_job(self.labelers, request))

    def admission_reason(
        self,
        job_id: str,
        room: str,
        agent: str,
        *,
        labels: Mapping[str, str] | None = None,
        state: WorkerState | None = None,
    ) -> tuple[str, str] | None:
        """The first rule that rejects the job, with its reason; draining always rejects.

        ``state`` replaces the worker's live counters (a what-if from ``check_job``)."""
        state = state or self.state.worker_state()
        if state.draining:
            return "draining", "worker is draining and accepts no new sessions"
        request = AdmissionRequest(
            job_id=job_id, room_name=room, agent=agent, state=state, labels=labels or {}
        )
        for name, rule in self.admission_rules.items():
            reason = rule.check(request)
            if reason:
                return name, reason
        return None

    def verdict(
        self,
        job_id: str,
        room: str,
        job_md: str,
        room_md: str,
        *,
        agent: str | None = None,
        state: WorkerState | None = None,
    ) -> JobVerdict:
        """Route, then admit: what the worker does with this request. Changes nothing, so
        ``AgentPool.check_job`` can ask the same question the request handler asks."""
        try:
            decision = self.decide(job_id, room, job_md, room_md, agent=agent)
        except (RoutingError, UnknownAgentError) as exc:
            return JobVerdict(decision=None, rejected_by="routing", reason=str(exc))
        except LabelRefused as exc:
            return JobVerdict(decision=None, rejected_by=exc.labeler, reason=str(exc))
        rejection = self.admission_reason(
            job_id, room, decision.agent, labels=decision.labels, state=state
        )
        if rejection is not None:
            rule, reason = rejection
            return JobVerdict(decision=decision, rejected_by=rule, reason=reason)
        return JobVerdict(decision=decision)

    async def handle_request(self, request: Any) -> None:
        """livekit ``JobRequest`` handler: decide, then accept or hand the job back."""
        job = request.job
        room = job.room.name
        verdict = self.verdict(job.id, room, job.metadata, job.room.metadata)
        decision = verdict.decision
        if not verdict.admitted or decision is None:
            agent = decision.agent if decision else None
            # a routing or labelling failure is the dispatcher's mistake; a full worker is routine
            level = logging.WARNING if decision is None else logging.INFO
            logger.log(level, "declining job %s (room '%s'): %s", job.id, room, verdict.reason)
            labels = decision.labels if decision else {}
            rule, reason = verdict.rejected_by or "", verdict.reason or ""
            self._rejected(job.id, room, agent, rule, reason, labels)
            await request.reject(terminate=False)
            return
        logger.info(
            "routing job %s (room '%s') to agent '%s' by router '%s'",
            job.id,
            room,
            decision.agent,
            decision.router,
        )
        self.session_started(job.id, room, decision)
        try:
            await request.accept(
                name=decision.agent,
                identity=f"agent-{decision.agent}-{job.id}",
                attributes={**decision_attributes(decision), VERSION_ATTRIBUTE: self.version},
            )
        except Exception:  # not swallowed: counted as not launched, then re-raised
            # accept() returns once the job launched: the server never assigned it, or no
            # job process could start (process isolation). Without this it would stay active.
            if self.on_not_launched is not None:
                self.on_not_launched(JobEnded(job.id, room, decision.agent, succeeded=False))
            raise

    def session_started(self, job_id: str, room: str, decision: RouteDecision) -> None:
        """Count a routed job as started. Jobs the worker launches itself (``openrtc connect``)
        come here too, with the decision their launcher made."""
        labels = decision.labels
        self.emit(
            events.JobRouted(
                job_id=job_id,
                room=room,
                agent=decision.agent,
                router=decision.router,
                labels=labels,
            )
        )
        self.state.session_started(job_id, decision.agent, room, labels)
        self.emit(
            events.SessionStarted(job_id=job_id, room=room, agent=decision.agent, labels=labels)
        )

    def _rejected(
        self,
        job_id: str,
        room: str,
        agent: str | None,
        rule: str,
        reason: str,
        labels: Mapping[str, str],
    ) -> None:
        self.state.session_rejected(rule, labels)
        self.emit(
            events.AdmissionRejected(
                job_id=job_id, room=room, agent=agent, rule=rule, reason=reason, labels=labels
            )
        )

    # -- in the process that runs sessions ------------------------------------------------

    def prewarm(self, proc: Any) -> None:
        self.host.hook.openrtc_prewarm(proc=proc, settings=self.settings)

    def plan(self, config: AgentConfig, spec: SessionSpec) -> SessionPlan:
        return plan_session(self.host, self.defaults, config, spec)

    def local_session(self, config: AgentConfig, proc: Any) -> SessionPlan:
        """Prewarm ``proc`` and plan the session of ``config`` as the entrypoint would, for
        running it outside a worker (``openrtc console``)."""
        self.prewarm(proc)
        spec = SessionSpec(
            agent=config.name,
            job_id=f"console-{config.name}",
            room_name="console",
            userdata=proc.userdata,
            settings=self.settings,
        )
        return self.plan(config, spec)

    async def entrypoint(self, ctx: Any) -> None:
        """livekit job entrypoint: build the session for the routed agent and greet."""
        try:
            await self._run_session(ctx)
        except BaseException:  # recorded, then re-raised for livekit's own handling
            self.state.job_failed(ctx.job.id)
            raise

    async def _run_session(self, ctx: Any) -> None:
        from openrtc.livekit_adapter import accept_attributes

        attributes = accept_attributes(ctx)
        decision = decision_from_attributes(attributes)
        if decision is None:
            # jobs that never went through the request handler (console, simulated jobs)
            job = ctx.job
            decision = self.decide(job.id, job.room.name, job.metadata, job.room.metadata)
        config = self.agents.get(decision.agent)
        if config is None:
            raise UnknownAgentError(
                f"agent '{decision.agent}' was removed after job {ctx.job.id} was routed to it"
            )
        spec = SessionSpec(
            agent=config.name,
            job_id=ctx.job.id,
            room_name=ctx.job.room.name,
            userdata=ctx.proc.userdata,
            settings=self.settings,
            labels=decision.labels,
        )
        plan = self.plan(config, spec)
        session = build_session(plan)
        session.on(
            "close",
            end_job_on_session_close(
                ctx, config.name, self.state, ends_job=self.settings["session_close_ends_job"]
            ),
        )
        watch_call(
            session,
            job_id=ctx.job.id,
            room=ctx.job.room.name,
            agent=config.name,
            labels=decision.labels,
            reply_timeout=self.settings["reply_timeout"],
            transcript_timeout=self.settings["transcript_timeout"],
            emit=self.emit_from_session,
            restart=lambda: self.live.restart(ctx.job.id),
        )
        job = traced_job(
            ctx,
            decision,
            attributes=attributes,
            version=self.version,
            isolation=self.settings["isolation"],
            admitted_by=tuple(self.admission_rules),
        )
        open_job_traces(ctx, self.tracers, job)  # current here: livekit's spans nest under it
        await start_session(session, plan, room=ctx.room)
        self.live.track(ctx.job.id, config.name, session)
        if os.getpid() != self.worker_pid:  # in the worker, top reads the session itself
            self._call_states().ensure_running()

        async def forget_session() -> None:
            self.live.forget(ctx.job.id)

        # however the job ends; a session closing on its own also ends the job
        ctx.add_shutdown_callback(forget_session)
        if self.settings["session_close_ends_job"] and not ctx.is_fake_job():
            end_job_when_caller_gone(ctx)  # a console job has a mock room and no server

    def emit_from_session(self, event: events.MetricsEvent) -> None:
        """Export an event measured by a running session: at once in the worker; from a job
        process or a session host, through the worker's control socket (``event_channel``)."""
        if os.getpid() == self.worker_pid:
            self.emit(event)
            return
        if self._forwarder is None:
            socket = worker_socket(self.settings["control_dir"], self.worker_pid)
            self._forwarder = EventForwarder(socket)
        self._forwarder(event)

    def _call_states(self) -> StateReporter:
        if self._reporter is None:
            socket = worker_socket(self.settings["control_dir"], self.worker_pid)
            self._reporter = StateReporter(socket, self.live)
        return self._reporter

    def apply_code(self, sources: tuple[Any, ...]) -> None:
        """In a session host forked from the worker: run the agent code the worker's hot
        reload ran, and move this process's live sessions to it as the worker does its own."""
        from livekit.agents import Agent

        from openrtc.reload import apply_sources

        outcome = apply_sources(sources, self.agents, Agent)
        if not outcome.applied:
            logger.error("reloaded code did not run here as in the worker: %s", outcome.error)
            return
        moving = sum(self.live.move_to(*replaced)[0] for replaced in outcome.replaced)
        logger.info(
            "reloaded %s in session host %d: %d live session(s) move on their next turn",
            ", ".join(outcome.agents),
            os.getpid(),
            moving,
        )


def parse_metadata(raw: str) -> Mapping[str, Any] | None:
    """Metadata as a JSON object, or ``None`` when it is empty, not JSON or not an object."""
    if not raw or not raw.strip():
        return None
    try:
        value = json.loads(raw)
    except json.JSONDecodeError:
        logger.debug("metadata is not JSON; ignored for routing: %.80r", raw)
        return None
    if not isinstance(value, dict):
        logger.debug("metadata is JSON but not an object; ignored for routing: %.80r", raw)
        return None
    return value
