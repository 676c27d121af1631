"""The kernel refuses, in one line, to run beside the earlier OpenRTC (openrtc <= 0.20.1)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest


def import_openrtc_with(site: Path, version: str) -> subprocess.CompletedProcess[str]:
    """Put an installed `openrtc` of ``version`` ahead of ours and import the kernel."""
    info = site / f"openrtc-{version}.dist-info"
    info.mkdir(parents=True)
    (info / "METADATA").write_text(
        f"Metadata-Version: 2.1\nName: openrtc\nVersion: {version}\n", encoding="utf-8"
    )
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(site), *sys.path])}
    return subprocess.run(
        [sys.executable, "-c", "import openrtc"],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def test_the_earlier_openrtc_beside_the_kernel_is_one_clear_error(tmp_path: Path) -> None:
    result = import_openrtc_with(tmp_path, "0.20.1")
    assert result.returncode == 1
    last = result.stderr.strip().splitlines()[-1]
    assert "openrtc 0.20.1 (the earlier OpenRTC) is installed beside openrtc-core" in last
    assert "pip uninstall -y openrtc openrtc-core && pip install 'openrtc>=0.21'" in last


@pytest.mark.parametrize("version", ["0.21.0", "1.2.3"])
def test_our_own_openrtc_is_welcome(tmp_path: Path, version: str) -> None:
    result = import_openrtc_with(tmp_path, version)
    assert result.returncode == 0, result.stderr
