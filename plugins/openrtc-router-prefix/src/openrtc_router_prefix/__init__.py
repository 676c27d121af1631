"""Route a room named ``<agent>-anything`` to ``<agent>``; the longest matching name wins."""

from openrtc_router_prefix.router import prefix_router

__all__ = ["prefix_router"]
