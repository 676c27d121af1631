"""Choosing a configured strategy by name, with an error that says how to get it."""

from __future__ import annotations

from collections.abc import Mapping
from typing import TypeVar

T = TypeVar("T")

DISTRIBUTION_WORD = {
    "isolation mode": "isolation",
    "router": "router",
    "admission rule": "admission",
    "metrics exporter": "exporter",
}
"""First-party distributions are named ``openrtc-<word>-<strategy name>``."""


class UnknownStrategyError(LookupError):
    """A configured strategy name is not installed; the message lists what is."""


def select(kind: str, name: str, available: Mapping[str, T], *, setting: str) -> T:
    """Return the strategy called ``name`` or raise an error naming what is installed.

    The fix suggests the distribution a first-party strategy of that name would ship in
    (``router 'prefix'`` -> ``openrtc-router-prefix``), and the setting to correct.
    """
    if name in available:
        return available[name]
    installed = ", ".join(sorted(available)) or "none"
    word = DISTRIBUTION_WORD.get(kind, kind.replace(" ", "-"))
    raise UnknownStrategyError(
        f"{kind} '{name}' is not installed (installed: {installed}); pip install "
        f"openrtc-{word}-{name}, or install the plugin that provides it, or fix {setting}"
    )
