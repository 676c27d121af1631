"""``openrtc console``: the real command in a subprocess, a real AgentSession, no server.

The agents speak through the offline LLM of openrtc-providers-offline: the console fills it in
for agents without an LLM, and an agent may bring its own with a rule table and tools.
"""

from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
from openrtc_demo import AGENTS_DIR

from openrtc.cli.console_session import audio_unavailable

TOOL_AGENT = """
from livekit.agents import Agent, RunContext, function_tool
from openrtc_providers_offline import OfflineLLM, Rule

from openrtc import agent_config

RULES = [
    Rule(
        pattern=r"book .*appointment for (?P<day>\\w+)",
        tool="book_appointment",
        arguments={"day": r"\\g<day>"},
    ),
    Rule(pattern=r"opening hours", reply="We are open nine to five."),
]


@agent_config(
    name="clinic",
    greeting="Greet the caller.",
    llm=OfflineLLM(rules=RULES, greeting="Clinic desk, how can I help?", tool_reply="{output}."),
)
class ClinicAgent(Agent):
    def __init__(self) -> None:
        super().__init__(instructions="You book appointments.")

    @function_tool
    async def book_appointment(self, context: RunContext, day: str) -> str:
        \"\"\"Book an appointment on the given day.\"\"\"
        return f"booked for {day}"
"""


def console(*args: str, stdin: str = "") -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "openrtc.cli", "console", *args],
        input=stdin,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )


def agent_lines(stdout: str) -> list[str]:
    return [line for line in stdout.splitlines() if line.startswith(("agent:", "  tool "))]


def test_text_mode_greets_and_answers_one_turn_with_the_offline_llm() -> None:
    result = console(str(AGENTS_DIR), "--agent", "dental", "--text", stdin="Is anyone there?\n")
    assert result.returncode == 0, result.stderr
    # the demo agents have no LLM of their own: the console filled in the offline one, whose
    # greeting answers the greeting instructions and whose fallback rule echoes the caller
    assert "offline LLM" in result.stdout
    assert agent_lines(result.stdout) == [
        "agent: Hello! How can I help you today?",
        "agent: You said: Is anyone there?",
    ]


def test_text_mode_runs_the_agents_own_llm_and_tools(tmp_path: Path) -> None:
    (tmp_path / "clinic.py").write_text(textwrap.dedent(TOOL_AGENT), encoding="utf-8")
    # one agent registered: --agent may be left out
    result = console(
        str(tmp_path),
        "--text",
        stdin="What are your opening hours?\nplease book an appointment for friday\n",
    )
    assert result.returncode == 0, result.stderr
    assert "offline" not in result.stdout.splitlines()[0]  # nothing was filled in
    assert agent_lines(result.stdout) == [
        "agent: Clinic desk, how can I help?",
        "agent: We are open nine to five.",
        '  tool book_appointment({"day": "friday"}) -> booked for friday',
        "agent: booked for friday.",
    ]


def test_unknown_agent_is_one_line_and_exit_2() -> None:
    result = console(str(AGENTS_DIR), "--agent", "dentl", "--text")
    assert result.returncode == 2
    assert result.stderr.strip().splitlines() == [
        "error: agent 'dentl' is not registered; registered: dental, restaurant"
    ]


def test_several_agents_need_agent_flag() -> None:
    result = console(str(AGENTS_DIR), "--text")
    assert result.returncode == 2
    assert result.stderr.strip().splitlines() == [
        "error: 2 agents are registered (dental, restaurant); choose one with --agent NAME"
    ]


def test_missing_directory_is_one_line_and_exit_2(tmp_path: Path) -> None:
    result = console(str(tmp_path / "nope"), "--text")
    assert result.returncode == 2
    assert len(result.stderr.strip().splitlines()) == 1
    assert "does not exist" in result.stderr


def test_a_plugin_that_cannot_prepare_the_session_is_one_line_and_exit_1() -> None:
    # a real refusal of the default prewarm plugin: end-of-turn by VAD, with no VAD loaded
    result = console(
        str(AGENTS_DIR),
        "--agent",
        "dental",
        "--text",
        "--prewarm-vad",
        "none",
        "--prewarm-turn-detector",
        "vad",
    )
    assert result.returncode == 1
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("error: cannot prepare agent 'dental': prewarm.turn_detector=")
    assert result.stdout == ""


@pytest.mark.skipif(audio_unavailable() is None, reason="this machine has audio devices")
def test_audio_mode_without_a_device_says_to_use_text() -> None:
    result = console(str(AGENTS_DIR), "--agent", "dental")
    assert result.returncode == 1
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("error: no audio device (")
    assert lines[0].endswith("run with --text to type instead")


def test_with_no_plugin_offering_offline_providers_an_empty_slot_is_one_line() -> None:
    # openrtc-providers-offline offers them through the openrtc_offline_providers hook; the
    # kernel itself imports no provider package
    result = console(
        str(AGENTS_DIR),
        "--agent",
        "dental",
        "--text",
        "--disable-plugins",
        "openrtc-providers-offline",
        stdin="hello\n",
    )
    assert result.returncode == 1
    assert result.stderr.strip().splitlines()[-1] == (
        "error: agent 'dental' has no LLM; set one (for example --default-llm) or pip install "
        "openrtc-providers-offline"
    )
