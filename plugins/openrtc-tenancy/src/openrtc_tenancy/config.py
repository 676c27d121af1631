"""Per-tenant configuration from a TOML file: caps now, one table per tenant.

    [defaults]             # every tenant's, unless its own table says otherwise
    max_sessions = 10      # live sessions at once (0: no cap)
    sessions_per_minute = 0

    [tenants.acme]
    max_sessions = 2

The file is read when the pool is built (a broken file stops the worker from starting, with
the line that is wrong) and again whenever it changes: each job request compares the file's
modification time and size, a stat call. A change that does not parse is logged once and the
last good configuration stays in force.
"""

from __future__ import annotations

import logging
import os
import tomllib
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import attrs

from openrtc_tenancy.identity import check_tenant_id

logger = logging.getLogger("openrtc.tenancy")

POLICY_KEYS = ("max_sessions", "sessions_per_minute")


class TenancyConfigError(ValueError):
    """The tenancy file cannot be used: one line naming the file, the place and the fix."""


@attrs.frozen
class TenantPolicy:
    max_sessions: int = 0
    """Live sessions of the tenant at once (0: no cap)."""
    sessions_per_minute: int = 0
    """Sessions the tenant may start in any 60 s (0: no cap)."""


@attrs.frozen
class TenancyConfig:
    defaults: TenantPolicy = TenantPolicy()
    tenants: Mapping[str, TenantPolicy] = attrs.field(factory=dict)
    listed: bool = False
    """True when the tenants come from a file: then a tenant it does not list is unknown."""

    def policy(self, tenant: str) -> TenantPolicy | None:
        """The tenant's policy; ``None`` for a tenant the file does not list."""
        found = self.tenants.get(tenant)
        if found is not None or self.listed:
            return found
        return self.defaults


def _policy(table: Any, where: str, base: TenantPolicy) -> TenantPolicy:
    if not isinstance(table, dict):
        raise TenancyConfigError(f"{where} must be a table")
    unknown = sorted(set(table) - set(POLICY_KEYS))
    if unknown:
        raise TenancyConfigError(
            f"{where} has unknown key '{unknown[0]}'; known keys: {', '.join(POLICY_KEYS)}"
        )
    values: dict[str, int] = {}
    for key, value in table.items():
        if not isinstance(value, int) or isinstance(value, bool) or value < 0:
            raise TenancyConfigError(f"{where}.{key} must be a whole number >= 0, not {value!r}")
        values[key] = value
    return attrs.evolve(base, **values)


def parse(text: str, origin: str) -> TenancyConfig:
    """The configuration in ``text`` (TOML); ``origin`` names it in errors."""
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise TenancyConfigError(f"{origin}: {exc}") from None
    unknown = sorted(set(data) - {"defaults", "tenants"})
    if unknown:
        raise TenancyConfigError(
            f"{origin}: unknown table '{unknown[0]}'; the file has [defaults] and [tenants.<id>]"
        )
    defaults = _policy(data.get("defaults", {}), f"{origin}: [defaults]", TenantPolicy())
    tenants_table = data.get("tenants", {})
    if not isinstance(tenants_table, dict):
        raise TenancyConfigError(f"{origin}: 'tenants' must be tables such as [tenants.acme]")
    tenants: dict[str, TenantPolicy] = {}
    for tenant, table in tenants_table.items():
        try:
            check_tenant_id(tenant, f"{origin} [tenants.{tenant}]")
        except ValueError as exc:
            raise TenancyConfigError(str(exc)) from None
        tenants[tenant] = _policy(table, f"{origin}: [tenants.{tenant}]", defaults)
    return TenancyConfig(defaults=defaults, tenants=tenants, listed=True)


class ConfigFile:
    """The tenancy file as it is now: read at start, read again when it changes."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._stamp = self._stat()
        if self._stamp is None:
            raise TenancyConfigError(
                f"tenancy.config {path} does not exist; create it or unset tenancy.config"
            )
        self._config = parse(path.read_text(encoding="utf-8"), str(path))
        self._failed_stamp: tuple[int, int] | None = None

    def _stat(self) -> tuple[int, int] | None:
        try:
            stat = os.stat(self.path)
        except OSError:
            return None
        return stat.st_mtime_ns, stat.st_size

    def current(self) -> TenancyConfig:
        stamp = self._stat()
        if stamp is None or stamp == self._stamp or stamp == self._failed_stamp:
            return self._config
        try:
            config = parse(self.path.read_text(encoding="utf-8"), str(self.path))
        except (OSError, UnicodeDecodeError, TenancyConfigError) as exc:
            self._failed_stamp = stamp
            logger.error("tenancy config not reloaded, the previous one stays in force: %s", exc)
            return self._config
        self._config, self._stamp = config, stamp
        logger.info("tenancy config reloaded from %s: %d tenant(s)", self.path, len(config.tenants))
        return config
