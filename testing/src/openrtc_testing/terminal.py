"""A real terminal for a full-screen command: a detached tmux session on a private server.

Tests read the screen as a user sees it (``capture-pane``) and type at it (``send-keys``). The
tmux server is the test's own (``-L``), so a user's sessions are never touched, and it ends
with the pane.
"""

from __future__ import annotations

import asyncio
import os
import secrets
import shlex
import shutil
import subprocess
from collections.abc import Mapping, Sequence

import pytest

INSTALL_HINT = "install tmux (apt-get install tmux)"


def tmux_binary() -> str:
    """tmux's path, or a failed test naming the package: never a silent skip."""
    found = shutil.which("tmux")
    if found is None:
        pytest.fail(f"this test drives a real terminal with tmux: {INSTALL_HINT}", pytrace=False)
    return found


class TmuxPane:
    """``command`` running in a ``width`` x ``height`` terminal until it exits or ``close``."""

    def __init__(
        self,
        command: Sequence[str],
        *,
        width: int = 200,
        height: int = 50,
        env: Mapping[str, str] | None = None,
    ) -> None:
        self.tmux = tmux_binary()
        self.server = f"openrtc-test-{secrets.token_hex(4)}"
        self.command = command
        self.width = width
        self.height = height
        self.env = {**os.environ, "TERM": "xterm-256color", **(env or {})}
        self.screens: list[str] = []
        """Every screen read, for the test's report when an expectation fails."""

    def _tmux(self, *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [self.tmux, "-L", self.server, *args],
            capture_output=True,
            text=True,
            env=self.env,
            timeout=30,
            check=check,
        )

    def open(self) -> TmuxPane:
        self._tmux(
            *("-f", "/dev/null", "new-session", "-d", "-s", "test"),
            *("-x", str(self.width), "-y", str(self.height)),
            shlex.join(self.command),
        )
        return self

    def alive(self) -> bool:
        return self._tmux("has-session", "-t", "test", check=False).returncode == 0

    def screen(self) -> str:
        shown = self._tmux("capture-pane", "-p", "-t", "test", check=False).stdout
        self.screens.append(shown)
        return shown

    def send_keys(self, *keys: str) -> None:
        """tmux key names (``Enter``, ``Escape``) or text typed as it is (``-l``)."""
        for key in keys:
            literal = () if key in ("Enter", "Escape", "BSpace") else ("-l",)
            self._tmux("send-keys", "-t", "test", *literal, key)

    async def wait_for(
        self, holds: str | None, *, gone: str | None = None, within_s: float = 30.0
    ) -> str:
        """The screen, once it shows ``holds`` and no longer shows ``gone``."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + within_s
        while True:
            shown = await asyncio.to_thread(self.screen)
            if (holds is None or holds in shown) and (gone is None or gone not in shown):
                return shown
            if loop.time() > deadline:
                raise AssertionError(
                    f"the terminal never showed {holds!r}"
                    + (f" without {gone!r}" if gone else "")
                    + f" within {within_s:g} s; last screen:\n{shown}"
                )
            await asyncio.sleep(0.3)

    async def wait_closed(self, within_s: float = 15.0) -> None:
        loop = asyncio.get_running_loop()
        deadline = loop.time() + within_s
        while await asyncio.to_thread(self.alive):
            if loop.time() > deadline:
                raise AssertionError(f"the command did not exit; last screen:\n{self.screen()}")
            await asyncio.sleep(0.2)

    def close(self) -> None:
        self._tmux("kill-server", check=False)
