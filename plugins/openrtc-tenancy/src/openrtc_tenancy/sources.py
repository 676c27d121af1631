"""One configuration source per process, shared by the admission rules (in the worker) and the
session hook (wherever sessions run: the worker, a session host, a job process)."""

from __future__ import annotations

import os
import threading
from collections.abc import Mapping
from typing import Any

from openrtc.plugin import Settings
from openrtc_tenancy.config import ConfigSource, TenancyConfig, TenantPolicy, open_source
from openrtc_tenancy.providers import TenantProviders

_lock = threading.Lock()
_sources: dict[tuple[str, float], ConfigSource | None] = {}
_providers = TenantProviders()


def _key(settings: Settings) -> tuple[str, float]:
    return settings["tenancy.config"], settings["tenancy.refresh_s"]


def read_source(settings: Settings) -> ConfigSource | None:
    """Read the configuration the settings name afresh (a pool being built: a broken one
    raises ``TenancyConfigError`` here), and keep it for this process's sessions."""
    key = _key(settings)
    source = open_source(*key)
    with _lock:
        _sources[key] = source
    return source


def source_for(settings: Settings) -> ConfigSource | None:
    """This process's source for the settings, read on first use (a job process)."""
    key = _key(settings)
    with _lock:
        if key in _sources:
            return _sources[key]
    return read_source(settings)


def policy_of(config: TenancyConfig, tenant: str, unknown: str) -> TenantPolicy | None:
    """The tenant's policy, the defaults for an unlisted tenant when ``unknown`` says so."""
    policy = config.policy(tenant)
    if policy is None and unknown == "default":
        return config.defaults
    return policy


def session_options(settings: Settings, tenant: str) -> Mapping[str, Any] | None:
    """The tenant's ``AgentSession`` options and its own providers, built with its keys."""
    source = source_for(settings)
    if source is None:
        return None
    policy = policy_of(source.current(), tenant, settings["tenancy.unknown"])
    if policy is None:
        raise LookupError(f"tenant '{tenant}' left the tenancy config after its call was admitted")
    built = _providers.for_tenant(tenant, source.version, policy.providers, os.environ)
    return {**policy.session, **built}
