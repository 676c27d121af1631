from __future__ import annotations

import itertools
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from openrtc_testing.fakedist import FakeInstaller, write_plugin_distribution

_counter = itertools.count()


@pytest.fixture
def fake_site(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[FakeInstaller]:
    """Install fake plugin distributions on sys.path; returns an installer.

    ``install(distribution, source)`` writes a module with ``source`` and a dist-info whose
    ``openrtc.plugins`` entry point (named like the distribution) points at it; it returns the
    module name. Modules get unique names so tests never see each other's imports.
    """
    site = tmp_path / "site-packages"
    site.mkdir()
    monkeypatch.syspath_prepend(str(site))
    written: list[str] = []

    def install(distribution: str, source: str, *, entry_point: str | None = None) -> str:
        module = f"fake_{distribution.replace('-', '_')}_{next(_counter)}"
        write_plugin_distribution(
            site, distribution=distribution, module=module, source=source, entry_point=entry_point
        )
        written.append(module)
        return module

    yield install
    for module in written:
        sys.modules.pop(module, None)
