"""What process isolation sends to each session process: a pool blueprint.

livekit's process pool pickles the entrypoint and the prewarm function into every job process.
The kernel's ``JobHandlers`` hold the plugin manager, the metrics exporters and the worker's
counters, none of which can leave the worker (and the counters must not: they are the worker's).
So the handlers pickle as a :class:`SessionProcessFunctions` around a :class:`PoolBlueprint`:
the registered agents, the pool's ``default_session_kwargs``, the resolved settings (the default
providers among them) and the in-process plugins.
The job process loads the same installed plugins with the same selection and rebuilds its own
handlers from it, through the same ``pool_build.build_runtime`` the worker used: the worker hands
that function over with the blueprint (pickled by reference), so this module needs no import
of the runtime it serves.

Routing and admission stay in the worker: the decision reaches the job process as participant
attributes, as in coroutine mode. A job that fails in the job process is reported back through
the process's exit code (see ``openrtc.livekit_adapter.report_job_failure``).
"""

from __future__ import annotations

import importlib
import io
import logging
import pickle
import sys
import types
from collections.abc import Callable, Iterator, Mapping
from typing import TYPE_CHECKING, Any

import attrs

from openrtc.blueprint_modules import ModuleSource, RecordingPickler, ensure_module, module_sources
from openrtc.config import AgentConfig, ConfigurationError
from openrtc.reload_graph import project_graph

if TYPE_CHECKING:
    from openrtc.jobs import JobHandlers
    from openrtc.settings import Settings

logger = logging.getLogger("openrtc.blueprint")

_PICKLE_ERRORS = (pickle.PicklingError, TypeError, AttributeError)


class BlueprintError(ConfigurationError):
    """Part of the pool cannot be sent to a session process; the message names it."""


@attrs.frozen
class _ModuleRef:
    """An in-process plugin given as a module object, which pickle cannot carry."""

    name: str


@attrs.frozen
class BlueprintContents:
    agents: tuple[AgentConfig, ...]
    session_kwargs: Mapping[str, Any]
    """The pool's ``default_session_kwargs``; its default providers and greeting are settings."""
    settings: Mapping[str, Any]
    extra_plugins: Mapping[str, object]
    worker_pid: int = 0
    """The worker the sessions' events go back to (``JobHandlers.worker_pid``)."""

    def __reduce__(self) -> tuple[Any, ...]:
        # AgentConfig freezes its mappings in MappingProxyType, which pickle refuses
        agents = tuple(_agent_fields(agent) for agent in self.agents)
        plugins = {
            name: _ModuleRef(plugin.__name__) if isinstance(plugin, types.ModuleType) else plugin
            for name, plugin in self.extra_plugins.items()
        }
        fields = (agents, dict(self.session_kwargs), dict(self.settings), plugins)
        return (_contents, (*fields, self.worker_pid))


def _agent_fields(agent: AgentConfig) -> dict[str, Any]:
    fields = {field.name: getattr(agent, field.name) for field in attrs.fields(AgentConfig)}
    fields["session_kwargs"] = dict(agent.session_kwargs)
    fields["session_options"] = dict(agent.session_options)
    return fields


def _contents(
    agents: tuple[dict[str, Any], ...],
    session_kwargs: dict[str, Any],
    settings: dict[str, Any],
    plugins: dict[str, object],
    worker_pid: int,
) -> BlueprintContents:
    return BlueprintContents(
        worker_pid=worker_pid,
        agents=tuple(AgentConfig(**fields) for fields in agents),
        session_kwargs=session_kwargs,
        settings=settings,
        extra_plugins={
            name: importlib.import_module(p.name) if isinstance(p, _ModuleRef) else p
            for name, p in plugins.items()
        },
    )


@attrs.frozen
class PoolBlueprint:
    """Everything a session process needs to rebuild the pool's job handlers."""

    payload: bytes = attrs.field(repr=False)
    """The pickled :class:`BlueprintContents`, read only after ``modules`` are importable."""
    modules: tuple[ModuleSource, ...]
    sys_path: tuple[str, ...]

    @classmethod
    def capture(
        cls,
        *,
        agents: Mapping[str, AgentConfig],
        session_kwargs: Mapping[str, Any],
        settings: Settings | Mapping[str, Any],
        extra_plugins: Mapping[str, object],
        worker_pid: int = 0,
    ) -> PoolBlueprint:
        contents = BlueprintContents(
            worker_pid=worker_pid,
            agents=tuple(agents.values()),
            session_kwargs=dict(session_kwargs),
            settings={name: settings[name] for name in settings},
            extra_plugins=dict(extra_plugins),
        )
        buffer = io.BytesIO()
        pickler = RecordingPickler(buffer)
        try:
            pickler.dump(contents)
        except _PICKLE_ERRORS as exc:
            raise BlueprintError(
                "process isolation cannot send this pool to its session processes: "
                f"{_unpicklable_part(contents) or exc}; make it picklable (a provider can be a "
                "'provider/model' string) or run with isolation='coroutine'"
            ) from exc
        return cls(
            payload=buffer.getvalue(),
            # the project modules hot reload ran again travel as the text it ran, too
            modules=module_sources(pickler.modules | set(project_graph(agents))),
            sys_path=tuple(sys.path),
        )

    @classmethod
    def of(cls, handlers: JobHandlers) -> PoolBlueprint:
        return cls.capture(
            agents=handlers.agents,
            session_kwargs=handlers.defaults.session_kwargs,
            settings=handlers.settings,
            extra_plugins=handlers.extra_plugins,
            worker_pid=handlers.worker_pid,
        )

    def contents(self) -> BlueprintContents:
        """Unpickle the contents, first making every module they refer to importable."""
        sys.path.extend(entry for entry in self.sys_path if entry not in sys.path)
        for source in self.modules:
            ensure_module(source)
        contents = pickle.loads(self.payload)
        assert isinstance(contents, BlueprintContents)
        return contents


def _unpicklable_part(contents: BlueprintContents) -> str | None:
    """Name the first part of the pool that does not pickle, for a one-line error."""
    parts: list[tuple[str, object]] = []
    for agent in contents.agents:
        parts.append((f"agent '{agent.name}' class", agent.agent_cls))
        parts.extend((f"agent '{agent.name}' {key}", value) for key, value in _slots(agent))
    # the default providers are settings, named as such (default_stt, ...)
    parts.extend(contents.settings.items())
    for key, value in contents.session_kwargs.items():
        parts.append((f"default_session_kwargs[{key!r}]", value))
    parts.extend((f"plugin '{name}'", plugin) for name, plugin in contents.extra_plugins.items())
    for where, value in parts:
        if isinstance(value, types.ModuleType):
            continue
        try:
            pickle.dumps(value, protocol=pickle.HIGHEST_PROTOCOL)
        except _PICKLE_ERRORS as exc:
            return f"{where} ({type(value).__name__}) cannot be pickled: {exc}"
    return None


def _slots(agent: AgentConfig) -> Iterator[tuple[str, object]]:
    for key in ("stt", "llm", "tts"):
        yield key, getattr(agent, key)
    for key, value in agent.session_kwargs.items():
        yield f"session_kwargs[{key!r}]", value
    yield from agent.session_options.items()


class SessionProcessFunctions:
    """Stands in for ``JobHandlers`` in a job process: its ``prewarm`` and ``entrypoint`` are
    what livekit runs there. The handlers are rebuilt on first use, so a blueprint that cannot
    be rebuilt fails the process's initialization, which livekit reports with the error."""

    def __init__(
        self, blueprint: PoolBlueprint, rebuild: Callable[[BlueprintContents], JobHandlers]
    ) -> None:
        self.blueprint = blueprint
        self.rebuild = rebuild
        """Builds a pool's handlers from the contents (``pool_build.handlers_from``)."""
        self._handlers: JobHandlers | None = None

    def __reduce__(self) -> tuple[Any, ...]:
        return (type(self), (self.blueprint, self.rebuild))

    @property
    def handlers(self) -> JobHandlers:
        if self._handlers is None:
            self._handlers = self.rebuild(self.blueprint.contents())
            logger.debug("rebuilt the pool's job handlers: %s", ", ".join(self._handlers.agents))
        return self._handlers

    def prewarm(self, proc: Any) -> None:
        self.handlers.prewarm(proc)

    async def entrypoint(self, ctx: Any) -> None:
        from openrtc.livekit_adapter import report_job_failure

        try:
            handlers = self.handlers

            async def report_if_failed() -> None:
                # the handlers also mark a job failed after the entrypoint returned (a session
                # closed on an error mid-call); the job's shutdown callbacks run before the
                # process exits, so that reaches the exit code too
                if handlers.state.has_failed(ctx.job.id):
                    report_job_failure()

            ctx.add_shutdown_callback(report_if_failed)
            await handlers.entrypoint(ctx)
        except BaseException:  # the job failed: say so through the exit code, then re-raise
            report_job_failure()
            raise
