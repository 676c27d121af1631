"""Keep a test run's media traffic inside a network namespace of its own.

The WebRTC stack under the ``livekit`` client SDK never uses the loopback interface for its
side of a media connection: on a normal host it picks the host's own address. A test run
therefore moves itself into a fresh network namespace holding only loopback and one veth pair
with a documentation-range address (198.51.100.1, RFC 5737), so every packet of the real
server, worker and callers stays inside a network that exists only for the run.

Root gets the namespace directly. A normal user gets it inside a user namespace of its own,
where it is root for this one network only (the kernel must allow unprivileged user
namespaces, as Debian and Ubuntu do by default). The namespace has no route out: anything that
needs the network (building livekit-server) must be done first, see ``testbed``.
"""

from __future__ import annotations

import ctypes
import os
import shutil
import subprocess

CLONE_NEWNET = 0x40000000
CLONE_NEWUSER = 0x10000000
TEST_ADDRESS = "198.51.100.1/24"


class NamespaceUnavailable(RuntimeError):
    """The process cannot get a network namespace of its own; the message says why."""


def _run(*args: str) -> None:
    subprocess.run(["ip", *args], check=True, capture_output=True, text=True, timeout=10)


def _unshare(flags: int) -> None:
    libc = ctypes.CDLL(None, use_errno=True)
    if libc.unshare(flags) != 0:
        errno = ctypes.get_errno()
        raise NamespaceUnavailable(f"unshare() failed: {os.strerror(errno)}")


def _enter_user_namespace() -> None:
    """Become root of a new user namespace that maps only this user (and its group)."""
    if len(os.listdir("/proc/self/task")) > 1:
        # the kernel refuses a new user namespace to a process with several threads
        raise NamespaceUnavailable(
            "a user namespace must be entered before any thread starts; "
            "call isolate_network() earlier, or run as root"
        )
    uid, gid = os.getuid(), os.getgid()
    try:
        _unshare(CLONE_NEWUSER | CLONE_NEWNET)
    except NamespaceUnavailable as exc:
        raise NamespaceUnavailable(
            f"{exc} (unprivileged user namespaces are off: run as root, or set "
            "kernel.unprivileged_userns_clone=1)"
        ) from None
    with open("/proc/self/setgroups", "w") as setgroups:
        setgroups.write("deny")
    with open("/proc/self/uid_map", "w") as uid_map:
        uid_map.write(f"0 {uid} 1")
    with open("/proc/self/gid_map", "w") as gid_map:
        gid_map.write(f"0 {gid} 1")


def isolate_network(*, user_namespace: bool | None = None) -> None:
    """Move this process (and every process it starts later) into a new network namespace.

    ``user_namespace`` chooses the way in; by default a normal user takes the user namespace
    and root does not need one.
    """
    if shutil.which("ip") is None:
        raise NamespaceUnavailable("the 'ip' command is missing; apt-get install iproute2")
    if user_namespace is None:
        user_namespace = os.geteuid() != 0
    if user_namespace:
        _enter_user_namespace()
    else:
        _unshare(CLONE_NEWNET)
    try:
        _run("link", "set", "lo", "up")
        _run("link", "add", "ortc0", "type", "veth", "peer", "name", "ortc1")
        _run("addr", "add", TEST_ADDRESS, "dev", "ortc0")
        _run("link", "set", "ortc0", "up")
        _run("link", "set", "ortc1", "up")
    except subprocess.CalledProcessError as exc:
        raise NamespaceUnavailable(f"setting up the test network failed: {exc.stderr}") from exc
