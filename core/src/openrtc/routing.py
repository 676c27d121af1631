"""The router chain: one routing decision per job, made before the job is accepted."""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence

from openrtc.plugins.selection import select
from openrtc.strategies import RouteDecision, Router, RouteRequest, RoutingError

logger = logging.getLogger("openrtc.routing")

# The decision travels with the job as the agent participant's attributes (set at accept)
# and is read back by the entrypoint, so a job is routed once.
AGENT_ATTRIBUTE = "openrtc.agent"
ROUTER_ATTRIBUTE = "openrtc.router"


LABEL_ATTRIBUTE_PREFIX = "openrtc.label."
VERSION_ATTRIBUTE = "openrtc.version"
"""The deployment version of the worker that accepted the job."""


def decision_attributes(decision: RouteDecision) -> dict[str, str]:
    labels = {f"{LABEL_ATTRIBUTE_PREFIX}{k}": v for k, v in decision.labels.items()}
    return {AGENT_ATTRIBUTE: decision.agent, ROUTER_ATTRIBUTE: decision.router, **labels}


def decision_from_attributes(attributes: Mapping[str, str]) -> RouteDecision | None:
    agent = attributes.get(AGENT_ATTRIBUTE)
    if not agent:
        return None
    labels = {
        k.removeprefix(LABEL_ATTRIBUTE_PREFIX): v
        for k, v in attributes.items()
        if k.startswith(LABEL_ATTRIBUTE_PREFIX)
    }
    return RouteDecision(
        agent=agent, router=attributes.get(ROUTER_ATTRIBUTE, "unknown"), labels=labels
    )


class UnknownAgentError(LookupError):
    """A router chose an agent that is not registered."""


NAMED = "named"
"""The router name recorded when the caller named the agent (``connect --agent``, console)."""


def decide_agent(
    chain: RouterChain, request: RouteRequest, *, agent: str | None = None, named_by: str = NAMED
) -> RouteDecision:
    """Decide a job's agent: the one place that does it, for every way a job starts.

    ``agent``, when given, is the caller's choice and only has to be registered; otherwise the
    router chain decides. Raises ``UnknownAgentError`` naming the registered agents, or
    ``RoutingError`` for malformed routing input.
    """
    if agent is None:
        return chain.decide(request)
    if agent not in request.agents:
        raise UnknownAgentError(
            f"agent '{agent}' is not registered; registered: {', '.join(request.agents) or 'none'}"
        )
    return RouteDecision(agent=agent, router=named_by)


class RouterChain:
    """Routers in the order they are asked; the first non-``None`` answer wins."""

    def __init__(self, routers: Sequence[Router]) -> None:
        self.routers = tuple(routers)

    @classmethod
    def build(cls, available: Mapping[str, Router], order: Sequence[str] | None) -> RouterChain:
        """The explicit ``order`` if given (every name must be installed), else all by priority."""
        if order:
            return cls(
                [select("router", name, available, setting="the routers setting") for name in order]
            )
        return cls(sorted(available.values(), key=lambda r: (r.priority, r.name)))

    @property
    def names(self) -> tuple[str, ...]:
        return tuple(router.name for router in self.routers)

    def decide(self, request: RouteRequest) -> RouteDecision:
        """Route one job. Raises ``RoutingError`` for malformed input, ``UnknownAgentError``
        when the chosen agent is not registered or no router answered."""
        for router in self.routers:
            agent = router.route(request)
            if agent is None:
                continue
            if not isinstance(agent, str):
                raise RoutingError(
                    f"router '{router.name}' returned {type(agent).__name__}, not an agent name"
                )
            if agent not in request.agents:
                raise UnknownAgentError(
                    f"agent '{agent}' (chosen by router '{router.name}') is not registered; "
                    f"registered: {', '.join(request.agents) or 'none'}"
                )
            return RouteDecision(agent=agent, router=router.name)
        raise UnknownAgentError(
            f"no router chose an agent for room '{request.room_name}' (chain: "
            f"{', '.join(self.names) or 'empty'}); registered: {', '.join(request.agents)}"
        )
