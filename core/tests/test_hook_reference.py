"""docs/hooks.md is generated from hookspecs.py and must not go stale."""

from __future__ import annotations

from pathlib import Path

from openrtc import hookdoc, hookspecs

DOC = Path(__file__).resolve().parents[2] / "docs" / "hooks.md"


def test_hook_reference_is_current() -> None:
    assert DOC.read_text(encoding="utf-8") == hookdoc.render(), (
        "docs/hooks.md is stale; run: uv run python -m openrtc.hookdoc --write docs/hooks.md"
    )


def test_every_hook_documents_when_it_fires() -> None:
    for name in hookspecs.HOOK_NAMES:
        doc = getattr(hookspecs.OpenRTCHookSpecs, name).__doc__ or ""
        assert "Fires" in doc, f"{name} does not say when it fires"
        assert ":return:" in doc or ":param" in doc, f"{name} documents no contract"
