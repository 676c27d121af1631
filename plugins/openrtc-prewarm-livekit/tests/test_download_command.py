"""``openrtc download-files`` is offered, and offline it fails with a one-line fix."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import typer
from openrtc_prewarm_livekit import plugin
from typer.testing import CliRunner


def test_command_is_registered_on_the_cli() -> None:
    app = typer.Typer()
    plugin.openrtc_cli(app=app)

    @app.command("noop")
    def noop() -> None:  # a second command keeps typer in multi-command mode
        pass

    result = CliRunner().invoke(app, ["download-files", "--help"])
    assert result.exit_code == 0
    assert "multilingual turn detector" in result.output


def test_offline_download_fails_with_the_fix(tmp_path: Path) -> None:
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "HF_HUB_CACHE": str(tmp_path)}
    code = "from openrtc.command import main; main(['download-files'])"
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, env=env, timeout=300
    )
    assert result.returncode == 1, result.stderr[-2000:]
    last = result.stderr.strip().splitlines()[-1]
    assert last.startswith("error: ")
    assert "check the network and that HF_HUB_OFFLINE is not set" in last
    assert not any(tmp_path.rglob("*.onnx"))  # nothing was fetched
