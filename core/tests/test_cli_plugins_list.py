"""`openrtc plugins list` in a real subprocess: table, JSON schema, broken plugins, no livekit."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from kernel_plugin_sources import BROKEN_IMPORT, GOOD_ROUTER
from openrtc_testing.fakedist import write_plugin_distribution


def run_cli(
    args: list[str], site: Path | None = None, **env: str
) -> subprocess.CompletedProcess[str]:
    environment = {**os.environ, **env, "COLUMNS": "200"}
    if site is not None:
        environment["PYTHONPATH"] = os.pathsep.join([str(site), environment.get("PYTHONPATH", "")])
    return subprocess.run(
        [sys.executable, "-m", "openrtc.cli", *args],
        capture_output=True,
        text=True,
        env=environment,
        timeout=120,
        check=False,
    )


@pytest.fixture
def site(tmp_path: Path) -> Path:
    site = tmp_path / "site"
    write_plugin_distribution(
        site, distribution="acme-router", module="acme_router_cli", source=GOOD_ROUTER
    )
    write_plugin_distribution(
        site, distribution="acme-broken", module="acme_broken_cli", source=BROKEN_IMPORT
    )
    return site


def test_json_lists_good_broken_and_default_plugins(site: Path) -> None:
    result = run_cli(["plugins", "list", "--json"], site)
    assert result.returncode == 0, result.stderr
    document = json.loads(result.stdout)
    assert document["schema"] == "openrtc.plugins/1"
    plugins = {p["name"]: p for p in document["plugins"]}
    assert plugins["acme-router"]["status"] == "active"
    assert plugins["acme-router"]["strategies"] == ["router:always-second"]
    assert plugins["acme-router"]["hooks"] == ["openrtc_routers"]
    assert plugins["acme-broken"]["status"] == "error"
    assert "this_module_does_not_exist" in plugins["acme-broken"]["error"]
    assert plugins["openrtc-router-metadata"]["distribution"] == "openrtc-router-metadata"
    assert plugins["openrtc-router-metadata"]["version"] == "0.21.0"
    assert "isolation mode:coroutine" in plugins["openrtc-isolation-coroutine"]["strategies"]
    assert set(plugins["acme-router"]) == {
        "name",
        "distribution",
        "version",
        "value",
        "status",
        "error",
        "hooks",
        "strategies",
    }


def test_table_shows_status_and_error(site: Path) -> None:
    result = run_cli(["plugins", "list"], site)
    assert result.returncode == 0, result.stderr
    assert "acme-broken" in result.stdout and "error" in result.stdout
    assert "ModuleNotFoundError" in result.stdout
    assert "router:always-second" in result.stdout


def test_blocked_plugin_shows_as_blocked(site: Path) -> None:
    result = run_cli(
        ["plugins", "list", "--json"],
        site,
        OPENRTC_DISABLE_PLUGINS="acme-broken,openrtc-router-prefix",
    )
    plugins = {p["name"]: p for p in json.loads(result.stdout)["plugins"]}
    assert plugins["acme-broken"]["status"] == "blocked"
    assert plugins["openrtc-router-prefix"]["status"] == "blocked"
    assert plugins["openrtc-router-prefix"]["strategies"] == []


def test_listing_and_help_do_not_import_livekit_agents(site: Path) -> None:
    probe = (
        "import sys, runpy\n"
        "sys.argv = ['openrtc'] + sys.argv[1:]\n"
        "try:\n"
        "    runpy.run_module('openrtc.cli', run_name='__main__')\n"
        "except SystemExit:\n"
        "    pass\n"
        "print('LIVEKIT_AGENTS_IMPORTED', 'livekit.agents' in sys.modules, file=sys.stderr)\n"
    )
    for args in (["plugins", "list", "--json"], ["--help"]):
        result = subprocess.run(
            [sys.executable, "-c", probe, *args],
            capture_output=True,
            text=True,
            timeout=120,
            env={**os.environ, "PYTHONPATH": str(site)},
            check=False,
        )
        assert "LIVEKIT_AGENTS_IMPORTED False" in result.stderr, (args, result.stderr[-2000:])


def test_bad_setting_in_environment_is_one_line_and_exit_2(site: Path) -> None:
    result = run_cli(
        ["plugins", "list"], site, OPENRTC_DISABLE_PLUGINS="", OPENRTC_STRICT_PLUGINS="perhaps"
    )
    assert result.returncode == 2
    assert result.stderr.strip().count("\n") == 0
    assert "OPENRTC_STRICT_PLUGINS='perhaps'" in result.stderr
