"""Test kit for OpenRTC: a real livekit-server on loopback, callers, workers, pytest fixtures.

Installed as ``openrtc-testing`` (the runtime never imports it). Its pytest plugin
(``openrtc_testing.plugin``, loaded through the ``pytest11`` entry point) provides the
``livekit_server``, ``caller_factory`` and ``livekit_admin`` fixtures; set
``openrtc_test_network = true`` in the pytest configuration to run in a private network.
"""

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from openrtc_testing.caller import Caller
    from openrtc_testing.dispatch import ServerAdmin
    from openrtc_testing.env import free_tcp_port, in_ci, new_room_name
    from openrtc_testing.localserver import LocalLiveKitServer
    from openrtc_testing.pools import offline_pool, worker_state
    from openrtc_testing.process import WorkerProcess
    from openrtc_testing.server_binary import ServerUnavailable, find_server_binary
    from openrtc_testing.testbed import TestBed, prepare_test_bed
    from openrtc_testing.worker import running_worker

# Imported on first use: the pytest plugin and the test bed must be able to enter a user
# namespace before livekit's SDK or numpy start threads, which the kernel forbids after.
_WHERE = {
    "Caller": "openrtc_testing.caller",
    "LocalLiveKitServer": "openrtc_testing.localserver",
    "ServerAdmin": "openrtc_testing.dispatch",
    "ServerUnavailable": "openrtc_testing.server_binary",
    "TestBed": "openrtc_testing.testbed",
    "WorkerProcess": "openrtc_testing.process",
    "find_server_binary": "openrtc_testing.server_binary",
    "free_tcp_port": "openrtc_testing.env",
    "in_ci": "openrtc_testing.env",
    "new_room_name": "openrtc_testing.env",
    "offline_pool": "openrtc_testing.pools",
    "prepare_test_bed": "openrtc_testing.testbed",
    "running_worker": "openrtc_testing.worker",
    "worker_state": "openrtc_testing.pools",
}


__all__ = [
    "Caller",
    "LocalLiveKitServer",
    "ServerAdmin",
    "ServerUnavailable",
    "TestBed",
    "WorkerProcess",
    "find_server_binary",
    "free_tcp_port",
    "in_ci",
    "new_room_name",
    "offline_pool",
    "prepare_test_bed",
    "running_worker",
    "worker_state",
]


def __getattr__(name: str) -> Any:
    if name not in _WHERE:
        raise AttributeError(f"module 'openrtc_testing' has no attribute {name!r}")
    return getattr(importlib.import_module(_WHERE[name]), name)
