"""Hot reload of the project modules agents import: a saved helper reaches every agent that
uses it, through every module in between, or changes nothing."""

from __future__ import annotations

import sys
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from livekit.agents import Agent

from openrtc import AgentPool
from openrtc.reload import reload_saved
from openrtc.reload_graph import project_graph

AGENT = """
from livekit.agents import Agent

from {package}.texts import INSTRUCTIONS


class {cls}(Agent):
    def __init__(self) -> None:
        super().__init__(instructions=INSTRUCTIONS)
"""


@pytest.fixture
def project(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[tuple[Path, str]]:
    """project/agents/{dental,restaurant}.py -> project/<package>/texts.py -> prompts.py"""
    package = f"helpers_{uuid.uuid4().hex[:8]}"
    (tmp_path / "agents").mkdir()
    (tmp_path / package).mkdir()
    (tmp_path / package / "__init__.py").write_text("")
    (tmp_path / package / "prompts.py").write_text("GREETING = 'first'\n")
    (tmp_path / package / "texts.py").write_text(
        f"import json\n\nfrom {package}.prompts import GREETING\n\n"
        "INSTRUCTIONS = json.dumps(GREETING)\n"
    )
    (tmp_path / package / "unused.py").write_text("X = 1\n")
    for name in ("dental", "restaurant"):
        (tmp_path / "agents" / f"{name}.py").write_text(
            AGENT.format(package=package, cls=name.title())
        )
    monkeypatch.syspath_prepend(str(tmp_path))
    yield tmp_path, package
    for name in [n for n in sys.modules if n.startswith(package)]:
        del sys.modules[name]


def instructions(pool: AgentPool, name: str) -> str:
    agent = pool.get(name).agent_cls()
    assert isinstance(agent, Agent)
    return agent.instructions


def test_the_graph_holds_the_project_modules_the_agents_import(
    project: tuple[Path, str],
) -> None:
    root, package = project
    pool = AgentPool()
    pool.discover(root / "agents")
    graph = project_graph(pool._agents)
    helpers = {name for name in graph if name.startswith(package)}
    assert helpers == {f"{package}.texts", f"{package}.prompts"}  # not unused, not json
    assert "json" not in graph and "livekit.agents" not in graph


def test_a_saved_helper_reaches_every_agent_through_the_modules_between(
    project: tuple[Path, str],
) -> None:
    root, package = project
    (root / "agents" / "billing.py").write_text(
        "from livekit.agents import Agent\n\nclass Billing(Agent):\n    pass\n"
    )
    pool = AgentPool()
    pool.discover(root / "agents")
    billing = pool.get("billing").agent_cls
    (root / package / "prompts.py").write_text("GREETING = 'second'\n")
    outcome = reload_saved(root / package / "prompts.py", pool._agents, Agent)
    assert outcome is not None and outcome.applied, outcome
    assert sorted(outcome.agents) == ["dental", "restaurant"]
    assert pool.get("billing").agent_cls is billing  # it does not import the helper
    assert instructions(pool, "dental") == instructions(pool, "restaurant") == '"second"'
    texts = sys.modules[f"{package}.texts"]
    assert texts.INSTRUCTIONS == '"second"'
    assert sys.modules[package].texts is texts  # the package attribute follows


def test_a_bad_helper_save_changes_nothing(project: tuple[Path, str]) -> None:
    root, package = project
    pool = AgentPool()
    pool.discover(root / "agents")
    before = {name: sys.modules[name] for name in sys.modules if name.startswith(package)}
    old_cls = pool.get("dental").agent_cls
    (root / package / "texts.py").write_text(
        f"from {package}.prompts import GREETING\n\nINSTRUCTIONS = GREETING.upper(\n"
    )
    outcome = reload_saved(root / package / "texts.py", pool._agents, Agent)
    assert outcome is not None and not outcome.applied
    assert "texts.py:3: SyntaxError" in (outcome.error or "")
    assert {n: sys.modules[n] for n in sys.modules if n.startswith(package)} == before
    assert sys.modules[package].texts is before[f"{package}.texts"]
    assert pool.get("dental").agent_cls is old_cls
    # an agent that fails with the new helper also leaves the helper as it was
    (root / package / "texts.py").write_text("INSTRUCTIONS_RENAMED = 'x'\n")
    outcome = reload_saved(root / package / "texts.py", pool._agents, Agent)
    assert outcome is not None and "ImportError" in (outcome.error or "")
    assert "dental.py" in (outcome.error or "") or "restaurant.py" in (outcome.error or "")
    assert sys.modules[f"{package}.texts"] is before[f"{package}.texts"]


def test_a_file_no_agent_uses_is_not_reloaded(project: tuple[Path, str]) -> None:
    root, package = project
    pool = AgentPool()
    pool.discover(root / "agents")
    assert reload_saved(root / package / "unused.py", pool._agents, Agent) is None


async def test_the_watcher_sees_a_helper_in_another_directory(project: tuple[Path, str]) -> None:
    import asyncio

    from openrtc.hot_reload import watch_agents
    from openrtc.reload import ReloadOutcome

    root, package = project
    pool = AgentPool()
    pool.discover(root / "agents")
    outcomes: list[ReloadOutcome] = []
    ready = asyncio.Event()
    watcher = asyncio.create_task(
        watch_agents(pool._agents, Agent, outcomes.append, ready=ready.set, debounce_ms=100)
    )
    try:
        await asyncio.wait_for(ready.wait(), 10)
        (root / package / "prompts.py").write_text("GREETING = 'saved'\n")
        for _ in range(100):
            if outcomes:
                break
            await asyncio.sleep(0.1)
    finally:
        watcher.cancel()
    assert [sorted(o.agents) for o in outcomes if o.applied] == [["dental", "restaurant"]]
    assert instructions(pool, "restaurant") == '"saved"'


def test_a_job_process_runs_the_reloaded_helper_text_not_the_file(
    project: tuple[Path, str], tmp_path: Path
) -> None:
    # a process started after a good save and then a bad one runs what the worker validated
    import pickle
    import subprocess

    from openrtc.blueprint import PoolBlueprint

    root, package = project
    pool = AgentPool()
    pool.discover(root / "agents")
    (root / package / "prompts.py").write_text("GREETING = 'second'\n")
    assert reload_saved(root / package / "prompts.py", pool._agents, Agent) is not None
    (root / package / "prompts.py").write_text("GREETING = (\n")  # saved broken, not reloaded
    blueprint = PoolBlueprint.capture(
        agents=pool._agents, session_kwargs={}, settings={}, extra_plugins={}
    )
    (tmp_path / "blueprint.pickle").write_bytes(pickle.dumps(blueprint))
    child = subprocess.run(
        [
            sys.executable,
            "-c",
            "import pickle, sys\n"
            "bp = pickle.loads(open(sys.argv[1], 'rb').read())\n"
            "for agent in bp.contents().agents:\n"
            "    print(agent.name, agent.agent_cls().instructions)\n",
            str(tmp_path / "blueprint.pickle"),
        ],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert child.returncode == 0, child.stderr
    assert sorted(child.stdout.split("\n")[:2]) == ['dental "second"', 'restaurant "second"']
