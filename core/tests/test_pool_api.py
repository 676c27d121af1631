"""AgentPool registration, discovery and their errors."""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest
from livekit.agents import Agent

from openrtc import AgentConfig, AgentPool, agent_config
from openrtc.config import AgentConfigError
from openrtc.discovery import DiscoveryError


class Dental(Agent):
    def __init__(self) -> None:
        super().__init__(instructions="dental")


class Restaurant(Agent):
    def __init__(self) -> None:
        super().__init__(instructions="restaurant")


def write(directory: Path, name: str, source: str) -> Path:
    path = directory / name
    path.write_text(textwrap.dedent(source), encoding="utf-8")
    return path


def test_add_list_get_remove() -> None:
    pool = AgentPool(default_llm="openai/gpt-4.1-mini", default_greeting="hi")
    config = pool.add(
        "dental",
        Dental,
        tts="cartesia/sonic-3",
        greeting="Welcome",
        session_kwargs={"max_tool_steps": 2},
        max_tool_steps=4,
    )
    pool.add("restaurant", Restaurant)
    assert isinstance(config, AgentConfig)
    assert pool.list_agents() == ["dental", "restaurant"]
    assert pool.get("dental").tts == "cartesia/sonic-3"
    assert pool.get("dental").session_options == {"max_tool_steps": 4}
    assert pool.remove("dental") is config
    assert pool.list_agents() == ["restaurant"]


@pytest.mark.parametrize(
    ("name", "message"),
    [
        ("", "agent name is empty"),
        ("   ", "agent name is empty"),
        ("bad name!", "is invalid"),
        (42, "must be a string"),
    ],
)
def test_invalid_names(name: object, message: str) -> None:
    with pytest.raises(AgentConfigError, match=message):
        AgentPool().add(name, Dental)  # type: ignore[arg-type]


def test_duplicate_name() -> None:
    pool = AgentPool()
    pool.add("dental", Dental)
    with pytest.raises(AgentConfigError, match="'dental' is already registered"):
        pool.add("dental", Restaurant)


def test_not_an_agent_class() -> None:
    with pytest.raises(AgentConfigError, match="str is not a subclass of livekit.agents.Agent"):
        AgentPool().add("x", str)
    with pytest.raises(AgentConfigError, match="not an instance"):
        AgentPool().add("x", Dental())  # type: ignore[arg-type]


def test_get_and_remove_unknown_name_list_registered() -> None:
    pool = AgentPool()
    pool.add("dental", Dental)
    pool.add("restaurant", Restaurant)
    with pytest.raises(
        KeyError, match="agent 'dentl' is not registered; registered: dental, restaurant"
    ):
        pool.get("dentl")
    with pytest.raises(KeyError, match="not registered"):
        pool.remove("dentl")


def test_read_only_properties() -> None:
    pool = AgentPool(isolation="process", max_concurrent_sessions=3)
    with pytest.raises(AttributeError):
        pool.isolation = "coroutine"  # type: ignore[misc]
    assert pool.isolation == "process"
    assert pool.max_concurrent_sessions == 3


def test_discover_names_by_file_and_by_decorator(tmp_path: Path) -> None:
    write(
        tmp_path,
        "dental.py",
        """
        from livekit.agents import Agent

        class DentalAgent(Agent):
            def __init__(self):
                super().__init__(instructions="dental")
    """,
    )
    write(
        tmp_path,
        "food.py",
        """
        from livekit.agents import Agent
        from openrtc import agent_config

        @agent_config(name="restaurant", greeting="Welcome to reservations.", llm="x/y")
        class RestaurantAgent(Agent):
            def __init__(self):
                super().__init__(instructions="restaurant")
    """,
    )
    write(tmp_path, "_helpers.py", "raise RuntimeError('private modules are not imported')\n")
    write(tmp_path, "shared.py", "VALUE = 1\n")  # no agent: skipped
    pool = AgentPool()
    found = pool.discover(tmp_path)
    assert [c.name for c in found] == ["dental", "restaurant"]
    assert pool.get("restaurant").greeting == "Welcome to reservations."
    assert pool.get("restaurant").llm == "x/y"
    assert pool.get("dental").source_path == tmp_path / "dental.py"


def test_discover_missing_directory(tmp_path: Path) -> None:
    with pytest.raises(DiscoveryError, match="does not exist; create it"):
        AgentPool().discover(tmp_path / "nope")


def test_discover_syntax_error_names_file_and_line(tmp_path: Path) -> None:
    path = write(tmp_path, "broken.py", "from livekit.agents import Agent\n\nclass A(Agent:\n")
    with pytest.raises(DiscoveryError) as raised:
        AgentPool().discover(tmp_path)
    assert f"{path}:3" in str(raised.value)


def test_discover_two_agents_without_decorator(tmp_path: Path) -> None:
    write(
        tmp_path,
        "two.py",
        """
        from livekit.agents import Agent

        class One(Agent):
            pass

        class Two(Agent):
            pass
    """,
    )
    with pytest.raises(DiscoveryError, match=r"several Agent classes \(One, Two\).*@agent_config"):
        AgentPool().discover(tmp_path)


def test_discover_registers_nothing_when_one_module_fails(tmp_path: Path) -> None:
    write(
        tmp_path,
        "a_good.py",
        """
        from livekit.agents import Agent

        class Good(Agent):
            pass
    """,
    )
    write(tmp_path, "b_bad.py", "raise ValueError('boom')\n")
    pool = AgentPool()
    with pytest.raises(DiscoveryError, match="b_bad.py failed: ValueError: boom"):
        pool.discover(tmp_path)
    assert pool.list_agents() == []


def test_decorator_rejects_bad_name_early() -> None:
    with pytest.raises(AgentConfigError, match="@agent_config name"):
        agent_config(name="no spaces please")


def test_imported_agent_classes_are_not_registered_twice(tmp_path: Path) -> None:
    write(
        tmp_path,
        "base.py",
        """
        from livekit.agents import Agent

        class Base(Agent):
            pass
    """,
    )
    write(
        tmp_path,
        "derived.py",
        """
        import importlib.util, pathlib
        from livekit.agents import Agent
        from livekit.agents import Agent as AlsoAgent  # imported names are ignored

        class Derived(Agent):
            pass
    """,
    )
    pool = AgentPool()
    assert [c.name for c in pool.discover(tmp_path)] == ["base", "derived"]
