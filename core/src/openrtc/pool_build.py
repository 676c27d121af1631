"""Building a pool's runtime: load the plugins, resolve the settings, choose the strategies and
make the job handlers, in the worker and again in each job process (from a blueprint)."""

from __future__ import annotations

from collections.abc import Mapping, MutableMapping, Sequence
from typing import Any

from openrtc import admission
from openrtc.blueprint import BlueprintContents, PoolBlueprint, SessionProcessFunctions
from openrtc.config import AgentConfig
from openrtc.jobs import JobHandlers
from openrtc.labels import check_label_keys
from openrtc.plugins import PluginCandidate, find_candidates, load_and_resolve, select
from openrtc.pool_runtime import PoolRuntime
from openrtc.routing import RouterChain
from openrtc.runtime import RuntimeState
from openrtc.session import PoolDefaults
from openrtc.strategies import AdmissionRule, IsolationMode, JobLabeler, Router


def build_runtime(
    *,
    candidates: Sequence[PluginCandidate],
    constructor: Mapping[str, Any],
    flags: Mapping[str, Any],
    extra_plugins: Mapping[str, object],
    agents: MutableMapping[str, AgentConfig],
    session_kwargs: Mapping[str, Any],
) -> PoolRuntime:
    """Load the plugins, resolve every setting and build the job handlers.

    ``session_kwargs`` is the pool's ``default_session_kwargs``; the provider and greeting
    defaults are settings like any other."""
    loaded = load_and_resolve(
        flags=flags, constructor=constructor, extra=extra_plugins, candidates=candidates
    )
    host, settings = loaded.host, loaded.settings
    modes: dict[str, IsolationMode] = host.strategies("openrtc_isolation_modes", settings)
    isolation = select(
        "isolation mode",
        settings["isolation"],
        modes,
        setting="isolation / OPENRTC_ISOLATION / --isolation",
    )
    routers: dict[str, Router] = host.strategies("openrtc_routers", settings)
    chain = RouterChain.build(routers, settings["routers"])
    rules: dict[str, AdmissionRule] = host.strategies("openrtc_admission_rules", settings)
    labelers: dict[str, JobLabeler] = host.strategies("openrtc_job_labelers", settings)
    check_label_keys(labelers)
    state = RuntimeState(
        isolation=isolation.name,
        max_concurrent_sessions=settings["max_concurrent_sessions"],
        consecutive_failure_limit=settings["consecutive_failure_limit"],
    )
    runtime = PoolRuntime(
        host=host,
        settings=settings,
        isolation=isolation,
        router_chain=chain,
        admission_rules=rules,
        state=state,
        agents=agents,
    )
    runtime.handlers = JobHandlers(
        host=host,
        settings=settings,
        chain=chain,
        admission_rules=rules,
        agents=agents,
        defaults=PoolDefaults.from_settings(settings, session_kwargs),
        state=state,
        emit=runtime.emit,
        labelers=labelers,
        tracers=host.strategies("openrtc_job_tracers", settings),
        extra_plugins={
            k: v for k, v in extra_plugins.items() if k not in loaded.selection["disable_plugins"]
        },
        on_not_launched=runtime._job_ended,
        ship=_ship_to_session_process,
    )
    state.on_failure_limit(runtime._failure_limit_reached)
    state.report_admission(lambda: admission.reports(rules))
    return runtime


def handlers_from(contents: BlueprintContents) -> JobHandlers:
    """The job handlers of a pool rebuilt from a blueprint, in a session process."""
    runtime = build_runtime(
        candidates=find_candidates(),
        constructor={},
        # the worker's resolved values win over this process's environment
        flags={k: v for k, v in contents.settings.items() if v is not None},
        extra_plugins=contents.extra_plugins,
        agents={agent.name: agent for agent in contents.agents},
        session_kwargs=contents.session_kwargs,
    )
    if contents.worker_pid:
        runtime.handlers.worker_pid = contents.worker_pid
    return runtime.handlers


def _ship_to_session_process(handlers: JobHandlers) -> tuple[Any, ...]:
    return (SessionProcessFunctions, (PoolBlueprint.of(handlers), handlers_from))
