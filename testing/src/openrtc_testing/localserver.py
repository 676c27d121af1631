"""A real livekit-server on loopback, for end-to-end tests and the demo.

`LocalLiveKitServer` runs the binary that `openrtc_testing.server_binary` finds, with a
generated config that only ever uses 127.0.0.1: no external IP discovery, no public STUN
servers handed to clients, a fresh API key pair per run.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import random
import secrets
import signal
import socket
import subprocess
import tempfile
import time
import urllib.error
import urllib.request
from collections import deque
from pathlib import Path
from types import TracebackType
from typing import Any

from openrtc_testing.server_binary import ServerUnavailable, find_server_binary

HOST = "127.0.0.1"
# livekit-server reads these as config overrides; an inherited one (say REDIS_HOST) would turn
# the test bed into something else, so they never reach the process.
_SERVER_ENV_OVERRIDES = ("NODE_IP", "UDP_PORT", "REDIS_HOST", "REDIS_PASSWORD")


def _free_tcp_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((HOST, 0))
        return int(sock.getsockname()[1])


def _free_udp_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        sock.bind((HOST, 0))
        return int(sock.getsockname()[1])


def _udp_range_is_free(start: int, count: int) -> bool:
    sockets: list[socket.socket] = []
    try:
        for port in range(start, start + count):
            sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
            sockets.append(sock)
            sock.bind((HOST, port))
        return True
    except OSError:
        return False
    finally:
        for sock in sockets:
            sock.close()


def _free_udp_range(count: int) -> int:
    # Stay below Linux's ephemeral range (32768+) so client sockets rarely collide with it.
    for _ in range(200):
        start = random.randrange(20_000, 32_000 - count)
        if _udp_range_is_free(start, count):
            return start
    raise ServerUnavailable(f"found no {count} consecutive free UDP ports on {HOST}; free some")


NO_WORKER_AVAILABLE = "no worker available to handle job"
"""What livekit-server logs, with the room, for a dispatch no worker took."""
NOT_DISPATCHED = "not dispatching agent job since no worker is available"
"""What it logs instead when every worker had already reported itself full."""


class LocalLiveKitServer:
    """One livekit-server process bound to 127.0.0.1, with its own config, keys and log."""

    def __init__(
        self,
        binary: Path | None = None,
        *,
        workdir: Path | None = None,
        udp_ports: int = 20,
        startup_timeout: float = 30.0,
        log_level: str = "info",
        redis_address: str | None = None,
        keys: tuple[str, str] | None = None,
    ) -> None:
        """``redis_address`` (``host:port``) makes this server one node of a cluster: nodes
        sharing a Redis and a key pair (``keys``: API key and secret) serve one set of rooms
        and workers."""
        self._binary = binary
        self._workdir_arg = workdir
        self._udp_ports = udp_ports
        self._startup_timeout = startup_timeout
        self._log_level = log_level
        self.redis_address = redis_address
        self.api_key, self.api_secret = keys or (
            f"openrtc-{secrets.token_hex(4)}",
            secrets.token_urlsafe(32),
        )
        self.port = 0
        self.rtc_tcp_port = 0
        self.udp_port_start = 0
        self.stun_port = 0
        self.startup_seconds: float | None = None
        self._tmp: tempfile.TemporaryDirectory[str] | None = None
        self._workdir: Path | None = None
        self._proc: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"ws://{HOST}:{self.port}"

    @property
    def http_url(self) -> str:
        return f"http://{HOST}:{self.port}"

    @property
    def log_path(self) -> Path:
        return self._require_workdir() / "livekit-server.log"

    @property
    def config_path(self) -> Path:
        return self._require_workdir() / "livekit.yaml"

    def refused_dispatch(self, room: str) -> bool:
        """The server logged that no worker could take the job for ``room``: offered and
        declined by all, or not offered because every worker reported itself full. Its log
        is the only place that refusal shows."""
        return any(
            room in line and (NO_WORKER_AVAILABLE in line or NOT_DISPATCHED in line)
            for line in self.log_path.read_text(encoding="utf-8", errors="replace").splitlines()
        )

    @property
    def running(self) -> bool:
        return self._proc is not None and self._proc.poll() is None

    def env(self) -> dict[str, str]:
        """The variables livekit-agents and livekit-api read to reach this server."""
        return {
            "LIVEKIT_URL": self.url,
            "LIVEKIT_API_KEY": self.api_key,
            "LIVEKIT_API_SECRET": self.api_secret,
        }

    def log_tail(self, lines: int = 40) -> str:
        try:
            with open(self.log_path, errors="replace") as log:
                return "".join(deque(log, maxlen=lines))
        except (FileNotFoundError, ServerUnavailable):
            return ""

    def config(self) -> dict[str, Any]:
        config = self._own_config()
        if self.redis_address is not None:
            config["redis"] = {"address": self.redis_address}
        return config

    def _own_config(self) -> dict[str, Any]:
        return {
            "port": self.port,
            "bind_addresses": [HOST],
            "rtc": {
                "tcp_port": self.rtc_tcp_port,
                # A UDP mux binds all its ports at startup, so a taken port fails the start
                # (and we retry elsewhere) instead of failing a call later.
                "udp_port": f"{self.udp_port_start}-{self.udp_port_start + self._udp_ports - 1}",
                "use_external_ip": False,
                "node_ip": HOST,
                "enable_loopback_candidate": True,
                "ips": {"includes": [f"{HOST}/32"]},
                "use_mdns": False,
                # With no STUN servers set the server hands clients public ones; a loopback
                # address nobody answers on keeps every client's ICE traffic on this machine.
                "stun_servers": [f"{HOST}:{self.stun_port}"],
            },
            "turn": {"enabled": False},
            "keys": {self.api_key: self.api_secret},
            "logging": {"level": self._log_level, "json": False},
        }

    def start(self) -> LocalLiveKitServer:
        if self.running:
            return self
        binary = self._binary or find_server_binary()
        if self._workdir_arg is not None:
            self._workdir = self._workdir_arg
            self._workdir.mkdir(parents=True, exist_ok=True)
        else:
            self._tmp = tempfile.TemporaryDirectory(prefix="openrtc-livekit-")
            self._workdir = Path(self._tmp.name)
        began = time.monotonic()
        last_error = ""
        for _attempt in range(3):
            self.port = _free_tcp_port()
            self.rtc_tcp_port = _free_tcp_port()
            self.udp_port_start = _free_udp_range(self._udp_ports)
            self.stun_port = _free_udp_port()
            # JSON is valid YAML, which spares a YAML dependency.
            self.config_path.write_text(json.dumps(self.config(), indent=2))
            self._spawn(binary)
            last_error = self._wait_ready()
            if not last_error:
                self.startup_seconds = time.monotonic() - began
                return self
            self._terminate()
            if "address already in use" not in self.log_tail(20):
                break
        log = self.log_tail(20)
        self._cleanup_tmp()
        raise ServerUnavailable(f"livekit-server did not start: {last_error}\n{log}")

    def _spawn(self, binary: Path) -> None:
        env = {
            key: value
            for key, value in os.environ.items()
            if not key.startswith("LIVEKIT_") and key not in _SERVER_ENV_OVERRIDES
        }
        with open(self.log_path, "ab") as log:
            self._proc = subprocess.Popen(
                [str(binary), "--config", str(self.config_path)],
                env=env,
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                cwd=self._workdir,
                start_new_session=True,  # a Ctrl-C in the test runner must not kill it mid-test
            )

    def _wait_ready(self) -> str:
        """Poll until the HTTP and ICE/TCP ports answer; return '' or why it never did."""
        deadline = time.monotonic() + self._startup_timeout
        while time.monotonic() < deadline:
            proc = self._proc
            if proc is None or proc.poll() is not None:
                code = None if proc is None else proc.returncode
                return f"process exited with code {code}"
            if self._http_ok() and self._tcp_accepts(self.rtc_tcp_port):
                return ""
            time.sleep(0.05)
        return f"no answer on {self.http_url} within {self._startup_timeout:.0f} s"

    def _http_ok(self) -> bool:
        try:
            with urllib.request.urlopen(self.http_url + "/", timeout=1.0) as response:
                return int(response.status) == 200
        except (urllib.error.URLError, OSError):
            return False

    @staticmethod
    def _tcp_accepts(port: int) -> bool:
        try:
            with socket.create_connection((HOST, port), timeout=1.0):
                return True
        except OSError:
            return False

    def restart(self, down_s: float = 0.0, *, crash: bool = False) -> None:
        """Stop the server and start it again on the same ports, with the same keys and
        config, after ``down_s`` seconds: what clients see of a server restart. Its rooms
        are gone; its log continues. Stopped, the server tells every participant their room
        was deleted; ``crash`` kills it instead, as a crash or a lost host would, and
        participants only see their connection drop."""
        if crash and self._proc is not None:
            proc, self._proc = self._proc, None
            proc.kill()
            proc.wait()
        self._terminate()
        time.sleep(down_s)
        self._spawn(self._binary or find_server_binary())
        problem = self._wait_ready()
        if problem:
            raise ServerUnavailable(f"livekit-server did not restart: {problem}")

    def freeze(self) -> None:
        """SIGSTOP the server: it keeps its sockets but answers nothing until ``thaw``."""
        if self._proc is not None:
            self._proc.send_signal(signal.SIGSTOP)

    def thaw(self) -> None:
        if self._proc is not None:
            self._proc.send_signal(signal.SIGCONT)

    def stop(self, grace: float = 2.0, timeout: float = 5.0) -> None:
        self._terminate(grace, timeout)
        self._cleanup_tmp()

    def _terminate(self, grace: float = 2.0, timeout: float = 5.0) -> None:
        proc, self._proc = self._proc, None
        if proc is None or proc.poll() is not None:
            return
        proc.send_signal(signal.SIGCONT)  # a frozen server cannot hear SIGTERM
        # The first SIGTERM waits for participants to leave; a second one forces the exit.
        for sig, wait_s in ((signal.SIGTERM, grace), (signal.SIGTERM, timeout)):
            proc.send_signal(sig)
            with contextlib.suppress(subprocess.TimeoutExpired):
                proc.wait(wait_s)
                return
        proc.kill()
        proc.wait()

    def _cleanup_tmp(self) -> None:
        if self._tmp is not None:
            self._tmp.cleanup()
            self._tmp = None

    def _require_workdir(self) -> Path:
        if self._workdir is None:
            raise ServerUnavailable("the server was never started; call start() first")
        return self._workdir

    def __enter__(self) -> LocalLiveKitServer:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    async def __aenter__(self) -> LocalLiveKitServer:
        return await asyncio.to_thread(self.start)

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await asyncio.to_thread(self.stop)
