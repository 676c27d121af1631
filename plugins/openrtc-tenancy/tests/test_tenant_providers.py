"""Each tenant's providers are built with its own keys, in the kernel's own session assembly."""

from __future__ import annotations

from pathlib import Path

import pytest
from livekit.agents import Agent
from openrtc_tenancy.config import TenancyConfigError, parse

from openrtc import AgentPool
from openrtc.plugin import SessionSpec

TENANTS = """
[defaults]
session = { allow_interruptions = false }

[tenants.acme.llm]
use = "types:SimpleNamespace"
model = "small"
api_key = { env = "TEST_ACME_KEY" }

[tenants.globex.llm]
use = "types:SimpleNamespace"
model = "large"
api_key = { file = "KEYFILE" }
"""


class Dental(Agent):
    def __init__(self) -> None:
        super().__init__(instructions="dental")


@pytest.fixture
def pool(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> AgentPool:
    key_file = tmp_path / "globex.key"
    key_file.write_text("globex-secret-2\n")
    config = tmp_path / "tenants.toml"
    config.write_text(TENANTS.replace("KEYFILE", str(key_file)))
    monkeypatch.setenv("TEST_ACME_KEY", "acme-secret-1")
    made = AgentPool(plugin_settings={"tenancy.config": str(config)})
    made.add("dental", Dental)
    return made


def session_kwargs(pool: AgentPool, tenant: str) -> dict[str, object]:
    handlers = pool._runtime.handlers  # the entrypoint's own assembly of session options
    spec = SessionSpec(
        agent="dental",
        job_id=f"job-{tenant}",
        room_name="r",
        userdata={},
        settings=handlers.settings,
        labels={"tenant": tenant},
    )
    return handlers.plan(handlers.agents["dental"], spec).session_kwargs


def test_each_tenant_gets_providers_built_with_its_own_key(pool: AgentPool) -> None:
    acme, globex = session_kwargs(pool, "acme"), session_kwargs(pool, "globex")
    assert (acme["llm"].api_key, acme["llm"].model) == ("acme-secret-1", "small")  # type: ignore[attr-defined]
    assert globex["llm"].api_key == "globex-secret-2"  # type: ignore[attr-defined]
    assert acme["llm"] is not globex["llm"]
    assert acme["allow_interruptions"] is False
    # the same tenant's sessions share its objects while the file stays as it is
    assert session_kwargs(pool, "acme")["llm"] is acme["llm"]


def test_a_tenant_whose_key_is_missing_is_declined_naming_the_variable(
    pool: AgentPool, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.delenv("TEST_ACME_KEY")
    config = tmp_path / "tenants.toml"
    config.write_text(config.read_text() + "\n")  # a new version: keys are checked again
    verdict = pool.check_job("r", job_metadata='{"tenant": "acme"}')
    assert verdict.rejected_by == "tenant"
    assert verdict.reason == (
        "tenant 'acme' cannot be served: llm.api_key: environment variable TEST_ACME_KEY is not set"
    )
    assert pool.check_job("r", job_metadata='{"tenant": "globex"}').admitted


@pytest.mark.parametrize(
    ("table", "problem"),
    [
        ('use = "types:SimpleNamespace"\napi_key = "sk-live-123"', "looks like a key"),
        ('use = "types:SimpleNamespace"\napi_key = { vault = "x" }', "must be a reference"),
        ('model = "x"', "use must name the class or function"),
    ],
)
def test_keys_are_references_never_literals(table: str, problem: str) -> None:
    with pytest.raises(TenancyConfigError, match=problem) as caught:
        parse(f"[tenants.acme.llm]\n{table}\n", "t.toml")
    assert "sk-live-123" not in str(caught.value)
