"""Events measured where a session runs, sent back to the worker that exports them.

In coroutine isolation a session runs in the worker and its events go straight to the
worker's exporters. A job process (process isolation) or a session host (hybrid) has no
exporters of its own: what it measures during a call (a turn's latency) travels over the
worker's control socket, one ``event`` request per record, and the worker exports it as if it
had measured it itself. Only the kinds in ``FORWARDED`` travel; everything else about a job
(routed, started, ended, refused) the worker records on its side.

Unix sockets of the worker's own user only (``openrtc.control_socket``); a record that cannot
be delivered (the worker is gone) is dropped with one warning per process, never raised into
the call.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

from openrtc import events
from openrtc.control_socket import SUFFIX, Answer, ask, control_dir

logger = logging.getLogger("openrtc.events")

EVENT_OP = "event"
FORWARDED: Mapping[str, type[events.MetricsEvent]] = {
    events.TurnMeasured.kind: events.TurnMeasured,
    events.ReplyStalled.kind: events.ReplyStalled,
    events.ProviderError.kind: events.ProviderError,
}
"""The kinds a session process sends its worker, by kind."""


def worker_socket(configured_dir: str, worker_pid: int) -> Path:
    """The control socket of the worker with ``worker_pid``, in the ``control_dir`` setting's
    directory (or the default one)."""
    return control_dir(configured_dir) / f"{worker_pid}{SUFFIX}"


def event_from_record(record: Any) -> events.MetricsEvent:
    """The event a record (``MetricsEvent.as_record()``) was made from; ``ValueError`` for a
    kind session processes do not send, ``TypeError`` for fields that do not fit it."""
    kind = record.get("kind") if isinstance(record, dict) else None
    cls = FORWARDED.get(kind) if isinstance(kind, str) else None
    if cls is None:
        raise ValueError(f"not an event a session process sends: {kind!r}")
    return cls(**{key: value for key, value in record.items() if key not in ("schema", "kind")})


def answer_events(emit: Callable[[events.MetricsEvent], None]) -> Answer:
    """The worker's handler of ``event`` requests: export the event, or say what is wrong."""

    async def answer(request: Mapping[str, Any]) -> Mapping[str, Any]:
        try:
            event = event_from_record(request.get("record"))
        except (TypeError, ValueError) as exc:
            return {"error": f"bad event record: {exc}"}
        emit(event)
        return {"ok": True}

    return answer


class EventForwarder:
    """Sends events of the ``FORWARDED`` kinds to the worker at ``socket``, without waiting;
    call it from the session's event loop."""

    def __init__(self, socket: Path) -> None:
        self.socket = socket
        self._sending: set[asyncio.Task[None]] = set()
        self._warned = False

    def __call__(self, event: events.MetricsEvent) -> None:
        if event.kind not in FORWARDED:
            return
        task = asyncio.get_running_loop().create_task(self._send(event.as_record()))
        self._sending.add(task)  # a task nobody holds can be collected before it ran
        task.add_done_callback(self._sending.discard)

    async def _send(self, record: dict[str, Any]) -> None:
        try:
            reply = await ask(self.socket, {"op": EVENT_OP, "record": record})
        except (OSError, TimeoutError, ValueError) as exc:
            reply = {"error": f"{type(exc).__name__}: {exc}"}
        if "error" in reply and not self._warned:
            self._warned = True
            logger.warning(
                "a %s record did not reach the worker at %s (%s); later failures are not logged",
                record.get("kind"),
                self.socket,
                reply["error"],
            )
