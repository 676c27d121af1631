"""The tenancy plugin's share of the load the worker reports: full when no job can fit.

When the tenancy file lists every tenant the worker serves (unknown tenants are declined, and
every job names one), each with a cap, and every one of them is at its cap, any job LiveKit
offers would be declined by the ``tenant`` rule. Reporting the worker full then lets LiveKit
send those jobs straight to another worker instead of offering them here first.
"""

from __future__ import annotations

from collections.abc import Mapping

from openrtc_tenancy.config import TenancyConfig


def every_tenant_at_cap(
    config: TenancyConfig,
    live: Mapping[str, int],
    *,
    unknown: str,
    default_tenant: str,
    required: bool,
) -> bool:
    if not config.listed or not config.tenants or unknown != "reject":
        return False
    if not default_tenant and not required:
        return False  # a job naming no tenant belongs to none, and no tenant cap applies
    return all(
        policy.max_sessions > 0 and live.get(tenant, 0) >= policy.max_sessions
        for tenant, policy in config.tenants.items()
    )
