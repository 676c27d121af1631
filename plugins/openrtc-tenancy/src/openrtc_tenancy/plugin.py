"""Hooks of the tenancy plugin: its settings, the ``tenant`` job labeler and the tenancy
admission rules."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from openrtc.plugin import (
    AdmissionRule,
    JobLabeler,
    SessionSpec,
    Setting,
    Settings,
    WorkerState,
    hookimpl,
)
from openrtc_tenancy.breaker import BreakerSettings
from openrtc_tenancy.config import TenancyConfig
from openrtc_tenancy.identity import SOURCES, TENANT_LABEL, TenantIdentity, check_tenant_id
from openrtc_tenancy.load import every_tenant_at_cap
from openrtc_tenancy.rules import TenantRules
from openrtc_tenancy.sources import read_source, session_options, source_for


def _sources_valid(value: object) -> str | None:
    wrong = [s for s in value or () if s not in SOURCES]  # type: ignore[attr-defined]
    if wrong or not value:
        return f"must list where to read the tenant from: job, room (got {value!r})"
    return None


def _default_valid(value: object) -> str | None:
    if not value:
        return None
    try:
        check_tenant_id(str(value), "tenancy.default")
    except ValueError as exc:
        return str(exc)
    return None


SETTINGS = [
    Setting(
        "tenancy.sources",
        "list",
        SOURCES,
        "Where a job's tenant is read from, in order: its dispatch's metadata (job), then its "
        "room's metadata (room); each a JSON object with the tenant id under tenancy.field.",
        validator=_sources_valid,
    ),
    Setting("tenancy.field", "str", TENANT_LABEL, "The metadata field that holds the tenant id."),
    Setting(
        "tenancy.default",
        "str",
        "",
        "Tenant of jobs whose metadata names none (empty: such jobs belong to no tenant, and "
        "no tenant cap or breaker applies to them).",
        validator=_default_valid,
    ),
    Setting(
        "tenancy.required",
        "bool",
        False,
        "Decline jobs that name no tenant (when tenancy.default is empty).",
    ),
    Setting(
        "tenancy.config",
        "str",
        "",
        "TOML file with [defaults] and [tenants.<id>] tables (caps, session options, the "
        "tenant's own stt/llm/tts with key references), read at start and whenever it "
        "changes; or module:function returning the same shape as a dict (for platforms that "
        "keep tenants in a database), called at start and at most every tenancy.refresh_s. "
        "Empty: every tenant is known and uncapped.",
    ),
    Setting(
        "tenancy.refresh_s",
        "float",
        30.0,
        "Seconds between calls of a tenancy.config function.",
        minimum=0,
    ),
    Setting(
        "tenancy.unknown",
        "str",
        "reject",
        "What a tenant missing from tenancy.config gets: reject (declined) or default (the "
        "[defaults] table).",
        choices=("reject", "default"),
    ),
    Setting(
        "tenancy.breaker_window_s",
        "float",
        60.0,
        "Seconds of session outcomes a tenant's circuit breaker weighs.",
        minimum=1,
    ),
    Setting(
        "tenancy.breaker_min_sessions",
        "int",
        5,
        "Sessions that must have ended in the window before a tenant's breaker may open.",
        minimum=1,
    ),
    Setting(
        "tenancy.breaker_failure_ratio",
        "float",
        0.5,
        "Share of those sessions that failed (mid-call included) that opens the breaker.",
        minimum=0.01,
    ),
    Setting(
        "tenancy.breaker_cooldown_s",
        "float",
        30.0,
        "Seconds an open breaker declines the tenant's calls before one probe call.",
        minimum=0,
    ),
]


@hookimpl
def openrtc_settings() -> list[Setting]:
    return SETTINGS


@hookimpl
def openrtc_job_labelers(settings: Settings) -> list[JobLabeler]:
    identity = TenantIdentity(
        sources=tuple(settings["tenancy.sources"]),
        field=settings["tenancy.field"],
        default=settings["tenancy.default"],
        required=settings["tenancy.required"],
    )
    return [
        JobLabeler(
            name="tenant",
            keys=(TENANT_LABEL,),
            label=identity.labels,
            summary="the job's tenant, from its dispatch or room metadata",
        )
    ]


@hookimpl
def openrtc_admission_rules(settings: Settings) -> list[AdmissionRule]:
    source = read_source(settings)
    unlisted = TenancyConfig()
    breaker = BreakerSettings(
        window_s=settings["tenancy.breaker_window_s"],
        min_sessions=settings["tenancy.breaker_min_sessions"],
        failure_ratio=settings["tenancy.breaker_failure_ratio"],
        cooldown_s=settings["tenancy.breaker_cooldown_s"],
    )
    rules = TenantRules(
        source.current if source is not None else lambda: unlisted,
        breaker,
        unknown_policy=settings["tenancy.unknown"],
        version=(lambda: source.version) if source is not None else lambda: None,
    )
    return rules.rules()


@hookimpl
def openrtc_session_overrides(session: SessionSpec) -> Mapping[str, Any] | None:
    tenant = session.labels.get(TENANT_LABEL)
    return None if tenant is None else session_options(session.settings, tenant)


@hookimpl
def openrtc_worker_load(state: WorkerState, settings: Settings) -> float | None:
    source = source_for(settings)
    if source is None:
        return None
    full = every_tenant_at_cap(
        source.current(),
        state.active_by_label.get(TENANT_LABEL, {}),
        unknown=settings["tenancy.unknown"],
        default_tenant=settings["tenancy.default"],
        required=settings["tenancy.required"],
    )
    return 1.0 if full else None
