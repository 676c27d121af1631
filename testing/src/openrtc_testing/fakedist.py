"""Installed-package metadata made on disk, for testing plugin discovery for real.

``importlib.metadata`` finds a distribution through a ``*.dist-info`` folder on ``sys.path``;
writing one (plus the plugin module) is a real install as far as discovery is concerned.
"""

from __future__ import annotations

import textwrap
from collections.abc import Callable
from pathlib import Path

FakeInstaller = Callable[..., str]
"""``install(distribution, source, entry_point=None) -> module name``."""


def write_plugin_distribution(
    site: Path,
    *,
    distribution: str,
    module: str,
    source: str,
    entry_point: str | None = None,
    version: str = "0.1.0",
) -> None:
    """Write module ``module`` with ``source`` and a dist-info exposing it as a plugin."""
    site.mkdir(parents=True, exist_ok=True)
    (site / f"{module}.py").write_text(textwrap.dedent(source), encoding="utf-8")
    info = site / f"{distribution.replace('-', '_')}-{version}.dist-info"
    info.mkdir(exist_ok=True)
    (info / "METADATA").write_text(
        f"Metadata-Version: 2.1\nName: {distribution}\nVersion: {version}\n", encoding="utf-8"
    )
    (info / "entry_points.txt").write_text(
        f"[openrtc.plugins]\n{entry_point or distribution} = {module}\n", encoding="utf-8"
    )
