"""Flag > environment > constructor > default, for kernel and plugin settings alike."""

from __future__ import annotations

from typing import Any

import pytest

from openrtc import AgentPool
from openrtc.settings import Setting, SettingError, resolve

# (setting, constructor kwargs, plugin_settings, env var, env value, flag value, expected)
CASES: list[tuple[str, dict[str, Any], dict[str, Any], str, str | None, Any, Any]] = [
    ("max_concurrent_sessions", {}, {}, "OPENRTC_MAX_CONCURRENT_SESSIONS", None, None, 50),
    (
        "max_concurrent_sessions",
        {"max_concurrent_sessions": 7},
        {},
        "OPENRTC_MAX_CONCURRENT_SESSIONS",
        None,
        None,
        7,
    ),
    (
        "max_concurrent_sessions",
        {"max_concurrent_sessions": 7},
        {},
        "OPENRTC_MAX_CONCURRENT_SESSIONS",
        "9",
        None,
        9,
    ),
    (
        "max_concurrent_sessions",
        {"max_concurrent_sessions": 7},
        {},
        "OPENRTC_MAX_CONCURRENT_SESSIONS",
        "9",
        "11",
        11,
    ),
    ("isolation", {}, {}, "OPENRTC_ISOLATION", None, None, "coroutine"),
    ("isolation", {"isolation": "process"}, {}, "OPENRTC_ISOLATION", None, None, "process"),
    (
        "isolation",
        {"isolation": "process"},
        {},
        "OPENRTC_ISOLATION",
        "coroutine",
        None,
        "coroutine",
    ),
    ("isolation", {}, {}, "OPENRTC_ISOLATION", "coroutine", "process", "process"),
    (
        "consecutive_failure_limit",
        {"consecutive_failure_limit": 2},
        {},
        "OPENRTC_CONSECUTIVE_FAILURE_LIMIT",
        "0",
        None,
        0,
    ),
    ("drain_timeout", {"drain_timeout": 5}, {}, "OPENRTC_DRAIN_TIMEOUT", None, "2.5", 2.5),
    ("registration_timeout", {}, {}, "OPENRTC_REGISTRATION_TIMEOUT", None, None, 60.0),
    (
        "registration_timeout",
        {"registration_timeout": 5},
        {},
        "OPENRTC_REGISTRATION_TIMEOUT",
        "0",
        None,
        0.0,
    ),
    ("routers", {"routers": ["fallback"]}, {}, "OPENRTC_ROUTERS", None, None, ("fallback",)),
    (
        "routers",
        {"routers": ["fallback"]},
        {},
        "OPENRTC_ROUTERS",
        "metadata,fallback",
        None,
        ("metadata", "fallback"),
    ),
    # a plugin-declared setting goes through the same layers
    ("router_prefix.separator", {}, {}, "OPENRTC_ROUTER_PREFIX_SEPARATOR", None, None, "-"),
    (
        "router_prefix.separator",
        {},
        {"router_prefix.separator": "_"},
        "OPENRTC_ROUTER_PREFIX_SEPARATOR",
        None,
        None,
        "_",
    ),
    (
        "router_prefix.separator",
        {},
        {"router_prefix.separator": "_"},
        "OPENRTC_ROUTER_PREFIX_SEPARATOR",
        ".",
        None,
        ".",
    ),
    (
        "router_prefix.separator",
        {},
        {"router_prefix.separator": "_"},
        "OPENRTC_ROUTER_PREFIX_SEPARATOR",
        ".",
        "~",
        "~",
    ),
    (
        "process.job_memory_limit_mb",
        {},
        {"process.job_memory_limit_mb": 300},
        "OPENRTC_PROCESS_JOB_MEMORY_LIMIT_MB",
        "512",
        None,
        512.0,
    ),
]


@pytest.mark.parametrize(("name", "ctor", "plugin", "env_var", "env", "flag", "expected"), CASES)
def test_precedence(
    monkeypatch: pytest.MonkeyPatch,
    name: str,
    ctor: dict[str, Any],
    plugin: dict[str, Any],
    env_var: str,
    env: str | None,
    flag: Any,
    expected: Any,
) -> None:
    if env is None:
        monkeypatch.delenv(env_var, raising=False)
    else:
        monkeypatch.setenv(env_var, env)
    pool = AgentPool(**ctor, plugin_settings=plugin)
    if flag is not None:
        pool.apply_flags({name: flag})
    assert pool.settings[name] == expected
    layer = (
        "flag"
        if flag is not None
        else "env"
        if env
        else "constructor"
        if (name in ctor or name in plugin)
        else "default"
    )
    assert pool.settings.source(name) == layer


def test_properties_follow_the_resolved_values(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OPENRTC_MAX_CONCURRENT_SESSIONS", "3")
    pool = AgentPool(max_concurrent_sessions=10, consecutive_failure_limit=2, drain_timeout=4)
    assert (pool.max_concurrent_sessions, pool.consecutive_failure_limit, pool.drain_timeout) == (
        3,
        2,
        4.0,
    )


@pytest.mark.parametrize(
    ("env_var", "value", "message"),
    [
        ("OPENRTC_MAX_CONCURRENT_SESSIONS", "many", "not a valid int"),
        ("OPENRTC_MAX_CONCURRENT_SESSIONS", "0", "use a value >= 1"),
        ("OPENRTC_STRICT_PLUGINS", "maybe", "true/false"),
        ("OPENRTC_ROUTER_PREFIX_SEPARATOR", " ", "separator cannot be empty"),
    ],
)
def test_bad_environment_values_name_the_variable_and_the_fix(
    monkeypatch: pytest.MonkeyPatch, env_var: str, value: str, message: str
) -> None:
    monkeypatch.setenv(env_var, value)
    with pytest.raises(SettingError, match=message) as raised:
        AgentPool()
    assert env_var in str(raised.value)


def test_unknown_isolation_lists_installed_modes_and_the_install() -> None:
    from openrtc.plugins import UnknownStrategyError

    with pytest.raises(UnknownStrategyError) as raised:
        AgentPool(isolation="threads")
    assert "installed: coroutine, hybrid, process" in str(raised.value)
    with pytest.raises(UnknownStrategyError, match="pip install openrtc-isolation-process"):
        AgentPool(isolation="process", disable_plugins=["openrtc-isolation-process"])


def test_misspelled_plugin_setting_is_an_error() -> None:
    with pytest.raises(SettingError, match="unknown constructor argument setting 'router_prefx"):
        AgentPool(plugin_settings={"router_prefx.separator": "_"})


def test_wrong_constructor_type_is_an_error() -> None:
    with pytest.raises(SettingError, match="wrong type for setting 'max_concurrent_sessions'"):
        AgentPool(max_concurrent_sessions="10")  # type: ignore[arg-type]


def test_resolve_rejects_a_setting_declared_twice() -> None:
    twice = [Setting("x", "int", 1, "x"), Setting("x", "int", 2, "x")]
    with pytest.raises(SettingError, match="declared twice"):
        resolve(twice, env={})


def test_secret_settings_are_masked_in_public_items() -> None:
    settings = resolve([Setting("token", "str", "", "t", secret=True)], env={"OPENRTC_TOKEN": "s3"})
    assert settings["token"] == "s3"
    assert settings.public_items() == {"token": "***"}
