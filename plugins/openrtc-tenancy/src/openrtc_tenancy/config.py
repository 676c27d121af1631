"""Per-tenant configuration: a TOML file, or a function for platforms that keep it elsewhere.

    [defaults]             # every tenant's, unless its own table says otherwise
    max_sessions = 10      # live sessions at once (0: no cap)
    sessions_per_minute = 0

    [tenants.acme]
    max_sessions = 2
    session = { allow_interruptions = false }   # AgentSession options

    [tenants.acme.llm]                           # the tenant's own provider (see providers)
    use = "livekit.plugins.openai:LLM"
    api_key = { env = "ACME_OPENAI_API_KEY" }

The file is read when the pool is built (a broken file stops the worker from starting, with
the line that is wrong) and again whenever it changes: each job request compares the file's
modification time and size, a stat call. A change that does not parse is logged once and the
last good configuration stays in force. A function (``tenancy.config`` = ``module:function``)
returns the same shape as a dict; it is called at start and again at most every
``tenancy.refresh_s``.
"""

from __future__ import annotations

import importlib
import logging
import os
import re
import time
import tomllib
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import attrs

from openrtc_tenancy.identity import check_tenant_id
from openrtc_tenancy.providers import SLOTS, ProviderSpec, parse_provider

logger = logging.getLogger("openrtc.tenancy")

CAP_KEYS = ("max_sessions", "sessions_per_minute")
POLICY_KEYS = (*CAP_KEYS, "session", *SLOTS)


class TenancyConfigError(ValueError):
    """The tenancy file cannot be used: one line naming the file, the place and the fix."""


@attrs.frozen
class TenantPolicy:
    max_sessions: int = 0
    """Live sessions of the tenant at once (0: no cap)."""
    sessions_per_minute: int = 0
    """Sessions the tenant may start in any 60 s (0: no cap)."""
    session: Mapping[str, Any] = attrs.field(factory=dict)
    """``AgentSession`` options for the tenant's sessions (they win over every other layer)."""
    providers: Mapping[str, ProviderSpec] = attrs.field(factory=dict)
    """The tenant's own STT, LLM and TTS, by slot."""

    def problem(self, environ: Mapping[str, str]) -> str | None:
        """What keeps the tenant's sessions from being built (a key that does not resolve)."""
        for spec in self.providers.values():
            found = spec.check(environ)
            if found is not None:
                return found
        return None


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
    values: dict[str, Any] = {}
    providers = dict(base.providers)
    for key, value in table.items():
        if key in SLOTS:
            try:
                providers[key] = parse_provider(key, value, f"{where}.{key}")
            except ValueError as exc:
                raise TenancyConfigError(str(exc)) from None
        elif key == "session":
            if not isinstance(value, dict):
                raise TenancyConfigError(f"{where}.session must be a table of AgentSession options")
            values[key] = {**base.session, **value}
        elif not isinstance(value, int) or isinstance(value, bool) or value < 0:
            raise TenancyConfigError(f"{where}.{key} must be a whole number >= 0, not {value!r}")
        else:
            values[key] = value
    return attrs.evolve(base, providers=providers, **values)


def parse(text: str, origin: str) -> TenancyConfig:
    """The configuration in ``text`` (TOML); ``origin`` names it in errors."""
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise TenancyConfigError(f"{origin}: {exc}") from None
    return from_mapping(data, origin)


def from_mapping(data: Mapping[str, Any], origin: str) -> TenancyConfig:
    """The configuration in ``data`` (the TOML file's shape); ``origin`` names it in errors."""
    if not isinstance(data, Mapping):
        raise TenancyConfigError(f"{origin} must give a mapping, not {type(data).__name__}")
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
    """The tenancy file as it is now: read at start, read again when it changes.

    ``version`` changes with every configuration taken in, so what was built from the last
    one (a tenant's providers) is built again."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._stamp = self._stat()
        if self._stamp is None:
            raise TenancyConfigError(
                f"tenancy.config {path} does not exist; create it or unset tenancy.config"
            )
        self._config = parse(path.read_text(encoding="utf-8"), str(path))
        self._failed_stamp: tuple[int, int] | None = None

    @property
    def version(self) -> object:
        return self._stamp

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


class ConfigFunction:
    """The configuration a platform's function returns (``module:function``, no arguments)."""

    def __init__(
        self, target: str, refresh_s: float, clock: Callable[[], float] = time.monotonic
    ) -> None:
        module_name, _, attribute = target.partition(":")
        try:
            self._function = getattr(importlib.import_module(module_name), attribute)
        except (ImportError, AttributeError, ValueError) as exc:
            raise TenancyConfigError(
                f"tenancy.config {target!r} is neither a file nor a function that loads "
                f"({exc}); give a TOML file's path or module:function"
            ) from None
        self.target = target
        self._refresh_s = refresh_s
        self._clock = clock
        self._config = self._call()
        self._called_at = clock()
        self.version = 0

    def _call(self) -> TenancyConfig:
        try:
            data = self._function()
        except Exception as exc:
            raise TenancyConfigError(
                f"tenancy.config function {self.target} failed: {exc}"
            ) from exc
        return from_mapping(data, f"tenancy.config function {self.target}")

    def current(self) -> TenancyConfig:
        now = self._clock()
        if now - self._called_at < self._refresh_s:
            return self._config
        self._called_at = now
        try:
            config = self._call()
        except TenancyConfigError as exc:
            logger.error("tenancy config not refreshed, the previous one stays in force: %s", exc)
            return self._config
        if config != self._config:
            self._config = config
            self.version += 1
        return self._config


ConfigSource = ConfigFile | ConfigFunction


FUNCTION = re.compile(r"[A-Za-z_][\w.]*:[A-Za-z_]\w*")


def open_source(config: str, refresh_s: float) -> ConfigSource | None:
    """The configuration source ``tenancy.config`` names, read now; ``None`` when it is empty.

    A file that exists is a file; otherwise ``module:function`` is a function."""
    if not config:
        return None
    path = Path(config).expanduser()
    if not path.exists() and FUNCTION.fullmatch(config):
        return ConfigFunction(config, refresh_s)
    return ConfigFile(path)
