"""A real Redis on loopback, what several livekit-server nodes share to form one cluster.

Debian's ``redis-server`` (``apt-get install redis-server``), or the binary ``REDIS_SERVER_BIN``
names, started with no persistence in a directory of its own and stopped with the test.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import socket
import subprocess
import tempfile
import time
from pathlib import Path

from openrtc_testing.server_binary import ServerUnavailable

HOST = "127.0.0.1"
BINARY_ENV = "REDIS_SERVER_BIN"


def find_redis_binary() -> Path:
    named = os.environ.get(BINARY_ENV)
    found = named or shutil.which("redis-server")
    if not found or not Path(found).is_file():
        raise ServerUnavailable(
            "redis-server not found: install Debian's redis-server (apt-get install "
            f"redis-server) or set {BINARY_ENV} to the binary"
        )
    return Path(found)


class LocalRedis:
    """One redis-server bound to 127.0.0.1 on a free port, nothing written to disk."""

    def __init__(self, binary: Path | None = None, *, startup_timeout: float = 10.0) -> None:
        self._binary = binary
        self._startup_timeout = startup_timeout
        self.port = 0
        self._tmp: tempfile.TemporaryDirectory[str] | None = None
        self._proc: subprocess.Popen[bytes] | None = None

    @property
    def address(self) -> str:
        """``host:port``, as livekit-server's ``redis.address`` takes it."""
        return f"{HOST}:{self.port}"

    @property
    def log_path(self) -> Path:
        if self._tmp is None:
            raise ServerUnavailable("redis was never started; call start() first")
        return Path(self._tmp.name) / "redis.log"

    def start(self) -> LocalRedis:
        binary = self._binary or find_redis_binary()
        self._tmp = tempfile.TemporaryDirectory(prefix="openrtc-redis-")
        with socket.socket() as probe:
            probe.bind((HOST, 0))
            self.port = int(probe.getsockname()[1])
        command = [str(binary), "--port", str(self.port), "--bind", HOST]
        command += ["--save", "", "--appendonly", "no", "--dir", self._tmp.name]
        command += ["--logfile", str(self.log_path), "--daemonize", "no"]
        self._proc = subprocess.Popen(
            command, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, start_new_session=True
        )
        deadline = time.monotonic() + self._startup_timeout
        while time.monotonic() < deadline:
            if self._proc.poll() is not None:
                break
            if self.ping():
                return self
            time.sleep(0.05)
        log = self.log_path.read_text(errors="replace")[-2000:] if self.log_path.exists() else ""
        self.stop()
        raise ServerUnavailable(f"redis-server did not answer PING on {self.address}\n{log}")

    def ping(self) -> bool:
        try:
            with socket.create_connection((HOST, self.port), timeout=1.0) as conn:
                conn.sendall(b"PING\r\n")
                return conn.recv(16).startswith(b"+PONG")
        except OSError:
            return False

    def stop(self) -> None:
        proc, self._proc = self._proc, None
        if proc is not None and proc.poll() is None:
            proc.terminate()
            with contextlib.suppress(subprocess.TimeoutExpired):
                proc.wait(5)
            if proc.poll() is None:
                proc.kill()
                proc.wait()
        if self._tmp is not None:
            self._tmp.cleanup()
            self._tmp = None
