"""Whether livekit-plugins-turn-detector's multilingual model can run here, decided offline.

The model needs three things, and each has its own fix:

- the plugin installed (``pip install livekit-plugins-turn-detector``);
- its files in the local Hugging Face cache (``openrtc download-files``, run where there is a
  network);
- ``livekit.plugins.turn_detector`` imported before the worker starts: the import registers the
  model's inference runner, and livekit starts the inference process only for runners
  registered by then, so importing it later (here, in prewarm) would leave every prediction
  failing inside live calls.

The files are looked up with ``huggingface_hub.try_to_load_from_cache``, which only reads the
cache directory; no hub client is created, so the check cannot download anything. This module
never imports the plugin itself, because that import registers runners process-wide.
"""

from __future__ import annotations

import importlib.util
import os
import sys
from pathlib import Path

import attrs

from openrtc_prewarm_livekit.options import DOWNLOAD_COMMAND

PLUGIN_PACKAGE = "livekit.plugins.turn_detector"
PLUGIN_DISTRIBUTION = "livekit-plugins-turn-detector"

# Mirrors livekit.plugins.turn_detector.models for the pinned plugin range (<1.9); a test
# compares them with the installed plugin so a version bump cannot drift silently.
HF_REPO = "livekit/turn-detector"
MULTILINGUAL_REVISION = "v0.4.1-intl"
REQUIRED_FILES = ("onnx/model_q8.onnx", "languages.json", "tokenizer.json", "tokenizer_config.json")


@attrs.frozen
class MultilingualStatus:
    usable: bool
    problem: str | None = None
    """One line naming what is missing and the fix; ``None`` when usable."""


def hub_cache_dir() -> Path:
    """The Hugging Face hub cache, resolved from the environment at call time."""
    explicit = os.environ.get("HF_HUB_CACHE")
    if explicit:
        return Path(explicit).expanduser()
    home = os.environ.get("HF_HOME")
    if home:
        return Path(home).expanduser() / "hub"
    xdg = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(xdg).expanduser() / "huggingface" / "hub"


def plugin_installed() -> bool:
    # find_spec on the package itself does not execute its __init__
    try:
        return importlib.util.find_spec(PLUGIN_PACKAGE) is not None
    except ModuleNotFoundError:
        return False


def plugin_imported() -> bool:
    return PLUGIN_PACKAGE in sys.modules


def missing_files(cache_dir: Path | None = None) -> list[str]:
    """Model files absent from the local cache (empty when everything is there)."""
    from huggingface_hub import try_to_load_from_cache

    cache = cache_dir if cache_dir is not None else hub_cache_dir()
    missing: list[str] = []
    for filename in REQUIRED_FILES:
        found = try_to_load_from_cache(
            HF_REPO, filename, cache_dir=cache, revision=MULTILINGUAL_REVISION
        )
        if not isinstance(found, str):
            missing.append(filename)
    return missing


def status(cache_dir: Path | None = None) -> MultilingualStatus:
    if not plugin_installed():
        return MultilingualStatus(
            False, f"{PLUGIN_PACKAGE} is not installed; run 'pip install {PLUGIN_DISTRIBUTION}'"
        )
    cache = cache_dir if cache_dir is not None else hub_cache_dir()
    absent = missing_files(cache)
    if absent:
        return MultilingualStatus(
            False,
            f"multilingual turn-detector files are not in {cache} (missing "
            f"{', '.join(absent)}); run '{DOWNLOAD_COMMAND}' once where there is a network",
        )
    if not plugin_imported():
        return MultilingualStatus(
            False,
            f"{PLUGIN_PACKAGE} was not imported before the worker started, so the worker runs "
            "no inference process for it; add 'from livekit.plugins.turn_detector.multilingual "
            "import MultilingualModel' to an agent module",
        )
    return MultilingualStatus(True)
