"""``openrtc connect`` argument handling through the real command (no server needed).

The end-to-end behaviour, a caller greeted in the named room, is in tests/e2e/test_connect.py.
"""

from __future__ import annotations

import subprocess
import sys

from openrtc_demo import AGENTS_DIR

CONNECTION = ("--url", "ws://127.0.0.1:9", "--api-key", "key", "--api-secret", "secret")


def connect(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "openrtc.cli", "connect", *args],
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )


def test_missing_room_is_one_line_and_exit_2() -> None:
    result = connect(str(AGENTS_DIR), *CONNECTION)
    assert result.returncode == 2
    assert result.stderr.strip().splitlines() == [
        "error: --room is required: the room to join, e.g. --room support-1"
    ]


def test_unknown_agent_is_one_line_and_exit_2() -> None:
    result = connect(str(AGENTS_DIR), "--room", "support-1", "--agent", "dentl", *CONNECTION)
    assert result.returncode == 2
    assert result.stderr.strip().splitlines() == [
        "error: agent 'dentl' is not registered; registered: dental, restaurant"
    ]


def test_empty_participant_identity_is_exit_2() -> None:
    result = connect(str(AGENTS_DIR), "--room", "r", "--participant-identity", " ", *CONNECTION)
    assert result.returncode == 2
    assert result.stderr.strip().splitlines() == [
        "error: --participant-identity is empty; omit it or give an identity"
    ]


def test_unreachable_server_fails_with_one_error_and_exit_1() -> None:
    # a real failure: nothing listens on port 9 of the loopback interface
    result = connect(str(AGENTS_DIR), "--room", "support-1", "--log-level", "ERROR", *CONNECTION)
    assert result.returncode == 1, result.stderr
    errors = [line for line in result.stderr.splitlines() if " ERROR " in line]
    assert len(errors) == 1, result.stderr
    assert "could not join room 'support-1' at ws://127.0.0.1:9" in errors[0]
    assert errors[0].endswith("check --url, --api-key and --api-secret")
