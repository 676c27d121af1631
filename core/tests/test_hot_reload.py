"""Hot reload: a good save swaps the agent class in the registry, a bad one changes nothing.

Real files, real imports, a real watcher (watchfiles); the serving path is in
tests/e2e/test_hot_reload.py."""

from __future__ import annotations

import asyncio
import sys
import textwrap
from pathlib import Path

import pytest
from livekit.agents import Agent

from openrtc import AgentPool
from openrtc.hot_reload import HotReload, watch_agents
from openrtc.reload import ReloadOutcome, reload_file

DENTAL = """
from livekit.agents import Agent

from openrtc import agent_config


@agent_config(name="dental")
class DentalAgent(Agent):
    def __init__(self) -> None:
        super().__init__(instructions={instructions!r})
"""


def write_agent(path: Path, instructions: str) -> None:
    path.write_text(textwrap.dedent(DENTAL.format(instructions=instructions)))


def instructions_of(pool: AgentPool, name: str = "dental") -> str:
    agent = pool.get(name).agent_cls()
    assert isinstance(agent, Agent)
    return agent.instructions


@pytest.fixture
def agents_dir(tmp_path: Path) -> Path:
    directory = tmp_path / "agents"
    directory.mkdir()
    write_agent(directory / "dental.py", "version one")
    return directory


@pytest.fixture
def pool(agents_dir: Path) -> AgentPool:
    made = AgentPool()
    made.discover(agents_dir)
    return made


def test_a_good_save_replaces_the_class_new_sessions_are_built_from(
    pool: AgentPool, agents_dir: Path
) -> None:
    old_cls = pool.get("dental").agent_cls
    write_agent(agents_dir / "dental.py", "version two")
    outcome = reload_file(agents_dir / "dental.py", pool._agents, Agent)
    assert outcome.applied, outcome.error
    assert outcome.agents == ("dental",)
    assert pool.get("dental").agent_cls is not old_cls
    assert instructions_of(pool) == "version two"
    # the module the class lives in is the fresh one
    assert sys.modules[old_cls.__module__] is sys.modules[pool.get("dental").agent_cls.__module__]
    assert vars(sys.modules[old_cls.__module__])["DentalAgent"] is pool.get("dental").agent_cls


@pytest.mark.parametrize(
    ("source", "expected"),
    [
        ("class Broken(:\n    pass\n", "dental.py:1: SyntaxError"),
        (
            "import os\n\nraise RuntimeError('no database')\n",
            "dental.py:3: RuntimeError: no database",
        ),
        (
            "from livekit.agents import Agent\n\nGREETING = 'half-written'\n",
            "defines no agent any more (it registered dental)",
        ),
    ],
    ids=["syntax-error", "raises-at-import", "no-agent-left"],
)
def test_a_bad_save_changes_nothing_and_names_file_and_line(
    pool: AgentPool, agents_dir: Path, source: str, expected: str
) -> None:
    old_cls = pool.get("dental").agent_cls
    module_before = sys.modules[old_cls.__module__]
    (agents_dir / "dental.py").write_text(source)
    outcome = reload_file(agents_dir / "dental.py", pool._agents, Agent)
    assert not outcome.applied
    assert expected in (outcome.error or "")
    assert pool.get("dental").agent_cls is old_cls
    assert sys.modules[old_cls.__module__] is module_before
    # the next good save applies
    write_agent(agents_dir / "dental.py", "fixed")
    assert reload_file(agents_dir / "dental.py", pool._agents, Agent).applied
    assert instructions_of(pool) == "fixed"


def test_a_discovered_module_is_the_registry_of_its_agents(
    pool: AgentPool, agents_dir: Path
) -> None:
    # renamed by @agent_config, a second agent added, the greeting changed: all followed
    (agents_dir / "dental.py").write_text(
        "from livekit.agents import Agent\nfrom openrtc import agent_config\n\n"
        "@agent_config(name='orthodontics', greeting='Say hello.')\n"
        "class Ortho(Agent):\n"
        "    def __init__(self) -> None:\n"
        "        super().__init__(instructions='braces')\n\n"
        "@agent_config(name='hygiene')\n"
        "class Hygiene(Agent):\n"
        "    def __init__(self) -> None:\n"
        "        super().__init__(instructions='cleaning')\n"
    )
    outcome = reload_file(agents_dir / "dental.py", pool._agents, Agent)
    assert outcome.applied, outcome.error
    assert (outcome.added, outcome.removed, outcome.replaced) == (
        ("orthodontics", "hygiene"),
        ("dental",),
        (),
    )
    assert pool.list_agents() == ["orthodontics", "hygiene"]
    assert pool.get("orthodontics").greeting == "Say hello."
    assert instructions_of(pool, "hygiene") == "cleaning"
    assert pool.get("hygiene").source_path == agents_dir / "dental.py"


def test_a_name_taken_by_another_file_changes_nothing(pool: AgentPool, agents_dir: Path) -> None:
    pool.add("other", Agent)  # registered elsewhere under the name the save will take
    write_agent(agents_dir / "dental.py", "x")
    source = (agents_dir / "dental.py").read_text().replace('name="dental"', 'name="other"')
    (agents_dir / "dental.py").write_text(source)
    outcome = reload_file(agents_dir / "dental.py", pool._agents, Agent)
    assert not outcome.applied
    assert "agent 'other' is already registered" in (outcome.error or "")
    assert pool.list_agents() == ["dental", "other"]


def test_a_class_given_to_add_reloads_from_its_module(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    package = tmp_path / "reload_pkg_add"
    package.mkdir()
    (package / "__init__.py").write_text("")
    source = package / "bots.py"
    source.write_text(
        "from livekit.agents import Agent\n\n"
        "class Support(Agent):\n"
        "    def __init__(self) -> None:\n"
        "        super().__init__(instructions='one')\n"
    )
    monkeypatch.syspath_prepend(str(tmp_path))
    from reload_pkg_add.bots import Support  # type: ignore[import-not-found]

    pool = AgentPool()
    pool.add("support", Support)
    source.write_text(source.read_text().replace("'one'", "'two'"))
    outcome = reload_file(source, pool._agents, Agent)
    assert outcome.applied, outcome.error
    assert instructions_of(pool, "support") == "two"
    assert sys.modules["reload_pkg_add.bots"].Support is pool.get("support").agent_cls


async def test_the_watcher_reloads_a_saved_file_once_per_save(
    pool: AgentPool, agents_dir: Path
) -> None:
    outcomes: list[ReloadOutcome] = []
    ready = asyncio.Event()
    watcher = asyncio.create_task(
        watch_agents(pool._agents, Agent, outcomes.append, ready=ready.set, debounce_ms=100)
    )
    try:
        await asyncio.wait_for(ready.wait(), 10)
        write_agent(agents_dir / "dental.py", "saved while serving")
        (agents_dir / "notes.txt").write_text("not an agent file")
        for _ in range(100):
            if outcomes:
                break
            await asyncio.sleep(0.1)
        await asyncio.sleep(0.5)  # an editor's burst is one save: no second reload follows
    finally:
        watcher.cancel()
    assert [o.applied for o in outcomes] == [True]
    assert instructions_of(pool) == "saved while serving"


def test_help_does_not_import_the_watcher() -> None:
    import subprocess

    result = subprocess.run(
        [sys.executable, "-X", "importtime", "-m", "openrtc.cli", "--help"],
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    )
    imported = {line.rsplit("|", 1)[-1].strip() for line in result.stderr.splitlines()}
    assert "openrtc.cli" in " ".join(imported)  # the import log is there to be read
    assert not {name for name in imported if name.split(".")[0] == "watchfiles"}


@pytest.mark.parametrize(
    ("setting", "devmode", "watches"),
    [("auto", True, True), ("auto", False, False), ("on", False, True), ("off", True, False)],
)
def test_the_reload_setting_decides_whether_the_worker_watches(
    setting: str, devmode: bool, watches: bool
) -> None:
    assert HotReload.wanted(setting, devmode=devmode) is watches


async def test_a_failing_report_does_not_stop_the_watching(
    pool: AgentPool, agents_dir: Path
) -> None:
    outcomes: list[ReloadOutcome] = []

    def report(outcome: ReloadOutcome) -> None:
        outcomes.append(outcome)
        if len(outcomes) == 1:
            raise RuntimeError("an exporter blew up")

    ready = asyncio.Event()
    watcher = asyncio.create_task(
        watch_agents(pool._agents, Agent, report, ready=ready.set, debounce_ms=100)
    )
    try:
        await asyncio.wait_for(ready.wait(), 10)
        for version in ("second", "third"):
            write_agent(agents_dir / "dental.py", version)
            for _ in range(100):
                if len(outcomes) == ("second", "third").index(version) + 1:
                    break
                await asyncio.sleep(0.1)
    finally:
        watcher.cancel()
    assert len(outcomes) == 2
    assert instructions_of(pool) == "third"
