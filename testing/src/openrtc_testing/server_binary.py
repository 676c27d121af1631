"""Find livekit-server, or build it once with the Go toolchain and cache it per user.

The build needs the Go module proxy, so it must run before a test run or the demo moves into
its private network namespace: ``openrtc_testing.testbed.prepare_test_bed`` keeps that order.
"""

from __future__ import annotations

import fcntl
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

SERVER_VERSION = "v1.13.5"
SERVER_MODULE = "github.com/livekit/livekit-server/cmd/server"
BUILD_TIMEOUT_S = 1800.0
_GO_MISSING = (
    "building livekit-server {version} needs the Go toolchain but `go` is not on PATH; install "
    "Go 1.21 or newer (it fetches the Go 1.26 toolchain the server needs through the Go module "
    "proxy; Debian bookworm's `golang` package is 1.19, too old) or set LIVEKIT_SERVER_BIN to a "
    "livekit-server binary"
)


ISOLATED_MARK = "_OPENRTC_NETNS"
"""Set once a process is inside the private test network (no route out); children inherit it."""
SERVER_ERROR_MARK = "_OPENRTC_SERVER_ERROR"
"""Why no server could be had before isolation: reported later instead of a hopeless build."""


class ServerUnavailable(RuntimeError):
    """livekit-server cannot be found, built or started; the message says what to do."""


def server_cache_dir() -> Path:
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "openrtc" / "bin"


def cached_binary_path() -> Path:
    return server_cache_dir() / f"livekit-server-{SERVER_VERSION}"


def find_server_binary(*, build: bool = True) -> Path:
    """Return a livekit-server binary, building and caching it when none is found.

    Order: $LIVEKIT_SERVER_BIN, `livekit-server` on PATH, the per-user cache, then a build.
    """
    explicit = os.environ.get("LIVEKIT_SERVER_BIN")
    if explicit:
        path = Path(explicit).expanduser()
        if not (path.is_file() and os.access(path, os.X_OK)):
            raise ServerUnavailable(
                f"LIVEKIT_SERVER_BIN={explicit} is not an executable file; "
                "point it at a livekit-server binary or unset it"
            )
        return path
    on_path = shutil.which("livekit-server")
    if on_path:
        return Path(on_path)
    cached = cached_binary_path()
    if _is_executable(cached):
        return cached
    if build and os.environ.get(ISOLATED_MARK):
        # the Go module proxy is out of reach in here: say what went wrong before isolating
        raise ServerUnavailable(
            os.environ.get(SERVER_ERROR_MARK)
            or "no livekit-server was found before the run isolated its network, and none can "
            "be built inside it; set LIVEKIT_SERVER_BIN or build it first "
            "(python -m openrtc_testing.server_binary --ensure)"
        )
    if not build:
        raise ServerUnavailable(
            f"no livekit-server found (LIVEKIT_SERVER_BIN unset, none on PATH, none at {cached}); "
            "call find_server_binary(build=True) or set LIVEKIT_SERVER_BIN"
        )
    return build_server_binary(cached)


def build_server_binary(dest: Path | None = None) -> Path:
    """Build livekit-server with `go install` and move it atomically to `dest`."""
    target = dest or cached_binary_path()
    go = shutil.which("go")
    if go is None:
        raise ServerUnavailable(_GO_MISSING.format(version=SERVER_VERSION))
    target.parent.mkdir(parents=True, exist_ok=True)
    # A lock file keeps parallel test processes from running the same long build twice.
    with open(target.parent / f".{target.name}.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if _is_executable(target):
            return target
        # The temporary GOBIN sits next to the target so the final rename stays atomic.
        with tempfile.TemporaryDirectory(dir=target.parent, prefix=".build-") as gobin:
            env = {**os.environ, "GOBIN": gobin}
            command = [go, "install", f"{SERVER_MODULE}@{SERVER_VERSION}"]
            try:
                result = subprocess.run(
                    command, env=env, capture_output=True, text=True, timeout=BUILD_TIMEOUT_S
                )
            except subprocess.TimeoutExpired as exc:
                raise ServerUnavailable(
                    f"`{' '.join(command)}` took over {BUILD_TIMEOUT_S:.0f} s; "
                    "run it by hand and set LIVEKIT_SERVER_BIN to the result"
                ) from exc
            built = Path(gobin) / "server"  # go install names the binary after cmd/server
            if result.returncode != 0 or not built.is_file():
                tail = " | ".join(result.stderr.strip().splitlines()[-5:])
                raise ServerUnavailable(
                    f"`{' '.join(command)}` failed (exit {result.returncode}): {tail}; "
                    "fix the Go setup or set LIVEKIT_SERVER_BIN"
                )
            os.replace(built, target)
    return target


def _is_executable(path: Path) -> bool:
    return path.is_file() and os.access(path, os.X_OK)


def main(argv: list[str] | None = None) -> int:
    """``python -m openrtc_testing.server_binary --ensure``: find or build it, print the path."""
    args = sys.argv[1:] if argv is None else argv
    if args not in ([], ["--ensure"]):
        print("usage: python -m openrtc_testing.server_binary [--ensure]", file=sys.stderr)
        return 2
    started = time.monotonic()
    try:
        binary = find_server_binary()
    except ServerUnavailable as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    print(f"livekit-server: {binary} ({time.monotonic() - started:.1f} s)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
