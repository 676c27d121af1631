"""How the worker's connection to LiveKit is retried, and how a failed attempt is described.

livekit's ``AgentServer`` retries its connection in a loop of its own that logs only "failed to
connect to livekit" (no URL, no cause). The adapter's server runs that loop with
``max_retry=0``, so that it returns after one failed connection, and decides itself whether and
when to try again (``server.py``); each failed attempt is reported as a ``ConnectionFailed``.
"""

from __future__ import annotations

import http
import os
import socket

import aiohttp
import attrs
from livekit.agents import APIError

MAX_RETRY_DELAY = 10.0
RECONNECT_ATTEMPTS = 16
"""Failed reconnections in a row after which a worker that had registered gives up: livekit's
own ``max_retry`` default, so a registered worker keeps livekit's reconnecting behaviour."""


def retry_delay(attempt: int) -> float:
    """Seconds to wait after failed attempt number ``attempt``: 1, 2, 4, 8, then 10 each."""
    return min(2.0 ** (attempt - 1), MAX_RETRY_DELAY)


@attrs.frozen(kw_only=True)
class ConnectionFailed:
    """One failed attempt to connect to LiveKit and register, reported before the retry."""

    url: str
    cause: str
    """What went wrong, in a few words: "Connection refused", "HTTP 401 Unauthorized"."""
    http_status: int | None
    """The HTTP status the server answered the connection with, when it answered one."""
    attempt: int
    """Failed attempts in a row, 1 for the first."""
    retry_in: float
    """Seconds until the next attempt."""
    reconnecting: bool
    """True when the worker had registered before and lost the connection."""
    give_up_after: int | None
    """Failed attempts after which the server stops by itself; None while it keeps trying
    (before the first registration: the caller bounds that)."""


def describe_error(error: BaseException | None) -> tuple[str, int | None]:
    """A short cause for a failed connection attempt, and the HTTP status if there was one."""
    if error is None:
        return "unknown error", None
    if isinstance(error, aiohttp.WSServerHandshakeError):
        # the server answered, but refused the websocket upgrade
        try:
            phrase = http.HTTPStatus(error.status).phrase
        except ValueError:
            phrase = error.message
        return f"HTTP {error.status} {phrase}".rstrip(), error.status
    if isinstance(error, aiohttp.ClientConnectorError):
        return _describe_os_error(error.os_error), None
    if isinstance(error, TimeoutError):
        return "timed out", None
    if isinstance(error, OSError):
        return _describe_os_error(error), None
    if isinstance(error, APIError):
        return error.message, None
    return str(error) or type(error).__name__, None


def _describe_os_error(error: OSError) -> str:
    if isinstance(error, socket.gaierror) and error.strerror:
        return f"cannot resolve the host: {error.strerror}"
    if error.errno is not None and error.errno > 0:
        return os.strerror(error.errno)
    return str(error) or type(error).__name__
