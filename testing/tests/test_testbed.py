"""The test bed is prepared in the only order that works: obtain the server, then isolate.

The Go toolchain is replaced by a stand-in ``go`` script here (a real build takes minutes and
the real one runs in CI's demo step): it writes a fake server binary and records the network
namespace it ran in, which is what these tests are about.
"""

from __future__ import annotations

import json
import os
import stat
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
from openrtc_testing.server_binary import (
    ISOLATED_MARK,
    SERVER_ERROR_MARK,
    ServerUnavailable,
    find_server_binary,
)

FAKE_GO = """#!/bin/sh
readlink /proc/self/ns/net > "{record}"
printf '#!/bin/sh\\n' > "$GOBIN/server"
chmod +x "$GOBIN/server"
"""

PREPARE = """
import json, os, sys
from openrtc_testing.testbed import prepare_test_bed
bed = prepare_test_bed(announce=lambda line: print(line, file=sys.stderr))
print(json.dumps({
    "binary": str(bed.server_binary), "error": bed.server_error, "isolated": bed.isolated,
    "netns_after": os.readlink("/proc/self/ns/net"),
    "env_binary": os.environ.get("LIVEKIT_SERVER_BIN"),
}))
"""


def fresh_user_env(tmp_path: Path) -> dict[str, str]:
    """A new user's environment: empty cache, no server anywhere, a stand-in go on PATH."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    go = bin_dir / "go"
    go.write_text(FAKE_GO.format(record=tmp_path / "go-ran-in"))
    go.chmod(go.stat().st_mode | stat.S_IXUSR | stat.S_IXGRP | stat.S_IXOTH)
    env = {
        key: value
        for key, value in os.environ.items()
        if key not in ("LIVEKIT_SERVER_BIN", "OPENRTC_TEST_NETNS", ISOLATED_MARK, SERVER_ERROR_MARK)
    }
    path = [p for p in env.get("PATH", "").split(":") if not (Path(p) / "livekit-server").exists()]
    env["PATH"] = ":".join([str(bin_dir), *path])
    env["XDG_CACHE_HOME"] = str(tmp_path / "cache")
    env["HOME"] = str(tmp_path / "home")
    return env


def prepare(env: dict[str, str]) -> dict[str, object]:
    done = subprocess.run(
        [sys.executable, "-c", textwrap.dedent(PREPARE)],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    result: dict[str, object] = json.loads(done.stdout)
    result["stderr"] = done.stderr
    return result


def test_a_new_user_builds_the_server_before_the_network_is_isolated(tmp_path: Path) -> None:
    env = fresh_user_env(tmp_path)
    before = os.readlink("/proc/self/ns/net")
    result = prepare(env)
    assert result["error"] is None
    assert result["isolated"] is True
    # the build ran where the Go module proxy is reachable: the namespace the run started in
    assert (tmp_path / "go-ran-in").read_text().strip() == before
    assert result["netns_after"] != before
    cached = tmp_path / "cache" / "openrtc" / "bin"
    assert str(result["binary"]).startswith(str(cached))
    assert result["env_binary"] == result["binary"]  # children take it and never build
    assert "building livekit-server" in str(result["stderr"])


NORMAL_USER = """
import os
from openrtc_testing.netns import isolate_network
before = os.readlink("/proc/self/ns/net")
isolate_network(user_namespace=True)
print(before != os.readlink("/proc/self/ns/net"), os.getuid())
"""


def test_a_normal_user_gets_a_private_network_through_a_user_namespace() -> None:
    # the path a non-root user takes; root can take it too, so CI (root) runs it for real
    done = subprocess.run(
        [sys.executable, "-c", textwrap.dedent(NORMAL_USER)],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.split() == ["True", "0"]  # moved, and root of its own namespace


def test_inside_the_private_network_a_lookup_reports_instead_of_building(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    for key, value in fresh_user_env(tmp_path).items():
        monkeypatch.setenv(key, value)
    monkeypatch.delenv("LIVEKIT_SERVER_BIN", raising=False)
    monkeypatch.setenv(ISOLATED_MARK, "1")
    monkeypatch.setenv(SERVER_ERROR_MARK, "`go install ...` failed (exit 1): no Go proxy")
    with pytest.raises(ServerUnavailable, match="no Go proxy"):
        find_server_binary()
    assert not (tmp_path / "go-ran-in").exists()
