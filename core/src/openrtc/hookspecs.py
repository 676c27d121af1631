"""Every hook an OpenRTC plugin can implement.

A plugin is a module (or object) exposed through the ``openrtc.plugins`` entry-point group whose
functions are decorated with :data:`hookimpl` and named after the hooks below. The docstrings in
this module are the hook reference; ``docs/hooks.md`` is generated from them.

Hooks are synchronous and cheap. They run once per worker (registration, prewarm) or once per
job (routing, admission, session construction), never per audio frame. Registration hooks return
*named* strategy objects; the pool selects strategies by configured name, so the order in which
plugins load never matters. Registration hooks must be free of side effects (no threads, files
or sockets): ``openrtc plugins list`` calls them to show what each plugin offers, so a strategy
starts its resources lazily. Implementations may declare any subset of a hook's arguments.
Plugin modules must not import livekit-agents at module level: ``openrtc plugins list`` loads
every plugin and stays fast because of it.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

import pluggy

if TYPE_CHECKING:
    import typer

    from openrtc.settings import Setting, Settings
    from openrtc.strategies import (
        AdmissionRule,
        IsolationMode,
        JobLabeler,
        JobTracer,
        MetricsExporter,
        Router,
        SessionSpec,
        WorkerState,
    )

PROJECT_NAME = "openrtc"

hookspec = pluggy.HookspecMarker(PROJECT_NAME)
hookimpl = pluggy.HookimplMarker(PROJECT_NAME)


class OpenRTCHookSpecs:
    """The hook specifications, registered on each pool's plugin manager."""

    @hookspec
    def openrtc_settings(self) -> Sequence[Setting]:
        """Declare the settings this plugin reads.

        Fires once per plugin manager, before any other hook, so the values are resolved
        (flag > ``OPENRTC_*`` environment variable > ``AgentPool(plugin_settings=...)`` >
        default) by the time the registration hooks run.

        :return: ``Setting`` objects. Prefix names with the plugin's short name
            (``router_prefix.separator``); a name declared twice is an error.
        """
        raise NotImplementedError

    @hookspec
    def openrtc_isolation_modes(self, settings: Settings) -> Sequence[IsolationMode]:
        """Offer ways to run sessions inside the worker.

        Fires once per pool when the pool is built. The pool uses the mode whose name equals its
        ``isolation`` setting; an unknown name is an error that lists the installed modes.

        :param settings: the resolved settings (kernel and plugins).
        :return: ``IsolationMode`` objects, each with a unique name across all plugins.
        """
        raise NotImplementedError

    @hookspec
    def openrtc_routers(self, settings: Settings) -> Sequence[Router]:
        """Offer routers that map a dispatched job to a registered agent.

        Fires once per pool. Unless the ``routers`` setting names a chain explicitly, every
        offered router runs in ascending ``priority`` order and the first non-``None`` answer
        wins. Routing runs once per job, before the job is accepted.

        :param settings: the resolved settings.
        :return: ``Router`` objects, each with a unique name across all plugins.
        """
        raise NotImplementedError

    @hookspec
    def openrtc_admission_rules(self, settings: Settings) -> Sequence[AdmissionRule]:
        """Offer rules that may turn a job away before the worker accepts it.

        Fires once per pool. Every rule runs for every job request after routing and
        labelling; the first reason returned rejects the job, which LiveKit then offers to
        another worker. A rule with ``observe`` also sees every event of the worker (sessions
        starting and ending with their outcome, in every isolation mode), and one with
        ``report`` shows its state in the snapshot.

        :param settings: the resolved settings.
        :return: ``AdmissionRule`` objects, each with a unique name across all plugins.
        """
        raise NotImplementedError

    @hookspec
    def openrtc_job_labelers(self, settings: Settings) -> Sequence[JobLabeler]:
        """Offer labelers that name what a dispatched job belongs to (its tenant, its region).

        Fires once per pool. Every labeler runs once per job request, after routing and before
        the admission rules, with the same ``RouteRequest`` the routers saw; a labeler raising
        ``LabelError`` declines the job with its message (the rule recorded is the labeler's
        name). The merged labels travel with the job: ``AdmissionRequest.labels``,
        ``SessionSpec.labels``, the session events, ``WorkerState.active_by_label`` and the
        snapshot's ``per_label`` counters, and the agent participant's attributes
        (``openrtc.label.<key>``), so they must be names, never secrets.

        :param settings: the resolved settings.
        :return: ``JobLabeler`` objects, each with a unique name across all plugins; two
            labelers declaring the same key is an error naming both.
        """
        raise NotImplementedError

    @hookspec
    def openrtc_metrics_exporters(self, settings: Settings) -> Sequence[MetricsExporter]:
        """Offer exporters for metrics events and periodic runtime snapshots.

        Fires once per pool when the worker starts. Every returned exporter receives every
        event as it happens, a runtime snapshot when the worker starts and then every
        ``metrics_interval`` seconds, and a final snapshot when it stops, all on the worker's
        event loop; exporters must buffer rather than block it. They are closed after the
        final snapshot.

        :param settings: the resolved settings (exporters usually declare their own).
        :return: ``MetricsExporter`` objects; return none when the exporter is not configured.
        """
        raise NotImplementedError

    @hookspec
    def openrtc_job_tracers(self, settings: Settings) -> Sequence[JobTracer]:
        """Offer tracers that open a trace around each job where its session runs.

        Fires once per pool, in the worker and again in every job process or session host
        that runs sessions. Every tracer's ``start`` is called once per job, in the job's own
        task, right before its session starts, with a ``TracedJob`` (agent, router, labels,
        version, isolation mode, the admission rules that let it in); the context it makes
        current there is where livekit's session spans begin. The function ``start`` returns
        is called once when the job shuts down, with livekit's shutdown reason. A tracer that
        raises is logged and skipped: tracing never fails a call. Tracers that export
        (OpenTelemetry) install their providers in ``openrtc_prewarm``, which runs in each of
        those processes before the first job.

        :param settings: the resolved settings (tracers usually declare their own).
        :return: ``JobTracer`` objects; return none when tracing is not configured.
        """
        raise NotImplementedError

    @hookspec
    def openrtc_prewarm(self, proc: Any, settings: Settings) -> None:
        """Load shared models into a worker process before it serves jobs.

        Fires once per worker process that runs sessions: once per worker in coroutine
        isolation, once per job process in process isolation. Store what you load in
        ``proc.userdata`` under a key of your own; session hooks read it back through
        ``SessionSpec.userdata``. A failure here is logged with the plugin name and the fix;
        it must not crash a live call later.

        :param proc: livekit-agents' ``JobProcess`` for this process.
        :param settings: the resolved settings.
        """
        raise NotImplementedError

    @hookspec
    def openrtc_session_defaults(self, session: SessionSpec) -> Mapping[str, Any] | None:
        """Contribute default ``AgentSession`` keyword arguments for one session.

        Fires once per job, before the session is built. Results form the lowest layer of the
        documented precedence: plugin defaults < pool defaults < agent registration <
        ``session_kwargs`` < direct keyword arguments of ``add()`` < tenant overrides. Two
        plugins returning the same key is an error naming both.

        :param session: the agent, job and shared ``userdata`` of the session being built.
        :return: keyword arguments for ``AgentSession``, or ``None``.
        """
        raise NotImplementedError

    @hookspec
    def openrtc_audio_input(self, session: SessionSpec) -> Mapping[str, Any] | None:
        """Choose how a session takes in the caller's audio.

        Fires once per job, before the session starts in its room (not in ``openrtc
        console``, which has no room). The merged results become livekit's
        ``room_io.AudioInputOptions`` for the session (``sample_rate``, ``frame_size_ms``,
        ``auto_gain_control``, ``noise_cancellation``, ...); with no contribution livekit's
        own defaults apply. Two plugins returning the same key is an error naming both.

        :param session: the agent, job, shared ``userdata`` and settings of the session.
        :return: keyword arguments for ``AudioInputOptions``, or ``None``.
        """
        raise NotImplementedError

    @hookspec
    def openrtc_audio_output(self, session: SessionSpec) -> Mapping[str, Any] | None:
        """Choose how a session publishes the agent's voice to the room.

        Fires once per job, before the session starts in its room (not in ``openrtc
        console``), next to ``openrtc_audio_input``. The merged results become livekit's
        ``room_io.AudioOutputOptions`` for the session (``sample_rate``, ``num_channels``,
        ``track_publish_options``, ``track_name``); with no contribution livekit's own
        defaults apply. Two plugins returning the same key is an error naming both.

        :param session: the agent, job, shared ``userdata`` and settings of the session.
        :return: keyword arguments for ``AudioOutputOptions``, or ``None``.
        """
        raise NotImplementedError

    @hookspec
    def openrtc_text_output(self, session: SessionSpec) -> Mapping[str, Any] | None:
        """Choose how a session sends the agent's transcript to the room.

        Fires once per job, before the session starts in its room (not in ``openrtc
        console``), next to ``openrtc_audio_input``. The merged results become livekit's
        ``room_io.TextOutputOptions`` for the session (``sync_transcription``,
        ``transcription_speed_factor``, ...); with no contribution livekit's own defaults
        apply. Two plugins returning the same key is an error naming both.

        :param session: the agent, job, shared ``userdata`` and settings of the session.
        :return: keyword arguments for ``TextOutputOptions``, or ``None``.
        """
        raise NotImplementedError

    @hookspec
    def openrtc_session_overrides(self, session: SessionSpec) -> Mapping[str, Any] | None:
        """Override ``AgentSession`` keyword arguments for one session (tenant overrides).

        Fires once per job after every other layer is merged; results win over all of them.
        Two plugins returning the same key is an error naming both.

        :param session: the agent, job and shared ``userdata`` of the session being built.
        :return: keyword arguments for ``AgentSession``, or ``None``.
        """
        raise NotImplementedError

    @hookspec
    def openrtc_worker_load(self, state: WorkerState, settings: Settings) -> float | None:
        """Contribute to the load the worker reports to LiveKit.

        Fires twice a second on the serving worker, from a thread of livekit's executor (not
        the event loop): read ``state``, do not touch loop objects. The reported load is the
        largest contribution, clamped to 0.0..1.0, where 1.0 means full: LiveKit sends the
        worker no more jobs until it drops.

        :param state: the worker's session counters and, while it serves, its health (loop lag
            and CPU).
        :param settings: every resolved setting.
        :return: a load fraction, or ``None`` to abstain.
        """
        raise NotImplementedError

    @hookspec
    def openrtc_cli(self, app: typer.Typer) -> None:
        """Add subcommands to the ``openrtc`` command line.

        Fires once when the command line is built. Register commands on ``app``; keep heavy
        imports inside the command functions so ``openrtc --help`` stays fast.

        :param app: the root ``typer.Typer`` application.
        """
        raise NotImplementedError

    @hookspec(firstresult=True)
    def openrtc_offline_providers(self) -> tuple[Any, Any, Any] | None:
        """Offer speech and language providers that run on this machine with no network.

        Fires when ``openrtc console`` finds an agent's STT, LLM or TTS slot empty, or is run
        with ``--offline``; only the slots it needs are taken. The first plugin to answer wins.

        :return: an ``(stt, llm, tts)`` triple of livekit-agents provider instances, or
            ``None`` to leave it to another plugin. Import livekit-agents inside the hook.
        """
        raise NotImplementedError


HOOK_NAMES: tuple[str, ...] = tuple(
    name for name in vars(OpenRTCHookSpecs) if name.startswith(f"{PROJECT_NAME}_")
)
