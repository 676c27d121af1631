"""A worker's local control socket: how other OpenRTC commands on the same host talk to it.

Every serving worker listens on ``<control dir>/<pid>.sock``. A client sends one JSON object on
one line (``{"op": "info"}``) and reads one JSON object back; the worker answers only the
operations it was given. The directory is ``$XDG_RUNTIME_DIR/openrtc`` (or
``/tmp/openrtc-<uid>``) and must belong to this user with no access for anyone else; the socket
file is made readable and writable by its owner only. So only the user who runs the worker can
ask it to drain. A worker nobody talks to pays for one listening socket and nothing more.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import os
import stat
import tempfile
from collections.abc import Awaitable, Callable, Mapping
from pathlib import Path
from typing import Any

logger = logging.getLogger("openrtc.control")

SUFFIX = ".sock"
REQUEST_LIMIT = 64 * 1024
"""Bytes one request may take; a control request is a few hundred."""
REPLY_LIMIT = 8 * 1024 * 1024
"""Bytes one reply may take: ``sessions`` lists every live call (about 300 bytes each)."""

Answer = Callable[[Mapping[str, Any]], Awaitable[Mapping[str, Any]]]
"""Answers one operation: gets the request object, returns the reply object."""


class ControlSocketError(RuntimeError):
    """The control directory cannot be used safely; the message names it and the fix."""


def control_dir(configured: str = "") -> Path:
    """The directory of this user's worker sockets, created private if it does not exist.

    ``configured`` (the ``control_dir`` setting) wins; otherwise ``$XDG_RUNTIME_DIR/openrtc``,
    which the login manager makes private to the user, or ``/tmp/openrtc-<uid>``.
    """
    if configured:
        path = Path(configured)
    elif os.environ.get("XDG_RUNTIME_DIR") and Path(os.environ["XDG_RUNTIME_DIR"]).is_dir():
        path = Path(os.environ["XDG_RUNTIME_DIR"]) / "openrtc"
    else:
        path = Path(tempfile.gettempdir()) / f"openrtc-{os.getuid()}"
    with contextlib.suppress(FileExistsError):
        path.mkdir(mode=0o700, parents=True)
    check_private(path)
    return path


def check_private(path: Path) -> None:
    """Refuse a directory another user owns or may enter: whoever can reach a socket in it
    could drain this user's workers."""
    info = path.lstat()
    if not stat.S_ISDIR(info.st_mode):
        raise ControlSocketError(f"control directory {path} is not a directory; remove it")
    if info.st_uid != os.getuid():
        raise ControlSocketError(
            f"control directory {path} belongs to uid {info.st_uid}, not to this user; "
            "set --control-dir (OPENRTC_CONTROL_DIR) to a directory of your own"
        )
    if info.st_mode & 0o077:
        raise ControlSocketError(
            f"control directory {path} is open to other users (mode "
            f"{stat.S_IMODE(info.st_mode):o}); run 'chmod 700 {path}'"
        )


class ControlServer:
    """The listening side: one socket, one worker, the operations it answers."""

    def __init__(
        self, directory: Path, answers: Mapping[str, Answer], *, pid: int | None = None
    ) -> None:
        # named by the worker's pid, so a client can tell a socket left by a dead process
        self.path = directory / f"{os.getpid() if pid is None else pid}{SUFFIX}"
        self._answers = dict(answers)
        self._server: asyncio.Server | None = None

    async def start(self) -> None:
        with contextlib.suppress(FileNotFoundError):
            self.path.unlink()  # left by an earlier process that had this pid
        self._server = await asyncio.start_unix_server(
            self._serve, path=str(self.path), limit=REQUEST_LIMIT
        )
        os.chmod(self.path, 0o600)

    async def close(self) -> None:
        if self._server is None:
            return
        self._server.close()
        self._server = None
        with contextlib.suppress(FileNotFoundError):
            self.path.unlink()

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            line = await reader.readline()
            reply = await self._answer(line)
            writer.write(json.dumps(reply).encode() + b"\n")
            await writer.drain()
        except (ConnectionError, asyncio.LimitOverrunError, ValueError):
            pass  # the client went away or sent too much: nothing to answer
        finally:
            writer.close()
            with contextlib.suppress(ConnectionError):
                await writer.wait_closed()

    async def _answer(self, line: bytes) -> Mapping[str, Any]:
        try:
            request = json.loads(line)
        except ValueError:
            return {"error": "a request is one JSON object on one line"}
        op = request.get("op") if isinstance(request, dict) else None
        answer = self._answers.get(op) if isinstance(op, str) else None
        if answer is None:
            return {"error": f"unknown op {op!r}; this worker answers {sorted(self._answers)}"}
        try:
            return await answer(request)
        except Exception as exc:  # one bad request must not take the worker's socket down
            logger.exception("control request %r failed", op)
            return {"error": f"{type(exc).__name__}: {exc}"}


async def ask(path: Path, request: Mapping[str, Any], timeout_s: float = 3.0) -> dict[str, Any]:
    """Send one request to the worker at ``path`` and return its reply.

    Raises ``OSError`` when nobody listens there and ``TimeoutError`` when the worker does not
    answer within ``timeout_s``."""
    async with asyncio.timeout(timeout_s):
        reader, writer = await asyncio.open_unix_connection(str(path), limit=REPLY_LIMIT)
        try:
            writer.write(json.dumps(dict(request)).encode() + b"\n")
            await writer.drain()
            line = await reader.readline()
        finally:
            writer.close()
            with contextlib.suppress(ConnectionError):
                await writer.wait_closed()
    reply = json.loads(line) if line else {"error": "the worker closed the connection"}
    return reply if isinstance(reply, dict) else {"error": f"not an object: {reply!r}"}


def pid_alive(pid: int) -> bool:
    """Whether a process with this pid runs (one of another user counts as running)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def files_by_pid(directory: Path, suffix: str) -> list[tuple[int, Path]]:
    """The files ``<pid><suffix>`` in ``directory`` (workers name theirs by pid), by pid."""
    found = []
    for path in sorted(directory.glob(f"*{suffix}")):
        try:
            found.append((int(path.name.removesuffix(suffix)), path))
        except ValueError:
            continue
    return found


def _live_sockets(directory: Path) -> list[tuple[int, Path]]:
    """The other workers' sockets, by pid; those of processes that are gone are removed."""
    found = []
    for pid, path in files_by_pid(directory, SUFFIX):
        if pid == os.getpid():
            continue
        if not pid_alive(pid):
            with contextlib.suppress(FileNotFoundError):
                path.unlink()
            continue
        found.append((pid, path))
    return found


async def each_worker(directory: Path, request: Mapping[str, Any]) -> list[dict[str, Any]]:
    """Ask every worker with a socket in ``directory``; the replies, with ``socket`` added.

    A socket whose process is gone is removed (a worker killed with SIGKILL leaves one); a
    worker that does not answer in time is left out, with a log line."""
    replies = []
    for pid, path in _live_sockets(directory):
        try:
            reply = await ask(path, request)
        except (OSError, TimeoutError, ValueError) as exc:
            logger.warning("worker pid %d did not answer on %s (%s)", pid, path, exc)
            continue
        reply["socket"] = str(path)
        replies.append(reply)
    return replies
