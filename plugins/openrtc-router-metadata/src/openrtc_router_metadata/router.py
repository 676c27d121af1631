"""Metadata routing: job ``agent``, job ``demo``, room ``agent``, room ``demo``, in that order.

Metadata that is empty, not JSON, or not a JSON object carries no routing information and is
skipped (logged at debug level). A key whose value is not a string is a routing error: the
dispatcher meant to choose an agent and got the payload wrong, so guessing would hide it.
"""

from __future__ import annotations

import json
import logging
from typing import Any

from openrtc.plugin import RouteRequest, RoutingError

logger = logging.getLogger("openrtc.router.metadata")

METADATA_KEYS = ("agent", "demo")


def _as_object(raw: str, where: str) -> dict[str, Any] | None:
    if not raw or not raw.strip():
        return None
    try:
        value = json.loads(raw)
    except json.JSONDecodeError:
        logger.debug("%s is not JSON; ignored for routing: %.80r", where, raw)
        return None
    if not isinstance(value, dict):
        logger.debug("%s is JSON but not an object; ignored for routing: %.80r", where, raw)
        return None
    return value


def route_by_metadata(request: RouteRequest) -> str | None:
    for where, raw in (
        ("job metadata", request.job_metadata),
        ("room metadata", request.room_metadata),
    ):
        document = _as_object(raw, where)
        if document is None:
            continue
        for key in METADATA_KEYS:
            if key not in document:
                continue
            value = document[key]
            if not isinstance(value, str):
                raise RoutingError(
                    f"{where} key '{key}' must be an agent name string, got "
                    f'{type(value).__name__} {value!r}; send e.g. {{"{key}": "dental"}}'
                )
            return value
    return None
