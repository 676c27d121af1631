"""Pytest fixtures for OpenRTC and plugin authors (loaded through the ``pytest11`` entry point).

``livekit_server`` starts a real livekit-server on 127.0.0.1 for the test session;
``caller_factory`` makes callers that join rooms and publish real audio; ``livekit_admin``
creates rooms and dispatches. ``openrtc.testing.worker.running_worker`` serves a pool in a test.
"""

from openrtc.testing.fixtures import (
    caller_factory,
    livekit_admin,
    livekit_server,
    pytest_runtest_makereport,
)

__all__ = ["caller_factory", "livekit_admin", "livekit_server", "pytest_runtest_makereport"]
