"""What a pool is built into (plugins, resolved settings, chosen strategies, counters) and how
it serves: the worker, its metrics, its drain. ``pool_build`` makes one."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Mapping, MutableMapping
from typing import Any

import attrs

from openrtc import admission, events
from openrtc.audit import DeploymentAudit
from openrtc.config import AgentConfig, ConfigurationError
from openrtc.deployment import deployment_version
from openrtc.health import LoopMonitor, serving_health
from openrtc.hot_reload import HotReload
from openrtc.jobs import JobHandlers
from openrtc.lost_workers import forget
from openrtc.plugins import PluginHost
from openrtc.probes import WorkerProbes
from openrtc.registration import LiveKitConnectionError, RegistrationWatch, connection_values
from openrtc.room_join import RoomJoin, RoomJoiner
from openrtc.routing import RouterChain
from openrtc.runtime import RuntimeState
from openrtc.session_ends import cancel_unfinished, record_job_end
from openrtc.settings import Settings
from openrtc.snapshots import SnapshotTicker
from openrtc.strategies import (
    AdmissionRule,
    IsolationMode,
    JobEnded,
    MetricsExporter,
    WorkerServer,
    WorkerSpec,
)
from openrtc.takeover import Deployment
from openrtc.worker_control import TakeoverError, WorkerControl
from openrtc.worker_tasks import worker_task

logger = logging.getLogger("openrtc.pool")


@attrs.define
class PoolRuntime:
    host: PluginHost
    settings: Settings
    isolation: IsolationMode
    router_chain: RouterChain
    admission_rules: dict[str, AdmissionRule]
    state: RuntimeState
    handlers: JobHandlers = attrs.field(init=False)
    """Made by ``build`` right after the runtime: they report to its ``emit`` and
    ``_job_ended``."""
    exporters: list[MetricsExporter] = attrs.field(factory=list)
    server: WorkerServer | None = None
    started: bool = False
    supervisor_task: asyncio.Task[None] | None = None
    registered: asyncio.Event = attrs.field(factory=asyncio.Event)
    worker_id: str | None = None
    joiner: RoomJoiner | None = None
    """Set while serving one room directly (``openrtc connect``) instead of dispatched jobs."""
    registration: RegistrationWatch | None = None
    """Set by ``serve``: the connection's failed attempts and the registration bound."""
    monitor: LoopMonitor = attrs.field(factory=LoopMonitor)
    """Loop lag and CPU, measured once the worker registered (``WorkerState.health``)."""
    agents: MutableMapping[str, AgentConfig] = attrs.field(factory=dict)
    """The pool's registry (the same mapping): hot reload swaps classes in it."""
    hot_reload: HotReload | None = None
    """Set while agent files are watched (``reload`` setting)."""
    audit: DeploymentAudit = attrs.field(init=False)
    """The deployment audit trail: started, ready, drain started and completed."""
    control: WorkerControl | None = None
    """Set by ``serve``: the control socket (``info``, ``drain``) and the takeover, if any."""
    exporters_closed: bool = False
    """Set once the exporters closed at the end of ``serve``: later events are not sent."""

    def __attrs_post_init__(self) -> None:
        self.audit = DeploymentAudit(self.emit, self.state)

    # -- metrics --------------------------------------------------------------------------

    def emit(self, event: events.MetricsEvent) -> None:
        """Send ``event`` to every exporter, and show it to the admission rules that learn
        from events; what they answer with is exported too. Once the exporters are closed
        (the worker stopped) nothing more reaches them."""
        if isinstance(event, events.TurnMeasured):
            self.state.turn_measured(event)
        if self.exporters_closed:
            logger.debug("%s after the exporters closed; not exported", event.kind)
            return
        for each in (event, *admission.observe(self.admission_rules, event)):
            for exporter in self.exporters:
                try:
                    exporter.export_event(each)
                except Exception:  # an exporter bug must never fail a job; it is logged loudly
                    logger.exception("metrics exporter '%s' failed on %s", exporter.name, each.kind)

    def _job_ended(self, ended: JobEnded) -> None:
        if record_job_end(self.state, self.emit, ended) and self.joiner is not None:
            self.joiner.job_ended(ended.job_id)

    def load(self) -> float:
        """Reported load: the largest contribution of the ``openrtc_worker_load`` hooks.

        The own share counts every admitted session, launched or not: livekit's own estimate
        for jobs still launching is switched off (``livekit_adapter/availability.py``)."""
        state = self.state.worker_state()
        own = state.active_sessions / max(state.max_concurrent_sessions, 1)
        contributions = self.host.hook.openrtc_worker_load(state=state, settings=self.settings)
        value = max([own, *(float(c) for c in contributions if c is not None)])
        return min(max(value, 0.0), 1.0)

    # -- serving --------------------------------------------------------------------------

    async def serve(
        self,
        *,
        url: str | None,
        api_key: str | None,
        api_secret: str | None,
        devmode: bool,
        http_port: int,
        join: RoomJoin | None = None,
    ) -> None:
        if self.started:
            raise RuntimeError("this pool's worker is already running")
        if not self.handlers.agents:
            raise ConfigurationError(
                "no agents are registered; call pool.add(...) or pool.discover(...) first"
            )
        connection = connection_values(url, api_key, api_secret)
        self.started = True
        registration = RegistrationWatch(
            url=connection["LIVEKIT_URL"], timeout=float(self.settings["registration_timeout"])
        )
        self.registration = registration
        self.exporters = list(
            self.host.strategies("openrtc_metrics_exporters", self.settings).values()
        )
        # from here on everything started is stopped again, even when the start itself fails
        # (an isolation mode refusing the pool, a control directory refused): an exporter left
        # listening would hold its port against the next worker in this process
        control: WorkerControl | None = None
        ticker: SnapshotTicker | None = None
        reloading: asyncio.Task[None] | None = None
        try:
            self._start_deployment()
            deployment = Deployment(connection["LIVEKIT_URL"], self.settings["dispatch_name"])
            opening = self.control = WorkerControl(
                self, deployment, started_at=time.time(), drain=self._drain_soon
            )
            await opening.open()
            control = opening  # open: from here on closed again, and told of a failed start
            if control.last_snapshot is not None:
                self.exporters.append(control.last_snapshot)
            http_port = http_port or self.settings["http_port"]
            spec = self._worker_spec(connection, registration, devmode=devmode, http_port=http_port)
            self.server = self.isolation.build_server(spec)
            self.server.on("worker_registered", self._on_registered)
            connecting = asyncio.Event()
            self.server.on("worker_started", lambda *_: connecting.set())
            if join is not None:
                self.joiner = self._joiner(join, connection, self.server)
            ticker = SnapshotTicker(
                self.state.snapshot, self.exporters, self.settings["metrics_interval"]
            )
            ticker.start()
            reloading = self._start_hot_reload(self.server, devmode)
            # a worker serving one room takes no dispatched jobs, like livekit's `connect`
            await self._run_server(
                self.server,
                registration,
                devmode=devmode,
                unregistered=join is not None,
                connecting=connecting,
            )
        except BaseException as exc:  # re-raised: a takeover that ends here has failed
            if control is not None and not self.registered.is_set():
                await control.failed(str(exc) or type(exc).__name__)
            raise
        finally:
            if control is not None:
                await control.close()
            if reloading is not None:
                reloading.cancel()
            await self.monitor.stop()
            cancel_unfinished(self.state, self.emit)
            if ticker is not None:
                ticker.stop()  # the final snapshot, after the last session ended
            for exporter in self.exporters:
                exporter.close()
            self.exporters_closed = True
            if control is not None and control.last_snapshot is not None:
                forget(control.last_snapshot)
        if self.joiner is not None and self.joiner.error is not None:
            raise self.joiner.error

    def _start_deployment(self) -> None:
        """Decide the version every call, snapshot and event carries, and open the audit
        trail with it."""
        classes = [config.agent_cls for config in self.handlers.agents.values()]
        version = deployment_version(self.settings["deployment_version"], classes)
        self.handlers.version = self.state.deployment = version
        self.audit.started(version, self.isolation.name)

    def _connected(self) -> bool:
        """Registered, and no attempt to reach LiveKit failed since (a lost connection is
        being retried)."""
        watch = self.registration
        return self.registered.is_set() and (watch is None or watch.last_failure is None)

    def _probes(self) -> WorkerProbes:
        return WorkerProbes(
            version=self.handlers.version,
            registered=self._connected,
            draining=lambda: self.state.draining,
            load=self.load,
            active=lambda: self.state.active,
        )

    def _start_hot_reload(self, server: WorkerServer, devmode: bool) -> asyncio.Task[None] | None:
        if not HotReload.wanted(self.settings["reload"], devmode=devmode):
            return None
        self.hot_reload = HotReload(
            self.agents,
            emit=self.emit,
            live=self.handlers.live,
            # a server an isolation plugin built on its own may not know how: it says so
            code_changed=getattr(server, "code_changed", lambda sources: False),
        )
        return worker_task(self.hot_reload.run(), "openrtc-hot-reload")

    def _worker_spec(
        self,
        connection: Mapping[str, str],
        registration: RegistrationWatch,
        *,
        devmode: bool,
        http_port: int,
    ) -> WorkerSpec:
        """What the isolation mode builds its worker server from."""
        return WorkerSpec(
            entrypoint=self.handlers.entrypoint,
            request_handler=self.handlers.handle_request,
            prewarm=self.handlers.prewarm,
            load=self.load,
            on_job_ended=self._job_ended,
            ws_url=connection["LIVEKIT_URL"],
            api_key=connection["LIVEKIT_API_KEY"],
            api_secret=connection["LIVEKIT_API_SECRET"],
            settings=self.settings,
            devmode=devmode,
            http_port=http_port,
            on_connection_failed=registration.attempt_failed,
            job_failed=self.state.has_failed,
            apply_code=self.handlers.apply_code,
            probes=self._probes().routes(),
        )

    async def _run_server(
        self,
        server: WorkerServer,
        registration: RegistrationWatch,
        *,
        devmode: bool,
        unregistered: bool,
        connecting: asyncio.Event,
    ) -> None:
        running = asyncio.ensure_future(server.run(devmode=devmode, unregistered=unregistered))
        control = self.control
        bound = control.start_bound(server.aclose) if control is not None else None
        try:
            if not unregistered:
                await registration.bound_first_registration(
                    server,
                    running,
                    connecting=connecting,
                    registered=self.registered,
                    draining=lambda: self.state.draining,
                )
            await running
            if control is not None and control.timed_out is not None:
                raise TakeoverError(
                    f"not registered with LiveKit within takeover_timeout "
                    f"({control.timed_out:g} s); nothing was taken over"
                )
        except TakeoverError:
            raise
        except Exception as exc:
            # whatever ended the server, what it opened (its HTTP session above all) is closed
            # here, not found unclosed by the interpreter at exit
            await server.aclose()
            failure = registration.last_failure
            if failure is not None and failure.reconnecting:
                raise LiveKitConnectionError(
                    f"{exc}; exiting, so that the worker can be restarted once LiveKit is back"
                ) from exc
            raise
        except BaseException:  # not swallowed: the server is closed, then it is re-raised
            # a second signal cancelled the serving task: the live sessions stop with the
            # server, and are recorded as cancelled before it reports them ended its own way
            cancel_unfinished(self.state, self.emit)
            await server.aclose()
            raise
        finally:
            if bound is not None:
                bound.cancel()

    def _joiner(
        self, join: RoomJoin, connection: Mapping[str, str], server: WorkerServer
    ) -> RoomJoiner:
        joiner = RoomJoiner(
            join=join,
            handlers=self.handlers,
            url=connection["LIVEKIT_URL"],
            api_key=connection["LIVEKIT_API_KEY"],
            api_secret=connection["LIVEKIT_API_SECRET"],
            finished=self._drain_soon,
        )
        server.on("worker_started", lambda *_: joiner.launch(server))
        return joiner

    def _drain_soon(self, reason: str) -> None:
        # keep a reference: a task nobody holds can be garbage-collected mid-drain
        self.supervisor_task = worker_task(self.drain(reason), "openrtc-drain")

    def _on_registered(self, worker_id: str, *_: Any) -> None:
        self.worker_id = worker_id
        # measured from registration on: prewarm before it may hold the loop for seconds,
        # and refusing the first calls for a stall that is over would help no one
        self.monitor.start()
        # a server an isolation plugin built on its own may run no session hosts
        hosts = getattr(self.server, "session_host_health", None)
        self.state.measure_health(serving_health(self.monitor, hosts))
        if self.registration is not None:
            self.registration.last_failure = None
        self.registered.set()
        self.audit.registered(worker_id)
        if self.control is not None:
            self.control.registered()
        logger.info(
            "worker %s registered (%s isolation, version %s) serving agents: %s",
            worker_id,
            self.isolation.name,
            self.handlers.version,
            ", ".join(self.handlers.agents),
        )
        logger.info("settings in force: %s", self.settings.overridden())
        self.emit(
            events.WorkerRegistered(
                isolation=self.isolation.name,
                agents=tuple(self.handlers.agents),
                version=self.handlers.version,
            )
        )

    async def drain(self, reason: str) -> None:
        """Reject new jobs, wait up to ``drain_timeout`` for live ones, then close the worker."""
        if self.state.draining:
            return
        self.state.draining = True
        self.audit.drain_started(reason)
        logger.info("draining (%s): %d live sessions", reason, self.state.active)
        server = self.server
        if server is None:
            return
        timeout = self.settings["drain_timeout"]
        try:
            await server.drain(timeout=int(timeout) if timeout else None)
        except TimeoutError:
            logger.warning(
                "drain_timeout (%ss) passed with %d sessions still live; cancelling them",
                timeout,
                self.state.active,
            )
            self.audit.drain_completed()
            cancel_unfinished(self.state, self.emit)
        else:
            self.audit.drain_completed()
        await server.aclose()

    def _failure_limit_reached(self, failures: int) -> None:
        # keep a reference: a task nobody holds can be garbage-collected mid-drain
        self.supervisor_task = worker_task(
            self.drain(f"{failures} consecutive session failures"), "openrtc-drain"
        )
