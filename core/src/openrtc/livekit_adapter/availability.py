"""Who decides whether the worker takes a job: OpenRTC's admission rules, not livekit's guess.

livekit-agents answers a job request "not available" before the request handler runs when
its *effective load* reaches the threshold: the reported load plus, for every request it has
said yes to and not launched yet, the load divided by the live jobs. That estimate assumes a
load proportional to the job count. OpenRTC's load is not (it is the largest of the cap's
share and the overload guard's, which already counts every call accepted in the last
seconds), and it counts an admitted job as live from the moment the request handler admits
it, before livekit launches it. So livekit's estimate counted the same starting calls twice,
and refused calls the admission rules would have taken: silently, with no log line, no
``admission_rejected`` record and nothing in the snapshot (seen in the soak: 12 of 30 calls
lost when five requests arrived within a second).

Here the reported load is the effective load, and every request reaches the request handler
unless the worker drains: a refusal is then always an admission rule's, with its reason
logged and counted. The status livekit sends the server still says "full" when the load
reaches the threshold, so the server stops offering jobs to a full worker as before.
"""

from __future__ import annotations

from livekit.agents import AgentServer


class AvailabilityByAdmission(AgentServer):
    """AgentServer whose availability is the reported load and the admission rules alone."""

    def _get_effective_load(self) -> float:
        # the load function already counts admitted calls that have not launched yet
        return float(self._worker_load)

    def _is_available(self) -> bool:
        # a full or overloaded worker refuses in the request handler, which says why
        return not self._draining
