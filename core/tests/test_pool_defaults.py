"""The pool defaults (``default_stt``/``_llm``/``_tts``/``_greeting``) are settings like any other:
flag > ``OPENRTC_DEFAULT_*`` variable > ``AgentPool(...)`` > none, on every entry path.

The subprocess tests run the real command line both ways an application reaches it: an app file
calling ``pool.run()`` and ``openrtc VERB DIR``.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path
from typing import Any

import pytest
import typer
from livekit.agents import Agent

from openrtc import AgentPool
from openrtc.cli.main import build_app
from openrtc.cli.render import agents_document
from openrtc.settings import SettingError

DEFAULTS = ("default_stt", "default_llm", "default_tts", "default_greeting")
DEFAULT_ENV = tuple(f"OPENRTC_{name.upper()}" for name in DEFAULTS)

APP = """
from livekit.agents import Agent
from openrtc import AgentPool
class DentalAgent(Agent):
    def __init__(self) -> None:
        super().__init__(instructions="dental")
pool = AgentPool({constructor})
pool.add("dental", DentalAgent)
if __name__ == "__main__":
    pool.run()
"""

AGENT_FILE = """
from livekit.agents import Agent
class DentalAgent(Agent):
    def __init__(self) -> None:
        super().__init__(instructions="dental")
"""

SECRET = "sk-provider-0c4d9f"


class KeyedProvider:
    """Stands in for a provider instance that was handed its API key."""

    def __init__(self) -> None:
        self.api_key = SECRET

    def __repr__(self) -> str:
        return f"KeyedProvider(api_key={self.api_key!r})"


class Dental(Agent):
    def __init__(self) -> None:
        super().__init__(instructions="dental")


@pytest.fixture(autouse=True)
def no_default_env(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in DEFAULT_ENV:
        monkeypatch.delenv(name, raising=False)


def write_app(tmp_path: Path, constructor: str = 'default_greeting="Hello."') -> Path:
    app = tmp_path / "app.py"
    app.write_text(textwrap.dedent(APP.format(constructor=constructor)), encoding="utf-8")
    return app


def write_agents(tmp_path: Path) -> Path:
    directory = tmp_path / "agents"
    directory.mkdir()
    (directory / "dental.py").write_text(textwrap.dedent(AGENT_FILE), encoding="utf-8")
    return directory


def run(args: list[str], env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, *args],
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
        env={**os.environ, **(env or {})},
    )


def listed(args: list[str], env: dict[str, str] | None = None) -> dict[str, Any]:
    """The one agent ``args`` (a ``list --json`` command) lists, with the document's settings."""
    result = run(args, env)
    assert result.returncode == 0, result.stderr
    document = json.loads(result.stdout)
    [agent] = document["agents"]
    return {**agent, "settings": document["settings"]}


# -- through pool.run() ---------------------------------------------------------------------


def test_app_list_takes_the_default_llm_flag(tmp_path: Path) -> None:
    app = write_app(tmp_path)
    result = run([str(app), "list", "--json", "--default-llm", "openai/gpt-4.1-mini"])
    assert result.returncode == 0, result.stderr
    [agent] = json.loads(result.stdout)["agents"]
    assert agent["llm"] == "openai/gpt-4.1-mini"
    assert agent["greeting"] == "Hello."  # the constructor's value is kept


def test_app_list_takes_the_default_llm_variable(tmp_path: Path) -> None:
    app = write_app(tmp_path)
    agent = listed([str(app), "list", "--json"], {"OPENRTC_DEFAULT_LLM": "openai/gpt-4.1-mini"})
    assert agent["llm"] == "openai/gpt-4.1-mini"
    assert agent["settings"]["default_llm"] == "openai/gpt-4.1-mini"


@pytest.mark.parametrize(
    ("flag", "env", "expected"),
    [
        (None, None, ("ctor/llm", "Hello.")),
        (None, ("env/llm", "From env."), ("env/llm", "From env.")),
        (("flag/llm", "From flag."), ("env/llm", "From env."), ("flag/llm", "From flag.")),
    ],
)
def test_app_flag_beats_variable_beats_constructor(
    tmp_path: Path,
    flag: tuple[str, str] | None,
    env: tuple[str, str] | None,
    expected: tuple[str, str],
) -> None:
    app = write_app(tmp_path, 'default_llm="ctor/llm", default_greeting="Hello."')
    flags = ["--default-llm", flag[0], "--default-greeting", flag[1]] if flag else []
    variables = {"OPENRTC_DEFAULT_LLM": env[0], "OPENRTC_DEFAULT_GREETING": env[1]} if env else {}
    result = run([str(app), "list", "--json", *flags], variables)
    assert result.returncode == 0, result.stderr
    [agent] = json.loads(result.stdout)["agents"]
    assert (agent["llm"], agent["greeting"]) == expected


# -- through openrtc VERB DIR ---------------------------------------------------------------


def test_openrtc_list_takes_the_default_flags(tmp_path: Path) -> None:
    agents = write_agents(tmp_path)
    agent = listed(
        [
            "-m",
            "openrtc.cli",
            "list",
            str(agents),
            "--json",
            "--default-stt",
            "deepgram/nova-3",
            "--default-llm",
            "openai/gpt-4.1-mini",
            "--default-tts",
            "cartesia/sonic-3",
            "--default-greeting",
            "Greet the caller.",
        ]
    )
    assert (agent["stt"], agent["llm"], agent["tts"], agent["greeting"]) == (
        "deepgram/nova-3",
        "openai/gpt-4.1-mini",
        "cartesia/sonic-3",
        "Greet the caller.",
    )


def test_openrtc_list_takes_the_default_variables_and_flags_win(tmp_path: Path) -> None:
    agents = write_agents(tmp_path)
    env = {"OPENRTC_DEFAULT_LLM": "env/llm", "OPENRTC_DEFAULT_TTS": "env/tts"}
    by_env = listed(["-m", "openrtc.cli", "list", str(agents), "--json"], env)
    assert (by_env["llm"], by_env["tts"]) == ("env/llm", "env/tts")
    both = listed(
        ["-m", "openrtc.cli", "list", str(agents), "--json", "--default-llm", "flag/llm"], env
    )
    assert (both["llm"], both["tts"]) == ("flag/llm", "env/tts")


@pytest.mark.parametrize("verb", ["start", "console", "connect"])
@pytest.mark.parametrize("entry", ["app", "openrtc"])
def test_every_verb_resolves_the_defaults_as_settings(
    tmp_path: Path, verb: str, entry: str
) -> None:
    # a blank provider is refused by the settings resolver before anything runs, naming the
    # flag: proof that the value reached it on this path
    if entry == "app":
        command = [str(write_app(tmp_path)), verb]
    else:
        command = ["-m", "openrtc.cli", verb, str(write_agents(tmp_path))]
    connection = ["--url", "ws://127.0.0.1:9", "--api-key", "k", "--api-secret", "s"]
    extra = {"start": connection, "console": ["--text"], "connect": ["--room", "r", *connection]}
    result = run([*command, *extra[verb], "--default-stt", " "])
    assert result.returncode == 2, result.stderr
    assert "--default-stt is empty for setting 'default_stt'" in result.stderr


def test_every_command_declares_the_default_flags() -> None:
    group = typer.main.get_group(build_app())
    for verb in ("start", "dev", "list", "console", "connect"):
        options = {opt for param in group.commands[verb].params for opt in param.opts}
        assert {"--default-stt", "--default-llm", "--default-tts", "--default-greeting"} <= options


# -- in process -----------------------------------------------------------------------------


@pytest.mark.parametrize("name", DEFAULTS)
def test_the_defaults_are_declared_settings(name: str, monkeypatch: pytest.MonkeyPatch) -> None:
    pool = AgentPool()
    assert pool.settings[name] is None and pool.settings.source(name) == "default"
    declaration = pool.settings.declaration(name)
    assert declaration.flag == "--" + name.replace("_", "-")
    assert declaration.env == "OPENRTC_" + name.upper()
    monkeypatch.setenv(declaration.env, "from/env")
    pool = AgentPool(**{name: "from/ctor"})  # type: ignore[arg-type]
    assert (pool.settings[name], pool.settings.source(name)) == ("from/env", "env")
    pool.apply_flags({name: "from/flag"})
    assert (pool.settings[name], pool.settings.source(name)) == ("from/flag", "flag")


def test_a_provider_object_from_the_constructor_is_kept_and_a_flag_replaces_it() -> None:
    provider = KeyedProvider()
    pool = AgentPool(default_stt=provider)  # type: ignore[arg-type]
    pool.add("dental", Dental)
    assert pool.settings["default_stt"] is provider
    assert pool.defaults.stt is provider
    pool.apply_flags({"default_stt": "deepgram/nova-3"})
    assert pool.defaults.stt == "deepgram/nova-3"
    assert pool.settings.source("default_stt") == "flag"


def test_a_provider_object_is_shown_by_class_never_by_repr() -> None:
    pool = AgentPool(default_llm=KeyedProvider(), default_greeting="Hello.")  # type: ignore[arg-type]
    pool.add("dental", Dental)
    shown = f"{__name__}.KeyedProvider"
    line = pool.settings.overridden()
    assert f"default_llm={shown} (constructor)" in line
    assert "default_greeting=Hello. (constructor)" in line
    document = agents_document(pool, resources=False)
    assert document["settings"]["default_llm"] == shown
    assert document["agents"][0]["llm"] == shown
    outputs = [line, json.dumps(document), repr(pool.defaults)]
    assert not [text for text in outputs if SECRET in text]


def test_blank_provider_text_names_the_variable(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OPENRTC_DEFAULT_TTS", "  ")
    with pytest.raises(SettingError, match="OPENRTC_DEFAULT_TTS is empty") as raised:
        AgentPool()
    assert "provider/model" in str(raised.value)
