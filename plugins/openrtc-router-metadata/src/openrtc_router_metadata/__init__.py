"""Route a job to the agent its metadata names (job metadata first, then room metadata)."""

from openrtc_router_metadata.router import METADATA_KEYS, route_by_metadata

__all__ = ["METADATA_KEYS", "route_by_metadata"]
