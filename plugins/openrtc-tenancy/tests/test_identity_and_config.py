"""Tenant identity from a dispatch, and the tenancy file, through a real pool where it matters."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest
from livekit.agents import Agent
from openrtc_tenancy.config import ConfigFile, TenancyConfigError, parse

from openrtc import AgentPool
from openrtc.plugins import PluginError


class Dental(Agent):
    def __init__(self) -> None:
        super().__init__(instructions="dental")


def pool(**settings: object) -> AgentPool:
    made = AgentPool(plugin_settings=settings)
    made.add("dental", Dental)
    return made


def tenant_of(made: AgentPool, job: object = None, room: object = None) -> object:
    verdict = made.check_job(
        "r",
        job_metadata="" if job is None else json.dumps(job),
        room_metadata="" if room is None else json.dumps(room),
    )
    if not verdict.admitted:
        return (verdict.rejected_by, verdict.reason)
    assert verdict.decision is not None
    return verdict.decision.labels.get("tenant")


def test_the_job_names_the_tenant_before_the_room_does() -> None:
    made = pool()
    assert tenant_of(made, {"tenant": "acme"}, {"tenant": "globex"}) == "acme"
    assert tenant_of(made, {"agent": "dental"}, {"tenant": "globex"}) == "globex"
    assert tenant_of(pool(**{"tenancy.sources": ["room"]}), {"tenant": "acme"}) is None


def test_a_job_naming_no_tenant_gets_the_default_or_is_declined_when_required() -> None:
    assert tenant_of(pool()) is None
    assert tenant_of(pool(**{"tenancy.default": "house"})) == "house"
    rule, reason = tenant_of(pool(**{"tenancy.required": True}))  # type: ignore[misc]
    assert rule == "tenant"
    assert "names no tenant" in reason and "tenancy.required" in reason


@pytest.mark.parametrize(
    ("value", "problem"),
    [
        ("acme corp", "'acme corp' in the job metadata field 'tenant' is invalid"),
        ("-acme", "starting with a letter or digit"),
        ("a" * 65, "1 to 64"),
        (42, "must be a string tenant id, not int"),
    ],
)
def test_an_invalid_tenant_id_is_declined_naming_the_rule(value: object, problem: str) -> None:
    rule, reason = tenant_of(pool(), {"tenant": value})  # type: ignore[misc]
    assert rule == "tenant"
    assert problem in reason


def test_an_invalid_default_tenant_stops_the_pool_from_being_built() -> None:
    with pytest.raises(Exception, match="tenancy.default"):
        pool(**{"tenancy.default": "no spaces please"})


def test_the_file_gives_caps_and_lists_the_known_tenants(tmp_path: Path) -> None:
    config = parse(
        "[defaults]\nmax_sessions = 10\n[tenants.acme]\nmax_sessions = 2\n[tenants.globex]\n",
        "t.toml",
    )
    assert config.policy("acme").max_sessions == 2  # type: ignore[union-attr]
    assert config.policy("globex").max_sessions == 10  # type: ignore[union-attr]
    assert config.policy("initech") is None


@pytest.mark.parametrize(
    ("text", "problem"),
    [
        ("[tenants.acme]\nmax_session = 2\n", "unknown key 'max_session'"),
        ("[tenants.acme]\nmax_sessions = -1\n", "must be a whole number >= 0"),
        ("[tenants.'bad id']\n", "invalid"),
        ("[tenant.acme]\n", "unknown table 'tenant'"),
        ("[tenants.acme\n", "t.toml:"),
    ],
)
def test_a_broken_file_names_the_problem(text: str, problem: str) -> None:
    with pytest.raises(TenancyConfigError, match=problem):
        parse(text, "t.toml")


def test_a_broken_file_stops_the_pool_and_a_bad_change_keeps_the_last_good_one(
    tmp_path: Path,
) -> None:
    path = tmp_path / "tenants.toml"
    path.write_text("[tenants.acme]\nmax_sessions = two\n")
    with pytest.raises(
        PluginError, match="openrtc-tenancy could not offer its admission rules: .*tenants.toml"
    ):
        pool(**{"tenancy.config": str(path)})
    path.write_text("[tenants.acme]\nmax_sessions = 2\n")
    watched = ConfigFile(path)
    path.write_text("[tenants.acme]\nmax_sessions = 3\n[tenants.globex]\n")
    os.utime(path, ns=(1, 1))  # a different stamp, whatever the clock's resolution
    assert watched.current().policy("acme").max_sessions == 3  # type: ignore[union-attr]
    path.write_text("[tenants.acme\n")
    assert watched.current().policy("acme").max_sessions == 3  # type: ignore[union-attr]


def test_an_unknown_tenant_is_declined_or_gets_the_defaults(tmp_path: Path) -> None:
    path = tmp_path / "tenants.toml"
    path.write_text("[defaults]\nmax_sessions = 1\n[tenants.acme]\n")
    strict = pool(**{"tenancy.config": str(path)})
    verdict = strict.check_job("r", job_metadata='{"tenant": "initech"}')
    assert verdict.rejected_by == "tenant"
    assert "'initech' is not in the tenancy config" in (verdict.reason or "")
    assert strict.check_job("r", job_metadata='{"tenant": "acme"}').admitted
    lenient = pool(**{"tenancy.config": str(path), "tenancy.unknown": "default"})
    assert lenient.check_job("r", job_metadata='{"tenant": "initech"}').admitted


def test_a_platform_function_gives_the_config_and_is_called_again_after_refresh(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from openrtc_tenancy.config import ConfigFunction

    (tmp_path / "tenantdb.py").write_text(
        "TENANTS = {'acme': {'max_sessions': 1}}\n"
        "def load():\n"
        "    return {'tenants': dict(TENANTS)}\n"
    )
    monkeypatch.syspath_prepend(str(tmp_path))
    made = pool(**{"tenancy.config": "tenantdb:load"})
    assert made.check_job("r", job_metadata='{"tenant": "acme"}').admitted
    assert made.check_job("r", job_metadata='{"tenant": "globex"}').rejected_by == "tenant"

    import tenantdb  # type: ignore[import-not-found]

    now = [0.0]
    source = ConfigFunction("tenantdb:load", refresh_s=30, clock=lambda: now[0])
    tenantdb.TENANTS["globex"] = {}
    assert source.current().policy("globex") is None  # not asked again yet
    now[0] = 31
    assert source.current().policy("globex") is not None
    assert source.version == 1


def test_a_config_that_is_neither_file_nor_function_is_named() -> None:
    with pytest.raises(PluginError, match="neither a file nor a function"):
        pool(**{"tenancy.config": "no_such_module:load"})
    with pytest.raises(PluginError, match="does not exist"):
        pool(**{"tenancy.config": "/nowhere/tenants.toml"})


def test_a_worker_whose_tenants_are_all_at_their_caps_reports_itself_full(
    tmp_path: Path,
) -> None:
    path = tmp_path / "tenants.toml"
    path.write_text("[tenants.acme]\nmax_sessions = 1\n")
    made = pool(**{"tenancy.config": str(path), "tenancy.required": True})
    runtime = made._runtime  # the load livekit asks the serving worker for
    assert runtime.load() < 1.0
    runtime.state.session_started("j1", "dental", "room", {"tenant": "acme"})
    assert runtime.load() == 1.0
