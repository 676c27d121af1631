"""The template plugin, through a real AgentPool: its setting, its rule, and its listing."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest
from livekit.agents import Agent
from openrtc_plugin_template import parse_caps
from openrtc_testing import worker_state

from openrtc import AgentPool
from openrtc.plugin import SettingError


def test_parse_caps() -> None:
    assert parse_caps(["dental=2", " restaurant = 5"]) == {"dental": 2, "restaurant": 5}
    with pytest.raises(ValueError, match="not of the form"):
        parse_caps(["dental"])


class DentalAgent(Agent):
    def __init__(self) -> None:
        super().__init__(instructions="Book dental appointments.")


class RestaurantAgent(Agent):
    def __init__(self) -> None:
        super().__init__(instructions="Take table reservations.")


def pool_with_agents() -> AgentPool:
    pool = AgentPool()
    pool.add("dental", DentalAgent)
    pool.add("restaurant", RestaurantAgent)
    return pool


def dispatch_for(agent: str) -> str:
    return json.dumps({"agent": agent})


def test_rule_rejects_an_agent_at_its_cap(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OPENRTC_AGENT_CAPS_LIMITS", "dental=1")
    pool = pool_with_agents()
    assert pool.check_job("room-1", job_metadata=dispatch_for("dental")).admitted
    one_dental_call = worker_state({"dental": 1})
    verdict = pool.check_job("room-2", job_metadata=dispatch_for("dental"), state=one_dental_call)
    assert verdict.rejected_by == "agent-caps"
    assert verdict.reason == "agent 'dental' is at its cap of 1 live sessions"
    other = pool.check_job("room-3", job_metadata=dispatch_for("restaurant"), state=one_dental_call)
    assert other.admitted


def test_no_caps_no_rule() -> None:
    pool = pool_with_agents()
    busy = worker_state({"dental": 40, "restaurant": 9})
    assert pool.check_job("room", job_metadata=dispatch_for("dental"), state=busy).admitted


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
