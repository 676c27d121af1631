"""Every setting, as a flag and as an environment variable, through the real ``openrtc start``.

One worker runs per way of setting them (flags, environment, both); each row of the table is
then checked against the "settings in force" line that worker logged once it registered with
the real server. A setting declared by the kernel or an installed plugin without a row here
fails the completeness test, so a new flag cannot ship untested.
"""

from __future__ import annotations

import asyncio
import os
import re
import signal
import sys
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import pytest
import pytest_asyncio
from openrtc_demo import AGENTS_DIR
from openrtc_testing.env import free_tcp_port
from openrtc_testing.localserver import LocalLiveKitServer
from openrtc_testing.otlp import OtlpReceiver

from openrtc.cli.main import installed_plugins

pytestmark = pytest.mark.e2e


def table(tmp: Path, otlp_url: str) -> dict[str, tuple[str, str]]:
    """setting -> (value given on the command line / in the environment, value expected in
    force). The values differ from the defaults wherever a different value is cheap to run."""
    tenants = tmp / "tenants.toml"
    tenants.write_text("[tenants.house]\nmax_sessions = 2\n", encoding="utf-8")
    return {
        # provider strings are only resolved when a session starts, and none does here
        "default_stt": ("deepgram/nova-3", "deepgram/nova-3"),
        "default_llm": ("openai/gpt-4.1-mini", "openai/gpt-4.1-mini"),
        "default_tts": ("cartesia/sonic-3", "cartesia/sonic-3"),
        "default_greeting": ("Greet the caller.", "Greet the caller."),
        "isolation": ("coroutine", "coroutine"),
        "max_concurrent_sessions": ("7", "7"),
        "consecutive_failure_limit": ("2", "2"),
        "drain_timeout": ("12.5", "12.5"),
        "registration_timeout": ("45", "45.0"),
        # a bool that defaults to on: the switch given is its "--no-" form
        "session_close_ends_job": ("false", "False"),
        "reply_timeout": ("30", "30.0"),
        "transcript_timeout": ("20", "20.0"),
        "routers": ("metadata, fallback", "metadata,fallback"),
        "dispatch_name": ("flags-e2e", "flags-e2e"),
        "metrics_interval": ("0.5", "0.5"),
        "metrics_json_file": (str(tmp / "snap.json"), str(tmp / "snap.json")),
        "reload": ("on", "on"),
        "disable_plugins": ("openrtc-demo", "openrtc-demo"),
        "strict_plugins": ("true", "True"),
        "router_prefix.separator": ("_", "_"),
        "prewarm.vad": ("silero", "silero"),
        "prewarm.turn_detector": ("vad", "vad"),
        "prewarm.vad_inference": ("thread", "thread"),
        "agent_caps.limits": ("dental=3", "dental=3"),
        "process.job_memory_limit_mb": ("512", "512.0"),
        "process.num_idle_processes": ("0", "0"),
        "process.initialize_timeout": ("30", "30.0"),
        "prometheus_port": (str(free_tcp_port()), "<port>"),
        "prometheus_host": ("127.0.0.1", "127.0.0.1"),
        "metrics_jsonl": (str(tmp / "events.jsonl"), str(tmp / "events.jsonl")),
        "otel_endpoint": (otlp_url, otlp_url),
        "otel_service_name": ("flags-e2e", "flags-e2e"),
        "otel_export_interval": ("5", "5.0"),
        "overload.loop_lag_ms": ("250", "250.0"),
        "overload.loop_busy": ("0.8", "0.8"),
        "overload.host_cpu": ("0.95", "0.95"),
        "session_defaults.input_sample_rate": ("24000", "24000"),
        "session_defaults.input_gain_control": ("true", "True"),
        "session_defaults.sync_transcription": ("false", "False"),
        "session_defaults.output_bitrate": ("48000", "48000"),
        "session_defaults.input_frame_ms": ("100", "100"),
        "hybrid.hosts": ("3", "3"),
        "hybrid.start_timeout": ("45", "45.0"),
        "deployment_version": ("2026.12.1", "2026.12.1"),
        "http_port": (str(free_tcp_port()), "<port>"),
        # no other worker of dispatch name flags-e2e runs: the takeover takes over nothing
        "takeover": ("true", "True"),
        "takeover_timeout": ("90", "90.0"),
        "control_dir": (str(tmp / "ctl"), str(tmp / "ctl")),
        "tenancy.sources": ("room,job", "room,job"),
        "tenancy.field": ("customer", "customer"),
        "tenancy.default": ("house", "house"),
        "tenancy.required": ("true", "True"),
        "tenancy.config": (str(tenants), str(tenants)),
        "tenancy.refresh_s": ("10", "10.0"),
        "tenancy.unknown": ("default", "default"),
        "tenancy.breaker_window_s": ("30", "30.0"),
        "tenancy.breaker_min_sessions": ("3", "3"),
        "tenancy.breaker_failure_ratio": ("0.6", "0.6"),
        "tenancy.breaker_cooldown_s": ("20", "20.0"),
    }


DECLARED = {s.name: s for s in installed_plugins()[0]}
IN_FORCE = re.compile(r"(\S+?)=(.*?) \((flag|env|constructor)\)(?:, |$)")


def parse_in_force(line: str) -> dict[str, tuple[str, str]]:
    text = line.split("settings in force: ", 1)[1].strip()
    return {m.group(1): (m.group(2), m.group(3)) for m in IN_FORCE.finditer(text)}


async def run_worker(
    server: LocalLiveKitServer, flags: list[str], env: dict[str, str]
) -> tuple[dict[str, tuple[str, str]], str]:
    """Start ``openrtc start``, read the settings line after registration, SIGTERM it."""
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "openrtc.cli",
        "start",
        str(AGENTS_DIR),
        "--url",
        server.url,
        "--api-key",
        server.api_key,
        "--api-secret",
        server.api_secret,
        *flags,
        stdout=asyncio.subprocess.DEVNULL,
        stderr=asyncio.subprocess.PIPE,
        env={**os.environ, "PYTHONUNBUFFERED": "1", **env},
    )
    assert proc.stderr is not None
    log: list[str] = []
    found = ""
    try:
        async with asyncio.timeout(120):
            while line := (await proc.stderr.readline()).decode(errors="replace"):
                log.append(line)
                if "settings in force:" in line:
                    found = line
                    break
        assert found, "worker exited before logging its settings:\n" + "".join(log)[-3000:]
        proc.send_signal(signal.SIGTERM)
        rest = (await asyncio.wait_for(proc.stderr.read(), 60)).decode(errors="replace")
        code = await asyncio.wait_for(proc.wait(), 60)
        assert code == 0, "".join(log)[-2000:] + rest[-2000:]
    finally:
        if proc.returncode is None:
            proc.kill()
            await proc.wait()
    return parse_in_force(found), "".join(log)


@pytest.fixture(scope="module")
def otlp() -> Iterator[OtlpReceiver]:
    with OtlpReceiver() as receiver:
        yield receiver


@pytest.fixture(scope="module")
def rows(
    tmp_path_factory: pytest.TempPathFactory, otlp: OtlpReceiver
) -> dict[str, tuple[str, str]]:
    return table(tmp_path_factory.mktemp("flags"), otlp.url)


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def runs(
    livekit_server: LocalLiveKitServer, rows: dict[str, tuple[str, str]]
) -> AsyncIterator[dict[str, Any]]:
    flags: list[str] = []
    for name, (given, _) in rows.items():
        # a bool setting is a switch on the command line, --name or --no-name
        flag = DECLARED[name].flag
        if DECLARED[name].kind == "bool":
            flags.append(flag if given == "true" else flag.replace("--", "--no-", 1))
        else:
            flags += [flag, given]
    env = {DECLARED[name].env: given for name, (given, _) in rows.items()}
    by_flag, _ = await run_worker(livekit_server, flags, {})
    by_env, _ = await run_worker(livekit_server, [], env)
    # both at once: a flag with another value must win over the variable
    both, _ = await run_worker(
        livekit_server, ["--max-concurrent-sessions", "9", "--drain-timeout", "3"], env
    )
    yield {"flag": by_flag, "env": by_env, "both": both}


def test_every_declared_setting_has_a_row(rows: dict[str, tuple[str, str]]) -> None:
    assert set(rows) == set(DECLARED), "add a row for each new setting to table()"


@pytest.mark.parametrize("name", sorted(DECLARED))
@pytest.mark.parametrize("way", ["flag", "env"])
@pytest.mark.asyncio(loop_scope="module")
async def test_setting_takes_effect(
    name: str, way: str, runs: dict[str, Any], rows: dict[str, tuple[str, str]]
) -> None:
    given, expected = rows[name]
    in_force = runs[way]
    assert name in in_force, f"{DECLARED[name].flag if way == 'flag' else DECLARED[name].env} "
    value, source = in_force[name]
    assert source == way
    assert value == (given if expected == "<port>" else expected)


@pytest.mark.asyncio(loop_scope="module")
async def test_flag_wins_over_environment(runs: dict[str, Any]) -> None:
    both = runs["both"]
    assert both["max_concurrent_sessions"] == ("9", "flag")
    assert both["drain_timeout"] == ("3.0", "flag")
    assert both["dispatch_name"] == ("flags-e2e", "env")


@pytest.mark.asyncio(loop_scope="module")
async def test_the_otel_endpoint_really_received_metrics(
    runs: dict[str, Any], otlp: OtlpReceiver
) -> None:
    # each worker sends its last figures as it stops; the service name is the one given
    assert len(otlp.exports) >= 3, len(otlp.exports)
    assert otlp.last("openrtc.sessions.limit"), [p.metric for p in otlp.exports[-1]]


def test_file_settings_really_wrote_their_files(
    runs: dict[str, Any], rows: dict[str, tuple[str, str]]
) -> None:
    assert Path(rows["metrics_json_file"][0]).is_file()
    assert Path(rows["metrics_jsonl"][0]).is_file()
