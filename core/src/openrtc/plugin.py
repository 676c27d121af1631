"""The public API for plugin authors: everything a plugin imports from OpenRTC is here.

    from openrtc.plugin import IsolationMode, Setting, hookimpl

A plugin module implements hooks (``hookimpl``; every hook is documented in
``openrtc.hookspecs`` and docs/hooks.md), declares its settings (``Setting``) and returns named
strategy objects: ``IsolationMode``, ``Router``, ``JobLabeler``, ``AdmissionRule``,
``MetricsExporter``, ``JobTracer``. The
kernel's other modules are its own business and may change between releases; what is listed in
``__all__`` here does not change without a deprecation.
"""

from __future__ import annotations

from openrtc import events
from openrtc.events import SCHEMA_VERSION, MetricsEvent, RuntimeSnapshot
from openrtc.hookspecs import hookimpl
from openrtc.job_runners import JobRunner, JobsAsTasks, JobsInHosts, JobsInProcesses
from openrtc.runtime import current_rss_bytes
from openrtc.settings import Setting, SettingError, Settings
from openrtc.strategies import (
    AdmissionRequest,
    AdmissionRule,
    IsolationMode,
    JobEnded,
    JobLabeler,
    JobTracer,
    JobVerdict,
    LabelError,
    MetricsExporter,
    RouteDecision,
    Router,
    RouteRequest,
    RoutingError,
    SessionSpec,
    TracedJob,
    WorkerServer,
    WorkerSpec,
    WorkerState,
)
from openrtc.worker_server import build_worker_server

__all__ = [
    "SCHEMA_VERSION",
    "AdmissionRequest",
    "AdmissionRule",
    "IsolationMode",
    "JobEnded",
    "JobLabeler",
    "JobRunner",
    "JobTracer",
    "JobVerdict",
    "JobsAsTasks",
    "JobsInHosts",
    "JobsInProcesses",
    "LabelError",
    "MetricsEvent",
    "MetricsExporter",
    "RouteDecision",
    "RouteRequest",
    "Router",
    "RoutingError",
    "RuntimeSnapshot",
    "SessionSpec",
    "Setting",
    "SettingError",
    "Settings",
    "TracedJob",
    "WorkerServer",
    "WorkerSpec",
    "WorkerState",
    "build_worker_server",
    "current_rss_bytes",
    "events",
    "hookimpl",
]
