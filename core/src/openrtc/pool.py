"""``AgentPool``: many agents, one worker."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from openrtc import discovery
from openrtc.config import AgentConfig, AgentConfigError, ProviderValue, check_agent_name
from openrtc.events import RuntimeSnapshot
from openrtc.plugins import PluginCandidate, PluginRecord, check_blocked_names, find_candidates
from openrtc.pool_build import build_runtime
from openrtc.session import PoolDefaults
from openrtc.strategies import JobVerdict, WorkerState

if TYPE_CHECKING:
    from openrtc.room_join import RoomJoin
    from openrtc.sessions import SessionPlan
    from openrtc.settings import Settings

logger = logging.getLogger("openrtc.pool")


def _agent_base() -> type:
    # imported here, not at module level: listing plugins and `openrtc --help` stay light
    from livekit.agents import Agent

    return Agent


class AgentPool:
    """Registers many livekit ``Agent`` classes and runs them in one worker.

    Every argument is keyword-only and optional. Settings, every argument here but
    ``default_session_kwargs``, ``plugin_settings`` and ``plugins``, follow one precedence:
    command-line flag > ``OPENRTC_*`` environment variable > this constructor > default.

    :param default_stt: STT for agents that do not set their own (instance or ``provider/model``;
        ``--default-stt`` and ``OPENRTC_DEFAULT_STT`` give a ``provider/model`` string).
    :param default_llm: LLM for agents that do not set their own (likewise).
    :param default_tts: TTS for agents that do not set their own (likewise).
    :param default_greeting: instructions for the first reply after the room connects, for
        agents that do not set their own.
    :param default_session_kwargs: ``AgentSession`` keyword arguments for every agent.
    :param isolation: isolation mode name (``"coroutine"`` by default, or ``"process"``).
    :param max_concurrent_sessions: sessions per worker before LiveKit sees it as full.
    :param consecutive_failure_limit: failed sessions in a row before the worker drains.
    :param drain_timeout: seconds live sessions get to finish when the worker drains.
    :param registration_timeout: seconds a starting worker retries reaching LiveKit before
        ``serve()`` gives up with ``LiveKitConnectionError`` (0: retry forever).
    :param routers: explicit router chain, in order (default: every router by priority).
    :param dispatch_name: the name the worker registers with LiveKit for explicit dispatch
        (livekit's ``agent_name``); empty means automatic dispatch to every new room.
    :param metrics_interval: seconds between runtime snapshots sent to metrics exporters.
    :param metrics_json_file: a JSON file rewritten atomically with the latest snapshot.
    :param reload: reload an agent's code when its file is saved (``True``/``"on"``,
        ``False``/``"off"``, or ``"auto"``: on under ``openrtc dev``); see docs/hot-reload.md.
    :param disable_plugins: plugin entry-point names to block.
    :param strict_plugins: make a plugin that fails to load an error instead of a warning.
    :param plugin_settings: values for settings that plugins declare, by setting name.
    :param plugins: extra plugin objects registered in-process, by name.
    """

    def __init__(
        self,
        *,
        default_stt: ProviderValue | None = None,
        default_llm: ProviderValue | None = None,
        default_tts: ProviderValue | None = None,
        default_greeting: str | None = None,
        default_session_kwargs: Mapping[str, Any] | None = None,
        isolation: str | None = None,
        max_concurrent_sessions: int | None = None,
        consecutive_failure_limit: int | None = None,
        drain_timeout: float | None = None,
        registration_timeout: float | None = None,
        routers: Sequence[str] | None = None,
        dispatch_name: str | None = None,
        metrics_interval: float | None = None,
        metrics_json_file: str | None = None,
        reload: bool | str | None = None,
        disable_plugins: Sequence[str] | None = None,
        strict_plugins: bool | None = None,
        plugin_settings: Mapping[str, Any] | None = None,
        plugins: Mapping[str, object] | None = None,
    ) -> None:
        self._session_kwargs = dict(default_session_kwargs or {})
        kernel_ctor = {
            "default_stt": default_stt,
            "default_llm": default_llm,
            "default_tts": default_tts,
            "default_greeting": default_greeting,
            "isolation": isolation,
            "max_concurrent_sessions": max_concurrent_sessions,
            "consecutive_failure_limit": consecutive_failure_limit,
            "drain_timeout": drain_timeout,
            "registration_timeout": registration_timeout,
            "routers": routers,
            "dispatch_name": dispatch_name,
            "metrics_interval": metrics_interval,
            "metrics_json_file": metrics_json_file,
            "reload": ({True: "on", False: "off"}[reload] if isinstance(reload, bool) else reload),
            "disable_plugins": disable_plugins,
            "strict_plugins": strict_plugins,
        }
        self._constructor_settings = {k: v for k, v in kernel_ctor.items() if v is not None}
        self._constructor_settings.update(plugin_settings or {})
        self._extra_plugins = dict(plugins or {})
        self._candidates: list[PluginCandidate] = find_candidates()
        self._agents: dict[str, AgentConfig] = {}
        self._flags: dict[str, Any] = {}
        self._runtime = build_runtime(
            candidates=self._candidates,
            constructor=self._constructor_settings,
            flags={},
            extra_plugins=self._extra_plugins,
            agents=self._agents,
            session_kwargs=self._session_kwargs,
        )
        check_blocked_names(self.settings["disable_plugins"], self._candidates)

    # -- settings and plugins -------------------------------------------------------------

    @property
    def settings(self) -> Settings:
        """Every resolved setting, the kernel's and the plugins'."""
        return self._runtime.settings

    @property
    def defaults(self) -> PoolDefaults:
        """What agents get where their registration leaves a slot empty: the resolved
        ``default_stt``/``default_llm``/``default_tts``/``default_greeting`` settings and
        ``default_session_kwargs``."""
        return self._runtime.handlers.defaults

    @property
    def isolation(self) -> str:
        return str(self.settings["isolation"])

    @property
    def max_concurrent_sessions(self) -> int:
        return int(self.settings["max_concurrent_sessions"])

    @property
    def consecutive_failure_limit(self) -> int:
        return int(self.settings["consecutive_failure_limit"])

    @property
    def drain_timeout(self) -> float:
        return float(self.settings["drain_timeout"])

    @property
    def registration_timeout(self) -> float:
        return float(self.settings["registration_timeout"])

    @property
    def routers(self) -> tuple[str, ...]:
        """The router chain in the order routers are asked."""
        return self._runtime.router_chain.names

    @property
    def plugins(self) -> list[PluginRecord]:
        """Every plugin considered, with its status (active, blocked or error)."""
        return self._runtime.host.records

    def apply_flags(
        self, flags: Mapping[str, Any], *, plugins: Mapping[str, object] | None = None
    ) -> None:
        """Apply command-line values (highest precedence) and rebuild the plugin set.

        Installed-plugin metadata is not read again; only the selection is re-applied.
        ``plugins`` adds in-process plugins, as the constructor's ``plugins`` does (the command
        line's ``--dashboard`` comes in this way). Flags equal to those already applied, and
        plugins already registered, change nothing: the plugin host is kept, not rebuilt.
        """
        if self._runtime.started:
            raise RuntimeError("settings cannot change while the worker runs; restart it")
        given = {k: v for k, v in flags.items() if v is not None}
        added = {k: v for k, v in (plugins or {}).items() if self._extra_plugins.get(k) is not v}
        if given == self._flags and not added:
            # nothing new: keep the plugin host already built, so a command line without
            # flags (``openrtc start ./agents``) registers the plugins once, not twice
            return
        self._extra_plugins.update(added)
        self._flags = given
        self._runtime = build_runtime(
            candidates=self._candidates,
            constructor=self._constructor_settings,
            flags=given,
            extra_plugins=self._extra_plugins,
            agents=self._agents,
            session_kwargs=self._session_kwargs,
        )

    # -- registration ---------------------------------------------------------------------

    def add(
        self,
        name: str,
        agent_cls: type,
        *,
        stt: ProviderValue | None = None,
        llm: ProviderValue | None = None,
        tts: ProviderValue | None = None,
        greeting: str | None = None,
        session_kwargs: Mapping[str, Any] | None = None,
        source_path: Path | None = None,
        **session_options: Any,
    ) -> AgentConfig:
        """Register ``agent_cls`` (a livekit ``Agent`` subclass) under ``name``.

        Extra keyword arguments go to ``AgentSession`` and win over the same keys in
        ``session_kwargs``.
        """
        check_agent_name(name)
        if name in self._agents:
            raise AgentConfigError(
                f"agent '{name}' is already registered; pick another name or remove('{name}') first"
            )
        base = _agent_base()
        if not isinstance(agent_cls, type) or not issubclass(agent_cls, base):
            shown = agent_cls.__name__ if isinstance(agent_cls, type) else repr(agent_cls)
            raise AgentConfigError(
                f"agent '{name}': {shown} is not a subclass of livekit.agents.Agent; pass the "
                "Agent class itself (not an instance)"
            )
        if session_kwargs is not None and not isinstance(session_kwargs, Mapping):
            raise AgentConfigError(
                f"agent '{name}': session_kwargs must be a mapping of AgentSession arguments"
            )
        config = AgentConfig(
            name=name,
            agent_cls=agent_cls,
            stt=stt,
            llm=llm,
            tts=tts,
            greeting=greeting,
            session_kwargs=session_kwargs,
            session_options=session_options,
            source_path=source_path,
        )
        self._agents[name] = config
        return config

    def discover(self, directory: str | Path) -> list[AgentConfig]:
        """Register one agent per module of ``directory`` (files starting with ``_`` skipped).

        A module's agent is its ``@agent_config`` class(es), or its only ``Agent`` subclass;
        the name defaults to the file name. Nothing is registered if any module fails.
        """
        base = _agent_base()
        found: list[discovery.DiscoveredAgent] = []
        for path in discovery.agent_modules(Path(directory)):
            module = discovery.load_module(path)
            found.extend(discovery.agents_in_module(module, path, base))
        names = [agent.name for agent in found]
        for agent in found:
            if names.count(agent.name) > 1 or agent.name in self._agents:
                raise AgentConfigError(
                    f"agent '{agent.name}' from {agent.source_path} is already registered; give "
                    "it another name with @agent_config(name=...)"
                )
            check_agent_name(agent.name, where=f"agent name from {agent.source_path.name}")
        return [
            self.add(
                agent.name,
                agent.agent_cls,
                stt=agent.config.stt,
                llm=agent.config.llm,
                tts=agent.config.tts,
                greeting=agent.config.greeting,
                session_kwargs=agent.config.session_kwargs,
                source_path=agent.source_path,
            )
            for agent in found
        ]

    def list_agents(self) -> list[str]:
        """Registered agent names in registration order."""
        return list(self._agents)

    def get(self, name: str) -> AgentConfig:
        try:
            return self._agents[name]
        except KeyError:
            raise KeyError(self._unknown(name)) from None

    def remove(self, name: str) -> AgentConfig:
        """Unregister an agent; sessions already running keep going."""
        try:
            return self._agents.pop(name)
        except KeyError:
            raise KeyError(self._unknown(name)) from None

    def _unknown(self, name: str) -> str:
        registered = ", ".join(self._agents) or "none"
        return f"agent '{name}' is not registered; registered: {registered}"

    # -- running --------------------------------------------------------------------------

    def runtime_snapshot(self) -> RuntimeSnapshot:
        """Counters of this pool's worker: active, started, succeeded, failed, per agent."""
        return self._runtime.state.snapshot()

    def check_job(
        self,
        room: str,
        *,
        job_metadata: str = "",
        room_metadata: str = "",
        agent: str | None = None,
        state: WorkerState | None = None,
    ) -> JobVerdict:
        """What this pool's worker would do with a job for ``room``, without running it.

        The request handler's own routing chain and admission rules answer; nothing is counted
        or emitted. ``agent`` names the agent instead of asking the routers (as ``connect
        --agent`` does). ``state`` replaces the live counters the rules read, to ask "and with
        two dental calls live?"; by default the pool's current counters are used.
        """
        return self._runtime.handlers.verdict(
            "check", room, job_metadata, room_metadata, agent=agent, state=state
        )

    async def serve(
        self,
        *,
        url: str | None = None,
        api_key: str | None = None,
        api_secret: str | None = None,
        devmode: bool = False,
        http_port: int = 0,
        join: RoomJoin | None = None,
    ) -> None:
        """Register with LiveKit and serve jobs until the worker drains or is closed.

        Connection values fall back to ``LIVEKIT_URL``, ``LIVEKIT_API_KEY`` and
        ``LIVEKIT_API_SECRET``. With ``join`` the worker does not register for dispatch: it
        joins that one room directly, serves its session and drains when the session ends
        (``openrtc connect``); ``RoomJoinError`` says when it could not join.
        """
        await self._runtime.serve(
            url=url,
            api_key=api_key,
            api_secret=api_secret,
            devmode=devmode,
            http_port=http_port,
            join=join,
        )

    def local_session(self, agent: str, proc: Any) -> SessionPlan:
        """Prepare one session of ``agent`` outside a worker, as ``openrtc console`` does.

        The prewarm hooks run into ``proc`` (a livekit ``JobProcess``) and the session options
        go through every layer and hook, as in a worker. Raises ``KeyError`` naming the
        registered agents.
        """
        return self._runtime.handlers.local_session(self.get(agent), proc)

    def offline_providers(self) -> tuple[Any, Any, Any] | None:
        """``(stt, llm, tts)`` that run with no network, from the first plugin offering them
        (``openrtc_offline_providers``), or ``None`` when no installed plugin does."""
        offered: tuple[Any, Any, Any] | None = self._runtime.host.hook.openrtc_offline_providers()
        return offered

    async def wait_registered(self, timeout_s: float | None = None) -> str:
        """Wait until the worker is registered with LiveKit; returns the worker id."""
        await asyncio.wait_for(self._runtime.registered.wait(), timeout_s)
        return self._runtime.worker_id or ""

    async def drain(self, reason: str = "drain requested") -> None:
        """Stop taking jobs, let live sessions finish (up to ``drain_timeout``), then stop."""
        await self._runtime.drain(reason)

    def run(self, argv: Sequence[str] | None = None) -> None:
        """Run the ``openrtc`` command line for this pool (``start``, ``dev``, ``console``...).

        Without ``argv`` the process arguments are used, so ``python app.py start`` works.
        """
        from openrtc.cli import run_pool_cli

        run_pool_cli(self, argv)
