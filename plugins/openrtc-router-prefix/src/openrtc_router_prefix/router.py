"""Room-name prefix routing.

``dental-call-42`` goes to ``dental``. When registered names overlap (``dental`` and
``dental-kids``), the longest name that matches wins, so ``dental-kids-7`` goes to
``dental-kids``. A room named exactly like an agent also matches it.
"""

from __future__ import annotations

from collections.abc import Callable

from openrtc.plugin import RouteRequest


def prefix_router(separator: str) -> Callable[[RouteRequest], str | None]:
    def route(request: RouteRequest) -> str | None:
        room = request.room_name
        matches = [
            agent for agent in request.agents if room == agent or room.startswith(agent + separator)
        ]
        return max(matches, key=len) if matches else None

    return route
