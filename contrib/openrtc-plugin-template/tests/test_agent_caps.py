"""The template plugin, through a real AgentPool: its setting, its rule, and its listing."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest
from openrtc_plugin_template import parse_caps

from openrtc import AgentPool
from openrtc.settings import SettingError


def test_parse_caps() -> None:
    assert parse_caps(["dental=2", " restaurant = 5"]) == {"dental": 2, "restaurant": 5}
    with pytest.raises(ValueError, match="not of the form"):
        parse_caps(["dental"])


def admit(pool: AgentPool, agent: str) -> tuple[str, str] | None:
    return pool._runtime.handlers.admission_reason("J", "room", agent)


def test_rule_rejects_an_agent_at_its_cap(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OPENRTC_AGENT_CAPS_LIMITS", "dental=1")
    pool = AgentPool()
    state = pool._runtime.state
    assert admit(pool, "dental") is None
    state.session_started("J1", "dental", "room-1")
    assert admit(pool, "dental") == (
        "agent-caps",
        "agent 'dental' is at its cap of 1 live sessions",
    )
    assert admit(pool, "restaurant") is None


def test_no_caps_no_rule() -> None:
    pool = AgentPool()
    assert "agent-caps" not in pool._runtime.admission_rules


def test_bad_caps_value_is_a_clear_error() -> None:
    with pytest.raises(SettingError, match="write caps like 'dental=2,restaurant=5'"):
        AgentPool(plugin_settings={"agent_caps.limits": ["dental=two"]})


def test_installed_plugin_shows_in_plugins_list() -> None:
    result = subprocess.run(
        [sys.executable, "-m", "openrtc.cli", "plugins", "list", "--json"],
        capture_output=True,
        text=True,
        check=True,
        timeout=120,
        env={**os.environ, "OPENRTC_AGENT_CAPS_LIMITS": "dental=2"},
    )
    plugins = {p["name"]: p for p in json.loads(result.stdout)["plugins"]}
    record = plugins["openrtc-plugin-template"]
    assert record["status"] == "active"
    assert record["strategies"] == ["admission rule:agent-caps"]
    assert record["hooks"] == ["openrtc_admission_rules", "openrtc_settings"]
