"""Loading a pool's plugins, then resolving every setting: done once, the same way, for the
pool, the CLI's flags and ``openrtc plugins list``.

Discovery reads installed-package metadata first (entry points of group ``openrtc.plugins``),
then imports each plugin that is not blocked. A plugin that fails to import or declares an
unknown hook is recorded with its error and skipped, unless strict mode makes that fatal.
Each pool builds its own ``PluginHost``; there is no global manager.
"""

from __future__ import annotations

import difflib
import logging
from collections.abc import Callable, Collection, Iterable, Mapping, Sequence

import attrs

from openrtc.plugins.discovery import PluginCandidate, find_candidates, load_entry_point
from openrtc.plugins.host import PluginError, PluginHost
from openrtc.pool_settings import KERNEL_SETTINGS, PLUGIN_SELECTION
from openrtc.settings import Setting, SettingError, Settings, resolve

logger = logging.getLogger("openrtc.plugins")


def load_plugins(
    *,
    candidates: Iterable[PluginCandidate],
    blocked: Collection[str] = (),
    strict: bool = False,
    extra: Mapping[str, object] | None = None,
    importer: Callable[[PluginCandidate], object] = load_entry_point,
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


@attrs.frozen
class LoadedPlugins:
    """A pool's plugins, loaded, and every setting resolved against what they declare."""

    host: PluginHost
    selection: Settings
    """``disable_plugins`` and ``strict_plugins``: resolved first, they decide what loads."""
    declared: tuple[Setting, ...]
    """The kernel's settings and every loaded plugin's."""
    settings: Settings


def load_and_resolve(
    *,
    flags: Mapping[str, object] | None = None,
    constructor: Mapping[str, object] | None = None,
    extra: Mapping[str, object] | None = None,
    candidates: Sequence[PluginCandidate] | None = None,
    env: Mapping[str, str] | None = None,
    diagnose: bool = False,
) -> LoadedPlugins:
    """Load plugins, then resolve every setting: the one way the pool, the CLI and
    ``openrtc plugins list`` do it.

    The plugin selection is resolved first (flags, environment, constructor), because it
    decides which plugins are imported and so which other settings exist. With ``diagnose``
    (listings, flag discovery) a broken plugin is never fatal and nothing is logged, and a bad
    value in the environment falls back to the defaults instead of raising ``SettingError``.
    """
    flags = flags or {}
    constructor = constructor or {}
    names = {setting.name for setting in PLUGIN_SELECTION}
    selection = resolve(
        PLUGIN_SELECTION,
        flags={k: v for k, v in flags.items() if k in names},
        constructor={k: v for k, v in constructor.items() if k in names},
        env=env,
    )
    host = load_plugins(
        candidates=find_candidates() if candidates is None else candidates,
        blocked=selection["disable_plugins"],
        strict=False if diagnose else selection["strict_plugins"],
        extra={k: v for k, v in (extra or {}).items() if k not in selection["disable_plugins"]},
        report=not diagnose,
    )
    try:
        declared = (*KERNEL_SETTINGS, *host.declared_settings())
    except (SettingError, PluginError) as exc:
        if not diagnose:
            raise
        logger.warning("plugin settings unavailable: %s", exc)
        declared = tuple(KERNEL_SETTINGS)
    try:
        settings = resolve(declared, flags=flags, constructor=constructor, env=env)
    except SettingError:
        if not diagnose:
            raise
        settings = resolve(declared, flags=flags, constructor=constructor, env={})
    return LoadedPlugins(host=host, selection=selection, declared=declared, settings=settings)
