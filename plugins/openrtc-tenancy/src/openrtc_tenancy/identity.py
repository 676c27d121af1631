"""Which tenant a dispatched job belongs to: read from its metadata, validated, defaulted.

The tenant is named by whoever creates the dispatch (the platform's backend, holding the
LiveKit API secret) in the job's metadata, or by whoever created the room in the room's
metadata. Callers never choose it: a participant token cannot set either.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping, Sequence
from typing import Any

import attrs

from openrtc.plugin import LabelError, RouteRequest

TENANT_LABEL = "tenant"
TENANT_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,63}")
ID_RULE = "1 to 64 letters, digits, '.', '_' or '-', starting with a letter or digit"
SOURCES = ("job", "room")


def check_tenant_id(tenant: str, where: str) -> str:
    if not TENANT_ID.fullmatch(tenant):
        raise LabelError(f"tenant id {tenant[:80]!r} in {where} is invalid: it must be {ID_RULE}")
    return tenant


def _metadata_value(raw: str, field: str) -> Any:
    """The field of metadata that is a JSON object, else ``None`` (other metadata is not for
    us: routing reads the same metadata and ignores what is not an object too)."""
    if not raw or not raw.strip():
        return None
    try:
        value = json.loads(raw)
    except json.JSONDecodeError:
        return None
    return value.get(field) if isinstance(value, dict) else None


@attrs.frozen
class TenantIdentity:
    """Where to look for the tenant, and what a job naming none gets."""

    sources: Sequence[str] = SOURCES
    field: str = TENANT_LABEL
    default: str = ""
    """The tenant of jobs that name none ("": such jobs belong to no tenant)."""
    required: bool = False
    """Decline jobs that name no tenant (and have no default)."""

    def tenant_of(self, request: RouteRequest) -> str | None:
        """The job's tenant, or ``None`` when it has none and none is required."""
        for source in self.sources:
            raw = request.job_metadata if source == "job" else request.room_metadata
            value = _metadata_value(raw, self.field)
            if value is None:
                continue
            where = f"the {source} metadata field '{self.field}'"
            if not isinstance(value, str):
                raise LabelError(f"{where} must be a string tenant id, not {type(value).__name__}")
            return check_tenant_id(value, where)
        if self.default:
            return self.default
        if self.required:
            looked = " or ".join(f"{s} metadata" for s in self.sources)
            raise LabelError(
                f"job names no tenant (looked for '{self.field}' in {looked}) and "
                "tenancy.required is set; put the tenant id in the dispatch's metadata"
            )
        return None

    def labels(self, request: RouteRequest) -> Mapping[str, str]:
        tenant = self.tenant_of(request)
        return {} if tenant is None else {TENANT_LABEL: tenant}
