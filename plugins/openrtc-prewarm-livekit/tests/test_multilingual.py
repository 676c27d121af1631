"""The multilingual turn detector is used only when it can run offline; otherwise one warning."""

from __future__ import annotations

import logging
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from openrtc_prewarm_livekit import USERDATA_KEY, multilingual, plugin

from openrtc.settings import Settings
from openrtc.strategies import SessionSpec

MULTILINGUAL = {"prewarm.turn_detector": "multilingual"}


def fill_hub_cache(cache: Path, files: tuple[str, ...]) -> None:
    """Lay files out the way huggingface_hub stores a downloaded revision."""
    repo = cache / "models--livekit--turn-detector"
    commit = "0123456789abcdef0123456789abcdef01234567"
    (repo / "refs").mkdir(parents=True)
    (repo / "refs" / multilingual.MULTILINGUAL_REVISION).write_text(commit)
    for name in files:
        path = repo / "snapshots" / commit / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(b"x")


def prewarm_warnings(caplog: pytest.LogCaptureFixture) -> list[str]:
    return [
        r.getMessage()
        for r in caplog.records
        if r.name == "openrtc.prewarm" and r.levelno == logging.WARNING
    ]


def test_missing_files_give_one_warning_and_vad_end_of_turn(
    empty_hub_cache: Path,
    caplog: pytest.LogCaptureFixture,
    new_job_process: Callable[[], Any],
    make_settings: Callable[..., Settings],
) -> None:
    settings = make_settings(**MULTILINGUAL)
    caplog.set_level(logging.INFO, logger="openrtc.prewarm")
    procs = [new_job_process(), new_job_process()]
    for proc in procs:
        plugin.openrtc_prewarm(proc=proc, settings=settings)
    sessions = [
        plugin.openrtc_session_defaults(
            session=SessionSpec(
                agent="a", job_id=f"J{i}", room_name="r", userdata=proc.userdata, settings=settings
            )
        )
        for i, proc in enumerate(procs)
    ]

    warnings = prewarm_warnings(caplog)
    assert len(warnings) == 1, warnings
    assert "'openrtc download-files'" in warnings[0]
    assert "VAD-based end-of-turn detection" in warnings[0]
    assert str(empty_hub_cache) in warnings[0]
    assert procs[0].userdata[USERDATA_KEY].turn == "vad"
    for defaults in sessions:
        assert defaults is not None
        assert defaults["turn_handling"]["turn_detection"] == "vad"
        assert defaults["vad"] is not None


def test_auto_without_the_plugin_imported_uses_the_local_model_silently(
    empty_hub_cache: Path,
    caplog: pytest.LogCaptureFixture,
    new_job_process: Callable[[], Any],
    make_settings: Callable[..., Settings],
) -> None:
    if multilingual.plugin_imported():
        pytest.skip("another test in this process imported livekit.plugins.turn_detector")
    proc = new_job_process()
    plugin.openrtc_prewarm(proc=proc, settings=make_settings())
    assert proc.userdata[USERDATA_KEY].turn == "local"
    assert prewarm_warnings(caplog) == []
    assert not multilingual.plugin_imported()  # prewarm never registers its runners itself


def test_files_are_found_where_huggingface_hub_keeps_them(empty_hub_cache: Path) -> None:
    assert multilingual.missing_files() == list(multilingual.REQUIRED_FILES)
    fill_hub_cache(empty_hub_cache, multilingual.REQUIRED_FILES[:2])
    assert multilingual.missing_files() == list(multilingual.REQUIRED_FILES[2:])


def test_present_files_still_need_the_plugin_imported_before_the_worker(
    empty_hub_cache: Path,
) -> None:
    if multilingual.plugin_imported():
        pytest.skip("another test in this process imported livekit.plugins.turn_detector")
    fill_hub_cache(empty_hub_cache, multilingual.REQUIRED_FILES)
    state = multilingual.status()
    assert not state.usable
    assert state.problem is not None
    assert "from livekit.plugins.turn_detector.multilingual import MultilingualModel" in (
        state.problem
    )


def test_pinned_model_names_match_the_installed_plugin() -> None:
    # in a child process: importing the plugin registers inference runners process-wide
    code = (
        "import warnings; warnings.simplefilter('ignore')\n"
        "from livekit.plugins.turn_detector import models as m\n"
        "print(m.HG_MODEL, m.MODEL_REVISIONS['multilingual'], m.ONNX_FILENAME)\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=120
    ).stdout.split()
    assert out == [
        multilingual.HF_REPO,
        multilingual.MULTILINGUAL_REVISION,
        multilingual.REQUIRED_FILES[0].removeprefix("onnx/"),
    ]
