"""Pytest fixtures for OpenRTC and plugin authors (loaded through the ``pytest11`` entry point).

``livekit_server`` starts a real livekit-server on 127.0.0.1 for the test session;
``caller_factory`` makes callers that join rooms and publish real audio.
"""

from openrtc.testing.fixtures import caller_factory, livekit_server

__all__ = ["caller_factory", "livekit_server"]
