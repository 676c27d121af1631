"""The tenancy admission rules: ``tenant`` (known tenant, under its caps) and
``tenant_breaker`` (the tenant's circuit breaker is not open), with what they learn from the
worker's events. Both run in the worker process, whatever the isolation mode, and read the
tenant the ``tenant`` labeler put on the job."""

from __future__ import annotations

import logging
import os
import time
from collections import deque
from collections.abc import Callable, Sequence

from openrtc.plugin import AdmissionRequest, AdmissionRule, events
from openrtc_tenancy.breaker import Breaker, BreakerSettings, Transition
from openrtc_tenancy.config import TenancyConfig, TenantPolicy
from openrtc_tenancy.identity import TENANT_LABEL
from openrtc_tenancy.sources import policy_of

logger = logging.getLogger("openrtc.tenancy")

RATE_WINDOW_S = 60.0


class TenantRules:
    """The state both rules share for one pool: the configuration and each tenant's starts
    and breaker."""

    def __init__(
        self,
        config: Callable[[], TenancyConfig],
        breaker: BreakerSettings,
        *,
        unknown_policy: str = "reject",
        version: Callable[[], object] = lambda: None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._config = config
        self._version = version
        self._problems: dict[tuple[str, object], str | None] = {}
        self._breaker_settings = breaker
        self._unknown_policy = unknown_policy
        self._clock = clock
        self._starts: dict[str, deque[float]] = {}
        self.breakers: dict[str, Breaker] = {}

    def breaker(self, tenant: str) -> Breaker:
        found = self.breakers.get(tenant)
        if found is None:
            found = self.breakers[tenant] = Breaker(self._breaker_settings, self._clock)
        return found

    # -- rule: tenant --------------------------------------------------------------------

    def check_tenant(self, request: AdmissionRequest) -> str | None:
        tenant = request.labels.get(TENANT_LABEL)
        if tenant is None:
            return None
        policy = policy_of(self._config(), tenant, self._unknown_policy)
        if policy is None:
            return (
                f"tenant '{tenant}' is not in the tenancy config; add [tenants.{tenant}] "
                "or set tenancy.unknown=default"
            )
        problem = self._problem(tenant, policy)
        if problem is not None:
            return f"tenant '{tenant}' cannot be served: {problem}"
        live = request.state.active_by_label.get(TENANT_LABEL, {}).get(tenant, 0)
        if policy.max_sessions and live >= policy.max_sessions:
            return (
                f"tenant '{tenant}' at its cap: {live}/{policy.max_sessions} live sessions "
                f"(max_sessions in the tenancy config)"
            )
        if policy.sessions_per_minute:
            started = self._recent_starts(tenant)
            if started >= policy.sessions_per_minute:
                return (
                    f"tenant '{tenant}' at its rate: {started} sessions started in the last "
                    f"60 s (sessions_per_minute={policy.sessions_per_minute})"
                )
        return None

    def _problem(self, tenant: str, policy: TenantPolicy) -> str | None:
        """A key of the tenant that does not resolve, checked once per configuration."""
        key = (tenant, self._version())
        if key not in self._problems:
            self._problems = {k: v for k, v in self._problems.items() if k[1] == key[1]}
            self._problems[key] = policy.problem(os.environ)
        return self._problems[key]

    def _recent_starts(self, tenant: str) -> int:
        starts = self._starts.get(tenant)
        if not starts:
            return 0
        self._trim(starts)
        return len(starts)

    def _trim(self, starts: deque[float]) -> None:
        horizon = self._clock() - RATE_WINDOW_S
        while starts and starts[0] < horizon:
            starts.popleft()

    # -- rule: tenant_breaker ------------------------------------------------------------

    def check_breaker(self, request: AdmissionRequest) -> str | None:
        tenant = request.labels.get(TENANT_LABEL)
        if tenant is None or tenant not in self.breakers:
            return None
        refusal = self.breakers[tenant].refusal()
        return None if refusal is None else f"tenant '{tenant}': {refusal}"

    # -- what both learn -----------------------------------------------------------------

    def observe(self, event: events.MetricsEvent) -> Sequence[events.MetricsEvent]:
        tenant = getattr(event, "labels", {}).get(TENANT_LABEL)
        if tenant is None:
            return ()
        change: Transition | None = None
        if isinstance(event, events.SessionStarted):
            starts = self._starts.setdefault(tenant, deque())
            starts.append(self._clock())
            self._trim(starts)  # a tenant with no rate cap is never checked: keep 60 s only
            change = self.breaker(tenant).started(event.job_id)
        elif isinstance(event, events.SessionEnded) and event.outcome != "cancelled":
            change = self.breaker(tenant).ended(event.job_id, failed=event.outcome == "failed")
        if change is None:
            return ()
        log = logger.warning if change.state == "open" else logger.info
        log("tenant '%s' circuit breaker %s: %s", tenant, change.state, change.reason)
        return [
            events.AdmissionStateChanged(
                rule="tenant_breaker",
                subject=f"{TENANT_LABEL}={tenant}",
                state=change.state,
                reason=change.reason,
            )
        ]

    def report(self) -> dict[str, object]:
        return {tenant: breaker.report() for tenant, breaker in sorted(self.breakers.items())}

    def rules(self) -> list[AdmissionRule]:
        return [
            AdmissionRule(
                name="tenant",
                check=self.check_tenant,
                observe=self.observe,
                summary="decline calls of unknown tenants and of tenants at their caps",
            ),
            AdmissionRule(
                name="tenant_breaker",
                check=self.check_breaker,
                report=self.report,
                summary="decline a tenant's calls while its circuit breaker is open",
            ),
        ]
