"""The deployment version a worker derives from its agents' code, and its probe answers."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

from openrtc.deployment import deployment_version, source_version
from openrtc.probes import WorkerProbes


def agent_class(path: Path, name: str) -> type:
    spec = importlib.util.spec_from_file_location(name, path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    spec.loader.exec_module(module)
    cls: type = module.Front
    return cls


def test_the_same_code_gives_the_same_version_and_a_change_a_new_one(tmp_path: Path) -> None:
    source = "class Front:\n    greeting = 'hello'\n"
    (tmp_path / "a").mkdir()
    (tmp_path / "b").mkdir()
    (tmp_path / "a" / "front.py").write_text(source)
    (tmp_path / "b" / "front.py").write_text(source)
    first = agent_class(tmp_path / "a" / "front.py", "front_a")
    copy = agent_class(tmp_path / "b" / "front.py", "front_b")
    version = source_version([first])
    assert version.startswith("src-") and len(version) == 12
    assert source_version([copy]) == version  # another checkout of the same code
    (tmp_path / "b" / "front.py").write_text(source.replace("hello", "hi"))
    assert source_version([copy]) != version
    assert deployment_version("2026.12.1", [first]) == "2026.12.1"


def test_ready_names_every_reason_it_is_not() -> None:
    state = {"registered": False, "draining": False, "load": 0.2}
    probes = WorkerProbes(
        version="v7",
        registered=lambda: bool(state["registered"]),
        draining=lambda: bool(state["draining"]),
        load=lambda: float(state["load"]),
        active=lambda: 3,
    )
    assert probes.live().status == 200
    answer = probes.ready()
    assert (answer.status, answer.body["reasons"]) == (503, ["not registered with LiveKit"])
    state["registered"] = True
    assert probes.ready().status == 200
    state.update(draining=True, load=1.0)
    answer = probes.ready()
    assert answer.status == 503
    assert answer.body["reasons"] == ["draining", "full: reporting load 1.0"]


def test_the_audit_trail_has_each_step_once_with_version_pid_and_counts() -> None:
    import os

    from openrtc.audit import DeploymentAudit
    from openrtc.runtime import RuntimeState

    state = RuntimeState(
        isolation="coroutine", max_concurrent_sessions=5, consecutive_failure_limit=0
    )
    trail: list[object] = []
    audit = DeploymentAudit(trail.append, state)
    audit.drain_completed()  # no drain yet: nothing to report
    audit.started("v7", "coroutine")
    audit.registered("AW_1")
    audit.registered("AW_1")  # a reconnection is not a second start
    state.session_started("j1", "dental", "r")
    state.session_started("j2", "dental", "r")
    state.session_ended("j1", "succeeded")
    audit.drain_started("SIGTERM")
    audit.drain_completed()  # drain_timeout passed with j2 still live
    kinds = [e.kind for e in trail]  # type: ignore[attr-defined]
    assert kinds == ["deployment_started", "deployment_ready", "drain_started", "drain_completed"]
    assert {(e.version, e.pid) for e in trail} == {("v7", os.getpid())}  # type: ignore[attr-defined]
    completed = trail[-1]
    assert (completed.sessions_left, completed.sessions_served) == (1, 2)  # type: ignore[attr-defined]
    assert trail[2].active_sessions == 1  # type: ignore[attr-defined]
