"""The pool blueprint: what process isolation pickles into each session process, and the job
handlers a session process rebuilds from it."""

from __future__ import annotations

import json
import pickle
import subprocess
import sys
import textwrap
import threading
from pathlib import Path
from typing import Any

import pytest
from livekit.agents import Agent

import openrtc.session as session_module
from openrtc import AgentPool
from openrtc.blueprint import BlueprintError, SessionProcessFunctions
from openrtc.hookspecs import hookimpl


class Concierge(Agent):
    def __init__(self) -> None:
        super().__init__(instructions="concierge")


class Marker:
    """An in-process plugin carried as a pickled instance."""

    def __init__(self, label: str) -> None:
        self.label = label

    @hookimpl
    def openrtc_prewarm(self, proc: Any) -> None:
        proc.userdata["marker"] = self.label


AGENT_FILE = """
    from livekit.agents import Agent
    from openrtc import agent_config

    @agent_config(
        name="{name}", greeting="Hello from {name}.", session_kwargs={{"max_tool_steps": 3}}
    )
    class FileAgent(Agent):
        def __init__(self) -> None:
            super().__init__(instructions="{name}")
"""


def agents_dir(tmp_path: Path, *names: str) -> Path:
    directory = tmp_path / "agents"
    directory.mkdir()
    for name in names:
        source = textwrap.dedent(AGENT_FILE.format(name=name))
        (directory / f"{name}.py").write_text(source, encoding="utf-8")
    return directory


def make_pool(tmp_path: Path) -> AgentPool:
    pool = AgentPool(
        isolation="process",
        default_llm="openai/gpt-4.1-mini",
        default_greeting="Greet the caller.",
        default_session_kwargs={"turn_handling": {"min_endpointing_delay": 0.4}},
        max_concurrent_sessions=7,
        routers=["metadata"],
        plugin_settings={"process.job_memory_limit_mb": 512},
        plugins={"marker": Marker("shipped"), "session-module": session_module},
    )
    pool.add("concierge", Concierge, tts="cartesia/sonic-3", max_tool_steps=4)
    pool.discover(agents_dir(tmp_path, "billing"))
    return pool


def ship(pool: AgentPool) -> tuple[Any, Any]:
    """What livekit's process pool pickles into a job process, sent and received."""
    handlers = pool._runtime.handlers
    entrypoint, prewarm = pickle.loads(pickle.dumps((handlers.entrypoint, handlers.prewarm)))
    return entrypoint, prewarm


def test_handlers_cross_as_one_blueprint_and_rebuild_the_same_pool(tmp_path: Path) -> None:
    pool = make_pool(tmp_path)
    original = pool._runtime.handlers
    entrypoint, prewarm = ship(pool)

    functions = entrypoint.__self__
    assert isinstance(functions, SessionProcessFunctions)
    assert prewarm.__self__ is functions  # one blueprint, rebuilt once per process
    rebuilt = functions.handlers
    assert rebuilt is not original
    assert list(rebuilt.agents) == ["concierge", "billing"]
    assert dict(rebuilt.agents) == dict(original.agents)
    assert rebuilt.agents["concierge"].agent_cls is Concierge
    assert rebuilt.defaults == original.defaults
    assert dict(rebuilt.settings) == dict(original.settings)
    assert rebuilt.settings["process.job_memory_limit_mb"] == 512.0
    assert rebuilt.chain.names == ("metadata",)
    assert rebuilt.extra_plugins["session-module"] is session_module
    # the plugins are loaded again, with the in-process ones registered beside them
    active = {r.name for r in rebuilt.host.records if r.status == "active"}
    assert {"marker", "session-module", "openrtc-isolation-process"} <= active
    marker = rebuilt.host.manager.get_plugin("marker")
    assert isinstance(marker, Marker) and marker.label == "shipped"


def test_blocked_in_process_plugins_are_not_shipped(tmp_path: Path) -> None:
    pool = AgentPool(
        isolation="process",
        plugins={"locked": threading.Lock(), "marker": Marker("kept")},
        disable_plugins=["locked"],
    )
    pool.add("concierge", Concierge)
    rebuilt = ship(pool)[0].__self__.handlers
    assert set(rebuilt.extra_plugins) == {"marker"}


@pytest.mark.parametrize("where", ["default_stt", "agent 'concierge' llm"])
def test_a_part_that_cannot_be_pickled_is_named_in_one_line(where: str) -> None:
    lock = threading.Lock()
    pool = AgentPool(isolation="process", default_stt=lock if where == "default_stt" else None)
    pool.add("concierge", Concierge, llm=None if where == "default_stt" else lock)
    handlers = pool._runtime.handlers
    with pytest.raises(BlueprintError) as raised:
        pickle.dumps(handlers.entrypoint)
    message = str(raised.value)
    assert where in message and "isolation='coroutine'" in message
    assert "\n" not in message


MAIN_SCRIPT = """
    import pickle, sys
    from pathlib import Path
    from livekit.agents import Agent
    from openrtc import AgentPool


    class FrontDesk(Agent):
        def __init__(self) -> None:
            super().__init__(instructions="front desk")


    pool = AgentPool(isolation="process", default_greeting="Welcome.")
    pool.add("front-desk", FrontDesk, max_tool_steps=2)
    pool.discover(Path(__file__).parent / "agents")

    if __name__ == "__main__":
        handlers = pool._runtime.handlers
        with open(sys.argv[1], "wb") as out:
            pickle.dump((handlers.entrypoint, handlers.prewarm), out)
        with open(sys.argv[1] + ".runs", "a") as runs:
            runs.write("main ran\\n")
"""

REBUILD = """
    import json, pickle, sys
    with open(sys.argv[1], "rb") as shipped:
        entrypoint, prewarm = pickle.load(shipped)
    handlers = entrypoint.__self__.handlers
    print(json.dumps({
        "agents": {n: [c.agent_cls.__module__, c.agent_cls.__qualname__, c.greeting,
                       dict(c.session_options), dict(c.session_kwargs)]
                   for n, c in handlers.agents.items()},
        "greeting": handlers.defaults.greeting,
        "isolation": handlers.settings["isolation"],
    }))
"""


def test_a_fresh_interpreter_rebuilds_agents_from_main_and_discovered_files(
    tmp_path: Path,
) -> None:
    # what a forkserver job process faces: the worker's __main__ and the modules discover()
    # loaded by path are not importable by name there
    script = tmp_path / "app.py"
    script.write_text(textwrap.dedent(MAIN_SCRIPT), encoding="utf-8")
    shipped = tmp_path / "shipped.pickle"
    agents_dir(tmp_path, "billing")
    subprocess.run([sys.executable, str(script), str(shipped)], check=True)

    rebuild = textwrap.dedent(REBUILD)
    out = subprocess.run(
        [sys.executable, "-c", rebuild, str(shipped)],
        check=True,
        capture_output=True,
        text=True,
        cwd=tmp_path.parent,
    ).stdout
    result = json.loads(out.strip().splitlines()[-1])
    assert result["isolation"] == "process" and result["greeting"] == "Welcome."
    agents = result["agents"]
    assert list(agents) == ["front-desk", "billing"]
    # imported as multiprocessing's spawn does, under __mp_main__, and found as __main__
    assert agents["front-desk"] == ["__mp_main__", "FrontDesk", None, {"max_tool_steps": 2}, {}]
    assert agents["billing"][1:] == ["FileAgent", "Hello from billing.", {}, {"max_tool_steps": 3}]
    # the script ran once as the worker; the rebuild imported it without its main block
    assert (tmp_path / "shipped.pickle.runs").read_text() == "main ran\n"
