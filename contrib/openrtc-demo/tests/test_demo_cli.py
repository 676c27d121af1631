"""`openrtc demo` is offered through the plugin hook and validates its flags."""

from __future__ import annotations

import subprocess
import sys


def run(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "openrtc.cli", *args],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def test_demo_is_listed_in_help() -> None:
    result = run("--help")
    assert result.returncode == 0
    assert "demo" in result.stdout


def test_bad_caller_count_is_a_usage_error() -> None:
    result = run("demo", "--callers", "0")
    assert result.returncode == 2
    assert "--callers" in result.stderr
