"""The named strategy objects plugins return from registration hooks.

Strategies are chosen by their configured ``name``, never by plugin load order. Two plugins that
return a strategy of the same kind and name are a conflict the kernel reports with both
distributions. Nothing here imports livekit-agents, so listing plugins stays fast.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping, Sequence
from typing import TYPE_CHECKING, Any, Protocol, runtime_checkable

import attrs

from openrtc.events import WorkerHealth
from openrtc.settings import Settings

if TYPE_CHECKING:
    from openrtc.events import MetricsEvent, RuntimeSnapshot
    from openrtc.probes import ProbeAnswer


class RoutingError(ValueError):
    """A dispatch carries routing input that is malformed (for example a non-string agent)."""


@attrs.frozen
class RouteRequest:
    """What a router sees about one dispatched job, before the worker accepts it."""

    job_id: str
    room_name: str
    job_metadata: str
    room_metadata: str
    agents: tuple[str, ...]
    """Registered agent names, in registration order."""


class LabelError(ValueError):
    """A job labeler found the dispatch's input for its label invalid (a malformed tenant
    id, a tenant nobody configured): the job is declined with this message."""


@attrs.frozen
class RouteDecision:
    """The one routing answer for a job; it travels with the job to the entrypoint."""

    agent: str
    router: str
    """Name of the router that decided (``"connect"`` when ``openrtc connect --agent`` chose)."""
    labels: Mapping[str, str] = attrs.field(factory=dict, hash=False)
    """What the job labelers said about the job (``{"tenant": "acme"}``), decided with the
    route and carried with it."""


@attrs.frozen
class JobLabeler:
    """Labels a dispatched job once, after routing and before admission.

    ``label`` returns a value for some of the ``keys`` it declares (two labelers declaring the
    same key is a conflict), or raises ``LabelError`` to decline the job with its message. The
    labels travel with the job: admission rules, session hooks, events, snapshots and the
    agent participant's attributes carry them. They are names, never secrets.
    """

    name: str
    keys: tuple[str, ...]
    label: Callable[[RouteRequest], Mapping[str, str]] = attrs.field(eq=False)
    summary: str = ""


@attrs.frozen
class TracedJob:
    """What a job tracer knows about the job whose trace it opens: the decisions made at the
    request, read back where the session runs."""

    job_id: str
    room: str
    agent: str
    router: str
    """The router that chose the agent (``named`` when the caller named it)."""
    labels: Mapping[str, str]
    """The job labelers' answer (``{"tenant": "acme"}``)."""
    version: str
    """The deployment version that accepted the job."""
    isolation: str
    admitted_by: tuple[str, ...]
    """The admission rules that let the job in, in the order they were asked."""


@attrs.frozen
class JobTracer:
    """Opens a trace for each job where its session runs, and closes it when the job ends.

    ``start`` is called in the job's own task, in the process that runs the session (the
    worker, a job process or a session host), right before the session starts: context
    variables it sets there, such as OpenTelemetry's current span, are inherited by
    everything the session starts, so livekit's own session spans nest under it. It returns
    the function the kernel calls once when the job shuts down, with livekit's shutdown
    reason, after the session has closed. A tracer that raises is logged and skipped; it
    never fails the call.
    """

    name: str
    start: Callable[[TracedJob], Callable[[str], None]] = attrs.field(eq=False)
    summary: str = ""


@attrs.frozen
class JobVerdict:
    """What a worker does with one job request: run it on ``decision`` or decline it.

    ``rejected_by`` is ``"routing"`` when no registered agent could be chosen (``decision`` is
    then ``None``), ``"draining"``, or the name of the admission rule that refused; ``reason``
    is that rule's one-line reason.
    """

    decision: RouteDecision | None
    rejected_by: str | None = None
    reason: str | None = None

    @property
    def admitted(self) -> bool:
        return self.rejected_by is None


@attrs.frozen
class Router:
    """Maps a job to an agent name, or ``None`` to let the next router in the chain try.

    ``priority`` orders the default chain, lowest first. ``route`` may raise ``RoutingError``
    for malformed input; it must not return a name that is not registered unless it means it:
    the kernel declines such a job rather than falling back.
    """

    name: str
    priority: int
    route: Callable[[RouteRequest], str | None] = attrs.field(eq=False)
    summary: str = ""


@attrs.frozen
class WorkerState:
    """Counters an admission rule or load contribution may read."""

    active_sessions: int
    active_by_agent: Mapping[str, int]
    max_concurrent_sessions: int
    draining: bool
    starting_sessions: int = 0
    """Sessions accepted in the last few seconds (``STARTING_S``): live, but still greeting,
    so what they will cost is not in ``health`` yet. Counted in ``active_sessions`` too."""
    health: WorkerHealth | None = None
    """Loop lag and CPU, measured while the worker serves; ``None`` otherwise (``check_job``
    outside a worker, ``console``)."""
    active_by_label: Mapping[str, Mapping[str, int]] = attrs.field(factory=dict, hash=False)
    """Live sessions by label key, then value: ``{"tenant": {"acme": 2}}``."""


@attrs.frozen
class AdmissionRequest:
    job_id: str
    room_name: str
    agent: str
    state: WorkerState
    labels: Mapping[str, str] = attrs.field(factory=dict, hash=False)
    """The job's labels (``JobLabeler``)."""


@attrs.frozen
class AdmissionRule:
    """Returns a rejection reason for a job request, or ``None`` to admit it.

    Rules run before the worker accepts, so a rejected job goes back to LiveKit for another
    worker. A reason is one line naming what is exhausted (``"at capacity: 50/50 sessions"``).
    """

    name: str
    check: Callable[[AdmissionRequest], str | None] = attrs.field(eq=False)
    summary: str = ""
    observe: Callable[[MetricsEvent], Sequence[MetricsEvent] | None] | None = attrs.field(
        default=None, eq=False
    )
    """Sees every event of the worker as it happens, in the worker process whatever the
    isolation (a session that failed mid-call ends as a ``session_ended`` with outcome
    ``failed``): how a rule learns from outcomes, as a circuit breaker does. What it returns
    (``AdmissionStateChanged``, ...) is emitted in turn; it is not shown to rules again."""
    report: Callable[[], Mapping[str, Any]] | None = attrs.field(default=None, eq=False)
    """The rule's state for the snapshot's ``admission`` section (names and counts only)."""


@attrs.frozen
class SessionSpec:
    """What a session-construction hook knows about the session being built."""

    agent: str
    job_id: str
    room_name: str
    userdata: Mapping[Any, Any]
    """The worker process's ``JobProcess.userdata`` after prewarm (shared models live here)."""
    settings: Settings
    labels: Mapping[str, str] = attrs.field(factory=dict, hash=False)
    """The job's labels (``JobLabeler``), as decided before it was accepted."""


@attrs.frozen
class JobEnded:
    """Reported by an isolation mode when a job's executor finishes, in the worker process."""

    job_id: str
    room_name: str
    agent: str | None
    succeeded: bool


class ConnectionFailure(Protocol):
    """Reported by a worker server after each failed attempt to reach LiveKit and register,
    before it tries again (livekit's adapter reports ``openrtc.livekit_adapter``'s
    ``ConnectionFailed``)."""

    @property
    def url(self) -> str: ...

    @property
    def cause(self) -> str:
        """What went wrong, in a few words: "Connection refused", "HTTP 401 Unauthorized"."""

    @property
    def http_status(self) -> int | None:
        """The HTTP status the server answered with, when it answered one."""

    @property
    def attempt(self) -> int:
        """Failed attempts in a row, 1 for the first."""

    @property
    def retry_in(self) -> float:
        """Seconds until the next attempt."""

    @property
    def reconnecting(self) -> bool:
        """True when the worker had registered before and lost the connection."""

    @property
    def give_up_after(self) -> int | None:
        """Failed attempts after which the server stops by itself; None while it keeps trying
        (before the first registration the kernel bounds it: ``registration_timeout``)."""


@attrs.frozen
class WorkerSpec:
    """Everything an isolation mode needs to build the worker for a pool."""

    entrypoint: Callable[[Any], Awaitable[None]] = attrs.field(eq=False)
    """Runs one job: called with livekit's ``JobContext``."""
    request_handler: Callable[[Any], Awaitable[None]] = attrs.field(eq=False)
    """Accepts or rejects one ``JobRequest`` (routing and admission live here)."""
    prewarm: Callable[[Any], None] = attrs.field(eq=False)
    """Loads shared models into a ``JobProcess``; the mode decides how often it runs."""
    load: Callable[[], float] = attrs.field(eq=False)
    """The worker load to report to LiveKit, 0.0 to 1.0 of capacity."""
    on_job_ended: Callable[[JobEnded], None] = attrs.field(eq=False)
    ws_url: str
    api_key: str = attrs.field(repr=False)
    api_secret: str = attrs.field(repr=False)
    settings: Settings
    devmode: bool = False
    http_port: int = 0
    on_connection_failed: Callable[[ConnectionFailure], None] | None = attrs.field(
        default=None, eq=False
    )
    """Call after each failed attempt to reach LiveKit; before the first registration the
    server keeps retrying until it is closed (the kernel closes it at ``registration_timeout``).
    """
    job_failed: Callable[[str], bool] | None = attrs.field(default=None, eq=False)
    """Whether the kernel marked the job with this id failed (its entrypoint raised, or its
    session closed on an error), as seen by the process that ran the entrypoint. A mode whose
    jobs run in processes of its own asks it there and reports the answer back."""
    apply_code: Callable[[tuple[Any, ...]], None] | None = attrs.field(default=None, eq=False)
    """Runs reloaded agent code (the ``ModuleSource`` texts hot reload ran, in order) in a
    process that runs sessions and was forked from the worker, as the worker applied it."""
    probes: Mapping[str, Callable[[], ProbeAnswer]] = attrs.field(factory=dict, eq=False)
    """HTTP GET paths the worker answers for orchestrators (``/healthz``, ``/readyz``), each
    with the function that answers it, on the worker's HTTP port."""


@runtime_checkable
class WorkerServer(Protocol):
    """The worker an isolation mode builds; livekit's ``AgentServer`` satisfies it."""

    async def run(self, *, devmode: bool = False, unregistered: bool = False) -> None: ...

    # livekit's own signature, which takes the timeout as an argument
    async def drain(self, timeout: Any = ...) -> None: ...  # noqa: ASYNC109

    async def aclose(self) -> None: ...

    def on(self, event: str, callback: Callable[..., Any]) -> Any:
        """Subscribe to ``"worker_started"`` (emitted once ``run()`` begins connecting; the
        kernel's ``registration_timeout`` counts from it) and ``"worker_registered"`` (called
        with the worker id and server info)."""

    def code_changed(self, sources: tuple[Any, ...]) -> bool:
        """Hot reload replaced agent classes in the worker's registry by running ``sources``
        (``ModuleSource`` texts, in order): sessions that start from now on must run them
        (warm job processes started with the old code are replaced; session hosts run the
        same texts). Returns False when this worker's sessions cannot get the new code."""

    def session_host_health(self) -> tuple[WorkerHealth, int] | None:
        """Where sessions run on event loops of other processes (session hosts): the loop
        figures and live sessions of the one the next call would go to, which the kernel
        folds into ``WorkerState.health``. ``None`` otherwise, or before that host reported."""


@attrs.frozen
class IsolationMode:
    """How sessions run inside the worker (asyncio tasks, OS processes, ...)."""

    name: str
    build_server: Callable[[WorkerSpec], WorkerServer] = attrs.field(eq=False)
    summary: str = ""
    prewarm_per_session: bool = False
    """True when each session runs in its own process and so pays prewarm itself."""


@runtime_checkable
class MetricsExporter(Protocol):
    """Receives typed events and periodic snapshots. Calls come on the worker's event loop and
    must not block it: buffer and hand off I/O."""

    name: str

    def export_event(self, event: MetricsEvent) -> None: ...

    def export_snapshot(self, snapshot: RuntimeSnapshot) -> None: ...

    def close(self) -> None: ...


STRATEGY_KINDS: Mapping[str, str] = {
    "openrtc_isolation_modes": "isolation mode",
    "openrtc_routers": "router",
    "openrtc_admission_rules": "admission rule",
    "openrtc_job_labelers": "job labeler",
    "openrtc_metrics_exporters": "metrics exporter",
    "openrtc_job_tracers": "job tracer",
}
"""Registration hooks and the kind of named strategy each returns."""

STRATEGY_TYPES: Mapping[str, type] = {
    "openrtc_isolation_modes": IsolationMode,
    "openrtc_routers": Router,
    "openrtc_admission_rules": AdmissionRule,
    "openrtc_job_labelers": JobLabeler,
    "openrtc_metrics_exporters": MetricsExporter,
    "openrtc_job_tracers": JobTracer,
}
"""What each registration hook must return a list of."""
