"""How long a starting worker waits for LiveKit, and what it says while it waits.

The adapter's server retries its connection itself and reports every failed attempt; this
module turns those reports into one log line each (the URL, the cause, what comes next) and
bounds the first registration by ``registration_timeout``: past it, the server is closed and
``LiveKitConnectionError`` names the URL and the setting to fix.
"""

from __future__ import annotations

import asyncio
import logging
import os
from collections.abc import Callable
from typing import Any

import attrs

from openrtc.config import ConfigurationError
from openrtc.strategies import ConnectionFailure, WorkerServer

logger = logging.getLogger("openrtc.pool")


class LiveKitConnectionError(RuntimeError):
    """The worker did not register with LiveKit within ``registration_timeout``, or lost the
    server after registering and could not reconnect; the message names the URL, the cause and
    what to check."""


# a server that answers these has been reached: the key or secret is what is wrong
_CREDENTIALS_REJECTED = (401, 403)


async def _set_or_ended(event: asyncio.Event, running: asyncio.Future[None]) -> bool:
    """Wait until ``event`` is set or ``running`` ends; True if the event was set."""
    waiter: asyncio.Future[Any] = asyncio.ensure_future(event.wait())
    try:
        await asyncio.wait([waiter, running], return_when=asyncio.FIRST_COMPLETED)
    finally:
        waiter.cancel()
    return event.is_set()


@attrs.define
class RegistrationWatch:
    """One worker's connection to LiveKit, from its first attempt to its registration."""

    url: str
    timeout: float
    """``registration_timeout``: seconds from the first attempt; 0 waits as long as it runs."""
    deadline: float | None = None
    """Loop time at which a worker still not registered gives up."""
    last_failure: ConnectionFailure | None = None
    """The last failed attempt to reach LiveKit since the worker last registered."""

    async def bound_first_registration(
        self,
        server: WorkerServer,
        running: asyncio.Future[None],
        *,
        connecting: asyncio.Event,
        registered: asyncio.Event,
        draining: Callable[[], bool],
    ) -> None:
        """Close the server and raise ``LiveKitConnectionError`` if it has not registered
        ``registration_timeout`` seconds after it began connecting (0: wait as long as it
        runs). A drain under way is left to finish instead."""
        bound = self.timeout
        if not bound or not await _set_or_ended(connecting, running):
            return
        self.deadline = asyncio.get_running_loop().time() + bound
        try:
            async with asyncio.timeout_at(self.deadline):
                await _set_or_ended(registered, running)
        except TimeoutError:
            pass
        if registered.is_set() or running.done() or draining():
            return
        await server.aclose()
        await running
        raise LiveKitConnectionError(self.gave_up_message(bound))

    def attempt_failed(self, failure: ConnectionFailure) -> None:
        """Log one failed attempt to reach LiveKit: the URL, the cause, and what comes next."""
        self.last_failure = failure
        url, cause = failure.url, failure.cause
        if failure.http_status in _CREDENTIALS_REJECTED:
            problem = f"LiveKit at {url} refused the worker's credentials ({cause})"
        elif failure.reconnecting and failure.attempt == 1:
            problem = f"lost the connection to LiveKit at {url} ({cause})"
        else:
            problem = f"cannot reach LiveKit at {url} ({cause})"
        if failure.reconnecting:
            of = f" of {failure.give_up_after}" if failure.give_up_after is not None else ""
            logger.warning(
                "%s; reconnecting in %g s (reconnection %d%s)",
                problem,
                failure.retry_in,
                failure.attempt,
                of,
            )
            return
        bound = self.timeout
        if self.deadline is None:
            logger.warning(
                "%s; retrying in %g s (attempt %d, no time limit)",
                problem,
                failure.retry_in,
                failure.attempt,
            )
            return
        left = self.deadline - asyncio.get_running_loop().time()
        if failure.retry_in < left:
            logger.warning(
                "%s; retrying in %g s (attempt %d, giving up after %g s)",
                problem,
                failure.retry_in,
                failure.attempt,
                bound,
            )
            return
        logger.warning(
            "%s; giving up in %g s, at the %g s registration_timeout (attempt %d)",
            problem,
            round(max(left, 0.0), 1),
            bound,
            failure.attempt,
        )

    def gave_up_message(self, bound: float) -> str:
        url = self.url
        failure = self.last_failure
        waited = f"after {bound:g} s"
        if failure is not None:
            attempts = "attempt" if failure.attempt == 1 else "attempts"
            waited += f" and {failure.attempt} failed {attempts}"
        if failure is not None and failure.http_status in _CREDENTIALS_REJECTED:
            return (
                f"LiveKit at {url} refused the worker's credentials ({failure.cause}) {waited}; "
                "set LIVEKIT_API_KEY and LIVEKIT_API_SECRET (or --api-key and --api-secret) to "
                "a key pair the server knows"
            )
        problem = f"no answer from LiveKit at {url}"
        if failure is not None:
            problem = f"cannot reach LiveKit at {url} ({failure.cause})"
        return (
            f"{problem}, gave up {waited}; set LIVEKIT_URL or --url to the address of a "
            "running LiveKit server (--registration-timeout sets how long to wait)"
        )


def connection_values(
    url: str | None, api_key: str | None, api_secret: str | None
) -> dict[str, str]:
    """The server's URL and key pair: arguments first, then the ``LIVEKIT_*`` variables."""
    connection = {
        "LIVEKIT_URL": url or os.environ.get("LIVEKIT_URL", ""),
        "LIVEKIT_API_KEY": api_key or os.environ.get("LIVEKIT_API_KEY", ""),
        "LIVEKIT_API_SECRET": api_secret or os.environ.get("LIVEKIT_API_SECRET", ""),
    }
    missing = [name for name, value in connection.items() if not value]
    if missing:
        raise ConfigurationError(
            f"{', '.join(missing)} not set; export it or pass --url/--api-key/--api-secret"
        )
    return connection
