"""Plugin discovery, blocking, validation and the strategy registry of one pool.

Discovery reads installed-package metadata first (entry points of group ``openrtc.plugins``),
then imports each plugin that is not blocked. A plugin that fails to import or declares an
unknown hook is recorded with its error and skipped, unless strict mode makes that fatal.
Each pool builds its own ``PluginHost`` through :func:`load_plugins`; there is no global manager.
"""

from __future__ import annotations

import difflib
import importlib.metadata as metadata
import logging
from collections.abc import Callable, Collection, Iterable, Mapping, Sequence
from typing import Any, Literal

import attrs
import pluggy

from openrtc.hookspecs import HOOK_NAMES, PROJECT_NAME, OpenRTCHookSpecs
from openrtc.settings import Setting, Settings
from openrtc.strategies import STRATEGY_KINDS

ENTRY_POINT_GROUP = "openrtc.plugins"

logger = logging.getLogger("openrtc.plugins")

Status = Literal["active", "blocked", "error"]


class PluginError(RuntimeError):
    """A plugin could not be used; the message names the plugin and what to do."""


@attrs.frozen
class PluginCandidate:
    """A plugin as installed metadata describes it, before anything is imported."""

    name: str
    value: str
    distribution: str | None
    version: str | None


@attrs.frozen
class PluginRecord:
    """What ``openrtc plugins list`` shows for one plugin."""

    name: str
    distribution: str | None
    version: str | None
    value: str
    status: Status
    error: str | None = None
    hooks: tuple[str, ...] = ()
    strategies: tuple[str, ...] = ()
    """``kind:name`` for every strategy the plugin offers."""


def find_candidates() -> list[PluginCandidate]:
    """Read the ``openrtc.plugins`` entry points of every installed distribution."""
    seen: dict[str, PluginCandidate] = {}
    for entry_point in metadata.entry_points(group=ENTRY_POINT_GROUP):
        dist = entry_point.dist
        candidate = PluginCandidate(
            name=entry_point.name,
            value=entry_point.value,
            distribution=dist.metadata["Name"] if dist is not None else None,
            version=dist.version if dist is not None else None,
        )
        # the same distribution can be visible twice on sys.path (e.g. an editable install);
        # the first one wins, as it does for imports
        seen.setdefault(candidate.name, candidate)
    return sorted(seen.values(), key=lambda c: c.name)


def _load_entry_point(candidate: PluginCandidate) -> object:
    return metadata.EntryPoint(
        name=candidate.name, value=candidate.value, group=ENTRY_POINT_GROUP
    ).load()


def _unknown_hooks(plugin: object) -> list[str]:
    problems = []
    for attr in dir(plugin):
        if not attr.startswith(f"{PROJECT_NAME}_") or attr in HOOK_NAMES:
            continue
        function = getattr(plugin, attr, None)
        if getattr(function, f"{PROJECT_NAME}_impl", None) is None and not callable(function):
            continue
        close = difflib.get_close_matches(attr, HOOK_NAMES, n=1)
        hint = f" (did you mean '{close[0]}'?)" if close else ""
        problems.append(f"unknown hook '{attr}'{hint}")
    return problems


class PluginHost:
    """The plugin manager of one pool, with the records of every plugin it considered."""

    def __init__(self) -> None:
        self.manager = pluggy.PluginManager(PROJECT_NAME)
        self.manager.add_hookspecs(OpenRTCHookSpecs)
        self._records: dict[str, PluginRecord] = {}

    @property
    def records(self) -> list[PluginRecord]:
        return [self._enrich(record) for record in self._records.values()]

    @property
    def hook(self) -> Any:
        return self.manager.hook

    def add(self, name: str, plugin: object, *, candidate: PluginCandidate | None = None) -> None:
        """Register an imported plugin, validating its hooks; errors are recorded."""
        problems = _unknown_hooks(plugin)
        if not problems:
            try:
                self.manager.register(plugin, name=name)
            except (pluggy.PluginValidationError, ValueError) as exc:
                problems.append(str(exc))
        if problems:
            self._record(name, candidate, "error", "; ".join(problems))
            return
        self._record(name, candidate, "active")

    def record_failure(self, candidate: PluginCandidate, status: Status, error: str) -> None:
        self._record(candidate.name, candidate, status, error)

    def _record(
        self, name: str, candidate: PluginCandidate | None, status: Status, error: str | None = None
    ) -> None:
        self._records[name] = PluginRecord(
            name=name,
            distribution=candidate.distribution if candidate else None,
            version=candidate.version if candidate else None,
            value=candidate.value if candidate else "(in-process)",
            status=status,
            error=error,
        )

    def _enrich(self, record: PluginRecord) -> PluginRecord:
        plugin = self.manager.get_plugin(record.name)
        if plugin is None:
            return record
        hooks = sorted(caller.name for caller in self.manager.get_hookcallers(plugin) or ())
        return attrs.evolve(record, hooks=tuple(hooks))

    def record(self, name: str) -> PluginRecord:
        return self._records[name]

    def distribution_of(self, plugin_name: str) -> str:
        record = self._records.get(plugin_name)
        if record is None or record.distribution is None:
            return f"plugin '{plugin_name}'"
        return record.distribution

    def call_each(self, hook_name: str, **kwargs: Any) -> list[tuple[str, Any]]:
        """Call one hook on every plugin separately, keeping who returned what."""
        results: list[tuple[str, Any]] = []
        caller = getattr(self.manager.hook, hook_name)
        for impl in reversed(caller.get_hookimpls()):
            args = {name: kwargs[name] for name in impl.argnames}
            results.append((impl.plugin_name, impl.function(**args)))
        return results

    def declared_settings(self) -> list[Setting]:
        return [
            setting
            for _, declared in self.call_each("openrtc_settings")
            for setting in declared or ()
        ]

    def strategies(self, hook_name: str, settings: Settings) -> dict[str, Any]:
        """Collect the named strategies one registration hook offers, rejecting duplicates."""
        kind = STRATEGY_KINDS[hook_name]
        found: dict[str, tuple[str, Any]] = {}
        for plugin_name, offered in self.call_each(hook_name, settings=settings):
            for strategy in offered or ():
                previous = found.get(strategy.name)
                if previous is not None:
                    raise PluginError(
                        f"{kind} '{strategy.name}' is provided by both "
                        f"{self.distribution_of(previous[0])} and "
                        f"{self.distribution_of(plugin_name)}; uninstall or block one "
                        f"(OPENRTC_DISABLE_PLUGINS=<entry point name>)"
                    )
                found[strategy.name] = (plugin_name, strategy)
        return {name: strategy for name, (_, strategy) in found.items()}

    def strategy_owners(self, settings: Settings) -> dict[str, list[str]]:
        """``kind:name`` strategies by plugin name, for listings (duplicates allowed here)."""
        owners: dict[str, list[str]] = {}
        for hook_name, kind in STRATEGY_KINDS.items():
            for plugin_name, offered in self.call_each(hook_name, settings=settings):
                for strategy in offered or ():
                    owners.setdefault(plugin_name, []).append(f"{kind}:{strategy.name}")
        return owners


def load_plugins(
    *,
    candidates: Iterable[PluginCandidate],
    blocked: Collection[str] = (),
    strict: bool = False,
    extra: Mapping[str, object] | None = None,
    importer: Callable[[PluginCandidate], object] = _load_entry_point,
    report: bool = True,
) -> PluginHost:
    """Build a ``PluginHost``: import every candidate not blocked, then register ``extra``.

    Blocked plugins are never imported, so a broken plugin can always be blocked. With
    ``strict`` a plugin that fails to import or validate raises ``PluginError``; otherwise it
    is logged as a warning, unless ``report`` is false (callers that show records themselves).
    """
    host = PluginHost()
    for candidate in candidates:
        if candidate.name in blocked:
            host.manager.set_blocked(candidate.name)
            host.record_failure(candidate, "blocked", "blocked by configuration")
            continue
        try:
            plugin = importer(candidate)
        except Exception as exc:  # any import-time failure of third-party code is reported
            message = f"failed to import {candidate.value}: {type(exc).__name__}: {exc}"
            host.record_failure(candidate, "error", message)
        else:
            host.add(candidate.name, plugin, candidate=candidate)
        _after_load(host, candidate.name, strict, report)
    for name, plugin in (extra or {}).items():
        if name in blocked:
            continue
        host.add(name, plugin)
        _after_load(host, name, strict, report)
    host.manager.check_pending()
    return host


def _after_load(host: PluginHost, name: str, strict: bool, report: bool) -> None:
    record = host.record(name)
    if record.status != "error":
        return
    where = f" (distribution {record.distribution})" if record.distribution else ""
    message = f"plugin '{name}'{where} is broken: {record.error}"
    if strict:
        raise PluginError(f"{message}; fix or uninstall it, or unset OPENRTC_STRICT_PLUGINS")
    if not report:
        return
    logger.warning(
        "%s; skipped. Block it with OPENRTC_DISABLE_PLUGINS=%s or set OPENRTC_STRICT_PLUGINS=1 "
        "to make this fatal",
        message,
        name,
    )


def check_blocked_names(blocked: Sequence[str], candidates: Iterable[PluginCandidate]) -> None:
    """Warn about block-list entries that match no installed plugin (a typo blocks nothing)."""
    known = {candidate.name for candidate in candidates}
    for name in blocked:
        if name not in known:
            close = difflib.get_close_matches(name, sorted(known), n=1)
            hint = f"; did you mean '{close[0]}'?" if close else ""
            logger.warning("plugin '%s' is blocked but not installed%s", name, hint)
