"""Worker-command flags parse through the real typer app (no server needed)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path


def run(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "openrtc.cli", *args],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def test_connection_flags_parse_and_missing_directory_is_one_line(tmp_path: Path) -> None:
    # regression: typer handed pydantic an unresolved string annotation and --url crashed
    result = run(
        "start",
        str(tmp_path / "nope"),
        "--url",
        "ws://127.0.0.1:9",
        "--api-key",
        "k",
        "--api-secret",
        "s",
        "--isolation",
        "coroutine",
    )
    assert result.returncode == 2, result.stderr
    assert result.stderr.strip().splitlines() == [
        f"error: agents directory '{tmp_path / 'nope'}' does not exist; create it or pass the "
        "right path"
    ]


def test_bad_setting_flag_value_is_exit_2(tmp_path: Path) -> None:
    result = run("list", str(tmp_path), "--max-concurrent-sessions", "0")
    assert result.returncode == 2
    assert "use a value >= 1" in result.stderr


def test_unknown_flag_is_exit_2() -> None:
    result = run("start", "--isolaton", "process")
    assert result.returncode == 2
    assert "--isolaton" in result.stderr


def test_help_shows_each_settings_env_var_and_default() -> None:
    result = subprocess.run(
        [sys.executable, "-m", "openrtc.cli", "start", "--help"],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
        env={**os.environ, "COLUMNS": "250"},
    )
    assert result.returncode == 0
    assert "[env OPENRTC_MAX_CONCURRENT_SESSIONS; default 50]" in result.stdout
