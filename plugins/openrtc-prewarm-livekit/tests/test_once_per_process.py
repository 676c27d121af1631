"""Models load once per process: a repeated prewarm, or a second JobProcess, reuses them."""

from __future__ import annotations

import logging
import subprocess
import sys
from collections.abc import Callable
from typing import Any

import pytest
from openrtc_prewarm_livekit import USERDATA_KEY, plugin

from openrtc.settings import Settings
from openrtc.strategies import SessionSpec


def load_messages(caplog: pytest.LogCaptureFixture) -> list[str]:
    return [r.getMessage() for r in caplog.records if r.getMessage().startswith("prewarm loaded")]


def test_prewarm_twice_loads_once(
    caplog: pytest.LogCaptureFixture,
    new_job_process: Callable[[], Any],
    make_settings: Callable[..., Settings],
) -> None:
    caplog.set_level(logging.INFO, logger="openrtc.prewarm")
    settings = make_settings(**{"prewarm.vad": "silero"})
    proc = new_job_process()
    plugin.openrtc_prewarm(proc=proc, settings=settings)
    first = proc.userdata[USERDATA_KEY]
    plugin.openrtc_prewarm(proc=proc, settings=settings)
    other = new_job_process()
    plugin.openrtc_prewarm(proc=other, settings=settings)

    assert proc.userdata[USERDATA_KEY] is first
    assert other.userdata[USERDATA_KEY] is first
    assert len(load_messages(caplog)) == 2  # the VAD and the end-of-turn model, one time each


def test_session_without_prewarm_loads_lazily_once_and_warns(
    caplog: pytest.LogCaptureFixture,
    new_job_process: Callable[[], Any],
    make_settings: Callable[..., Settings],
) -> None:
    caplog.set_level(logging.INFO, logger="openrtc.prewarm")
    plugin._lazy_warned.clear()
    proc = new_job_process()
    settings = make_settings()
    for job in ("J1", "J2"):
        defaults = plugin.openrtc_session_defaults(
            session=SessionSpec(
                agent="a", job_id=job, room_name="r", userdata=proc.userdata, settings=settings
            )
        )
        assert defaults is not None and "vad" in defaults
    warnings = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert len(warnings) == 1
    assert "openrtc_prewarm did not run" in warnings[0]
    assert len(load_messages(caplog)) == 2
    assert USERDATA_KEY in proc.userdata


def test_plugin_module_imports_without_livekit_agents() -> None:
    code = (
        "import sys\n"
        "import openrtc_prewarm_livekit.plugin\n"
        "print(sorted(m for m in sys.modules if m.startswith('livekit')))\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=120
    )
    assert result.stdout.strip() == "[]"


def test_kernel_discovers_the_plugin_and_its_hooks() -> None:
    from openrtc.plugins import find_candidates, load_plugins

    candidates = [c for c in find_candidates() if c.name == "openrtc-prewarm-livekit"]
    host = load_plugins(candidates=candidates, strict=True)
    record = host.record("openrtc-prewarm-livekit")
    assert record.status == "active"
    assert set(host.records[0].hooks) == {
        "openrtc_settings",
        "openrtc_prewarm",
        "openrtc_session_defaults",
        "openrtc_cli",
    }
