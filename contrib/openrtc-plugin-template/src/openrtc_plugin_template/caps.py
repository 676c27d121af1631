"""Per-agent caps, written as ``dental=2,restaurant=5``."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping

from openrtc.plugin import AdmissionRequest


def parse_caps(items: Iterable[str]) -> dict[str, int]:
    """``["dental=2", "restaurant=5"]`` -> ``{"dental": 2, "restaurant": 5}``."""
    caps: dict[str, int] = {}
    for item in items:
        agent, sep, number = item.partition("=")
        if not sep or not agent.strip() or not number.strip().isdigit():
            raise ValueError(f"cap {item!r} is not of the form <agent>=<whole number>")
        caps[agent.strip()] = int(number)
    return caps


def caps_check(caps: Mapping[str, int]) -> Callable[[AdmissionRequest], str | None]:
    def check(request: AdmissionRequest) -> str | None:
        cap = caps.get(request.agent)
        live = request.state.active_by_agent.get(request.agent, 0)
        if cap is not None and live >= cap:
            return f"agent '{request.agent}' is at its cap of {cap} live sessions"
        return None

    return check
