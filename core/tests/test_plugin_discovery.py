"""Discovery against real (on-disk) distribution metadata: good, broken, blocked, duplicate."""

from __future__ import annotations

import os

import pytest
from kernel_plugin_sources import (
    BROKEN_IMPORT,
    GOOD_ROUTER,
    IMPORT_MARKER,
    MISSPELLED_HOOK,
    duplicate_router,
)
from openrtc_testing.fakedist import FakeInstaller

from openrtc import AgentPool
from openrtc.plugins import PluginError, find_candidates, load_plugins


def records_by_name(pool: AgentPool) -> dict[str, object]:
    return {record.name: record for record in pool.plugins}


def test_good_plugin_is_found_through_the_entry_point_group(fake_site: FakeInstaller) -> None:
    fake_site("acme-router", GOOD_ROUTER)
    candidate = next(c for c in find_candidates() if c.name == "acme-router")
    assert candidate.distribution == "acme-router"
    assert candidate.version == "0.1.0"
    pool = AgentPool()
    record = next(r for r in pool.plugins if r.name == "acme-router")
    assert record.status == "active"
    assert record.hooks == ("openrtc_routers",)
    assert "always-second" in pool.routers


def test_defaults_register_through_the_same_group() -> None:
    names = {candidate.name for candidate in find_candidates()}
    assert {"openrtc-core", "openrtc-isolation-coroutine", "openrtc-router-metadata"} <= names


def test_broken_plugin_is_reported_and_skipped(
    fake_site: FakeInstaller, caplog: pytest.LogCaptureFixture
) -> None:
    fake_site("acme-broken", BROKEN_IMPORT)
    pool = AgentPool()
    record = next(r for r in pool.plugins if r.name == "acme-broken")
    assert record.status == "error"
    assert record.distribution == "acme-broken"
    assert "ModuleNotFoundError" in (record.error or "")
    assert "this_module_does_not_exist" in (record.error or "")
    assert any("acme-broken" in m and "OPENRTC_DISABLE_PLUGINS" in m for m in caplog.messages)
    assert pool.isolation == "coroutine"  # the rest of the pool still works


def test_strict_mode_makes_a_broken_plugin_fatal(
    fake_site: FakeInstaller, monkeypatch: pytest.MonkeyPatch
) -> None:
    fake_site("acme-broken", BROKEN_IMPORT)
    monkeypatch.setenv("OPENRTC_STRICT_PLUGINS", "1")
    with pytest.raises(PluginError, match=r"plugin 'acme-broken' \(distribution acme-broken\)"):
        AgentPool()


def test_strict_mode_from_the_constructor(fake_site: FakeInstaller) -> None:
    fake_site("acme-broken", BROKEN_IMPORT)
    with pytest.raises(PluginError, match="acme-broken"):
        AgentPool(strict_plugins=True)


def test_misspelled_hook_is_caught_with_a_suggestion(fake_site: FakeInstaller) -> None:
    fake_site("acme-typo", MISSPELLED_HOOK)
    pool = AgentPool()
    record = next(r for r in pool.plugins if r.name == "acme-typo")
    assert record.status == "error"
    assert "unknown hook 'openrtc_routrs'" in (record.error or "")
    assert "did you mean 'openrtc_routers'" in (record.error or "")


def test_blocked_plugin_is_never_imported(
    fake_site: FakeInstaller, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("FAKE_BLOCKED_PLUGIN_IMPORTED", raising=False)
    fake_site("acme-blocked", IMPORT_MARKER)
    monkeypatch.setenv("OPENRTC_DISABLE_PLUGINS", "acme-blocked")
    pool = AgentPool()
    record = next(r for r in pool.plugins if r.name == "acme-blocked")
    assert record.status == "blocked"
    assert "FAKE_BLOCKED_PLUGIN_IMPORTED" not in os.environ


def test_blocking_by_pool_argument_turns_a_strategy_off(fake_site: FakeInstaller) -> None:
    fake_site("acme-router", GOOD_ROUTER)
    assert "always-second" in AgentPool().routers
    assert "always-second" not in AgentPool(disable_plugins=["acme-router"]).routers


def test_duplicate_strategy_names_are_an_error_naming_both(fake_site: FakeInstaller) -> None:
    fake_site("acme-one", duplicate_router("same-name"))
    fake_site("acme-two", duplicate_router("same-name"))
    with pytest.raises(PluginError) as raised:
        AgentPool()
    message = str(raised.value)
    assert "router 'same-name'" in message
    assert "acme-one" in message and "acme-two" in message


def test_duplicate_of_a_default_strategy_is_also_caught(fake_site: FakeInstaller) -> None:
    fake_site("acme-metadata", duplicate_router("metadata"))
    with pytest.raises(PluginError, match="openrtc-router-metadata"):
        AgentPool()


def test_each_pool_has_its_own_plugin_manager() -> None:
    first, second = AgentPool(), AgentPool(disable_plugins=["openrtc-router-metadata"])
    assert first._runtime.host.manager is not second._runtime.host.manager
    assert "metadata" in first.routers and "metadata" not in second.routers


def test_in_process_plugins_are_validated_too() -> None:
    class Misspelled:
        from openrtc.hookspecs import hookimpl

        @hookimpl
        def openrtc_prewarn(self, proc: object) -> None:
            return None

    pool = AgentPool(plugins={"inline": Misspelled()})
    record = next(r for r in pool.plugins if r.name == "inline")
    assert record.status == "error"
    assert "openrtc_prewarm" in (record.error or "")


def test_load_plugins_reads_metadata_once_per_pool(monkeypatch: pytest.MonkeyPatch) -> None:
    import openrtc.pool as pool_module

    calls = []
    real = pool_module.find_candidates

    def counting() -> list[object]:
        calls.append(1)
        return real()

    monkeypatch.setattr(pool_module, "find_candidates", counting)
    pool = AgentPool()
    pool.apply_flags({"max_concurrent_sessions": "3"})
    pool.apply_flags({"isolation": "process"})
    assert len(calls) == 1
    assert pool.isolation == "process"


def test_unknown_hook_check_ignores_non_hook_attributes() -> None:
    host = load_plugins(candidates=[], extra={"plain": object()})
    assert host.records[0].status == "active"


WRONG_STRATEGY_TYPE = """
from openrtc.plugin import hookimpl


@hookimpl
def openrtc_routers(settings):
    return ["prefix"]  # a name, not a Router
"""


def test_a_strategy_of_the_wrong_type_names_the_plugin_and_the_hook(
    fake_site: FakeInstaller,
) -> None:
    fake_site("acme-confused", WRONG_STRATEGY_TYPE)
    with pytest.raises(PluginError) as raised:
        AgentPool()
    message = str(raised.value)
    assert "acme-confused returned str from openrtc_routers" in message
    assert "a list of Router objects" in message


FAILING_REGISTRATION = """
from openrtc.plugin import hookimpl


@hookimpl
def openrtc_admission_rules(settings):
    raise ValueError("rules.toml line 3: max_sessions must be a number")
"""


def test_a_plugin_that_cannot_build_its_strategies_stops_the_pool_in_one_line(
    fake_site: FakeInstaller,
) -> None:
    # skipping it would run the worker without the rules it was configured to enforce
    fake_site("acme-rules", FAILING_REGISTRATION)
    with pytest.raises(PluginError) as raised:
        AgentPool()
    assert str(raised.value) == (
        "acme-rules could not offer its admission rules: rules.toml line 3: max_sessions "
        "must be a number"
    )


SETTINGS_PLUGIN = """
from openrtc.plugin import Setting, hookimpl


@hookimpl
def openrtc_settings():
    return [Setting("acme.level", "int", 3, "A level.")]
"""


def test_hooks_are_called_through_pluggy(fake_site: FakeInstaller) -> None:
    fake_site("acme-settings", SETTINGS_PLUGIN)
    host = load_plugins(candidates=[c for c in find_candidates() if c.name == "acme-settings"])
    seen: list[str] = []
    host.manager.add_hookcall_monitoring(
        lambda hook_name, impls, kwargs: seen.append(hook_name), lambda *args: None
    )
    assert [s.name for s in host.declared_settings()] == ["acme.level"]
    assert seen == ["openrtc_settings"]  # pluggy's monitoring saw the call


def test_apply_flags_without_new_values_keeps_the_plugin_host() -> None:
    # `openrtc start ./agents` with no flags used to register every plugin a second time
    dashboard = object()
    pool = AgentPool()
    host = pool._runtime.host
    pool.apply_flags({"isolation": None, "max_concurrent_sessions": None})
    assert pool._runtime.host is host
    pool.apply_flags({"max_concurrent_sessions": "3"}, plugins={"dash": dashboard})
    rebuilt = pool._runtime.host
    assert rebuilt is not host and pool.max_concurrent_sessions == 3
    pool.apply_flags({"max_concurrent_sessions": "3"}, plugins={"dash": dashboard})
    assert pool._runtime.host is rebuilt
    pool.apply_flags({})
    assert pool._runtime.host is not rebuilt and pool.max_concurrent_sessions != 3
