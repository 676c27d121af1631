"""The plugin manager of one pool: registration, validation, records, and calling hooks.

Every hook is called through pluggy. Where the kernel needs to know which plugin returned what
(strategies, settings, session options), ``call_each`` asks each plugin through a pluggy
subset caller of its own, so wrappers and tracing apply as for any other call.
"""

from __future__ import annotations

import difflib
from typing import Any, Literal

import attrs
import pluggy

from openrtc.hookspecs import HOOK_NAMES, PROJECT_NAME, OpenRTCHookSpecs
from openrtc.plugins.discovery import PluginCandidate
from openrtc.settings import Setting, Settings
from openrtc.strategies import STRATEGY_KINDS, STRATEGY_TYPES

Status = Literal["active", "blocked", "error"]


class PluginError(RuntimeError):
    """A plugin could not be used; the message names the plugin and what to do."""


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
        self._subset_callers: dict[str, list[tuple[str, Any]]] = {}

    @property
    def records(self) -> list[PluginRecord]:
        return [self._enrich(record) for record in self._records.values()]

    @property
    def hook(self) -> Any:
        return self.manager.hook

    def add(self, name: str, plugin: object, *, candidate: PluginCandidate | None = None) -> None:
        """Register an imported plugin, validating its hooks; errors are recorded."""
        self._subset_callers.clear()
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

    def call_each(
        self,
        hook_name: str,
        *,
        errors: dict[str, Exception] | None = None,
        **kwargs: Any,
    ) -> list[tuple[str, Any]]:
        """Call one hook on every plugin that implements it, keeping who returned what.

        In the order pluggy calls them (the last registered first). With ``errors``, a plugin
        whose hook raises is recorded there (by plugin name) and the others are still asked;
        without it the exception propagates.
        """
        results: list[tuple[str, Any]] = []
        for name, one in self._callers_of(hook_name):
            try:
                outcome = one(**kwargs)
            except Exception as exc:
                if errors is None:
                    raise
                errors[name] = exc
                continue
            results.append((name, outcome[0] if outcome else None))
        return results

    def _callers_of(self, hook_name: str) -> list[tuple[str, Any]]:
        """One pluggy caller per implementing plugin, in call order (the last registered
        first). Session hooks are asked once per session, so they are made once per hook;
        registering a plugin starts the cache afresh."""
        cached = self._subset_callers.get(hook_name)
        if cached is None:
            caller = getattr(self.manager.hook, hook_name)
            implementers = [impl.plugin_name for impl in caller.get_hookimpls()]
            everyone = [name for name, _ in self.manager.list_name_plugin()]
            cached = [
                (
                    name,
                    self.manager.subset_hook_caller(
                        hook_name,
                        remove_plugins=[self.manager.get_plugin(n) for n in everyone if n != name],
                    ),
                )
                for name in reversed(implementers)
            ]
            self._subset_callers[hook_name] = cached
        return cached

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
        errors: dict[str, Exception] = {}
        offers = self.call_each(hook_name, errors=errors, settings=settings)
        for plugin_name, error in errors.items():
            # a plugin that cannot build its strategies (its configuration is broken) stops
            # the pool: skipping it would run the worker without the rule or mode asked for
            raise PluginError(
                f"{self.distribution_of(plugin_name)} could not offer its {kind}s: {error}"
            ) from error
        for plugin_name, offered in offers:
            for strategy in self._checked(plugin_name, hook_name, offered):
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

    def _checked(self, plugin_name: str, hook_name: str, offered: Any) -> list[Any]:
        """The strategies one plugin returned from a registration hook, or a ``PluginError``
        naming the plugin and the hook when something else came back."""
        expected = STRATEGY_TYPES[hook_name]
        items = list(offered or ())
        wrong = [item for item in items if not isinstance(item, expected)]
        if wrong:
            raise PluginError(
                f"{self.distribution_of(plugin_name)} returned {type(wrong[0]).__name__} from "
                f"{hook_name}; it must return a list of {expected.__name__} objects "
                f"(from openrtc.plugin import {expected.__name__})"
            )
        return items

    def strategy_owners(self, settings: Settings) -> dict[str, list[str]]:
        """``kind:name`` strategies by plugin name, for listings (duplicates allowed here)."""
        owners: dict[str, list[str]] = {}
        for hook_name, kind in STRATEGY_KINDS.items():
            for plugin_name, offered in self.call_each(hook_name, settings=settings):
                for strategy in offered or ():
                    owners.setdefault(plugin_name, []).append(f"{kind}:{strategy.name}")
        return owners
