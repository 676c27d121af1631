"""The deployment examples in docs/deploy/ agree with each other and with the code: probe
paths, ports, flags and environment variables that exist, and stop timeouts that cover the
drain they configure."""

from __future__ import annotations

import configparser
import shlex
from pathlib import Path
from typing import Any

import yaml

from openrtc.cli.main import installed_plugins
from openrtc.probes import LIVE_PATH, READY_PATH

DEPLOY = Path(__file__).resolve().parents[1] / "docs" / "deploy"
SHUTDOWN_MARGIN_S = 10
"""What the worker needs after its drain: closing the server, exporters, session processes."""

SETTINGS = installed_plugins()[0]
FLAGS = {s.flag: s for s in SETTINGS}
ENVS = {s.env for s in SETTINGS} | {"LIVEKIT_URL", "LIVEKIT_API_KEY", "LIVEKIT_API_SECRET"}


def flag_values(argv: list[str]) -> dict[str, str]:
    """``--flag value`` pairs after ``openrtc start DIR``; every flag must be a real one."""
    assert argv[1:3] == ["start", argv[2]] and argv[0].endswith("openrtc"), argv
    values = dict(zip(argv[3::2], argv[4::2], strict=True))
    unknown = set(values) - set(FLAGS)
    assert not unknown, f"not flags of openrtc start: {unknown}"
    return values


def drain_timeout(values: dict[str, str]) -> float:
    return float(values.get("--drain-timeout", FLAGS["--drain-timeout"].default))


def test_the_kubernetes_deployment_rolls_without_dropping_calls() -> None:
    deployment: dict[str, Any] = yaml.safe_load((DEPLOY / "kubernetes.yaml").read_text())
    assert deployment["kind"] == "Deployment"
    rolling = deployment["spec"]["strategy"]["rollingUpdate"]
    assert rolling["maxUnavailable"] == 0 and rolling["maxSurge"] >= 1
    pod = deployment["spec"]["template"]["spec"]
    (container,) = pod["containers"]
    values = flag_values(container["args"])
    ports = {p["name"]: p["containerPort"] for p in container["ports"]}
    assert ports["http"] == int(values["--http-port"])
    assert container["readinessProbe"]["httpGet"] == {"path": READY_PATH, "port": "http"}
    assert container["livenessProbe"]["httpGet"] == {"path": LIVE_PATH, "port": "http"}
    assert pod["terminationGracePeriodSeconds"] >= drain_timeout(values) + SHUTDOWN_MARGIN_S
    names = {e["name"] for e in container["env"]}
    assert names <= ENVS, names - ENVS


def test_the_systemd_unit_stops_by_draining() -> None:
    unit = configparser.ConfigParser(interpolation=None, strict=False)
    unit.optionxform = str  # type: ignore[assignment,method-assign]
    unit.read_string((DEPLOY / "openrtc.service").read_text())
    service = unit["Service"]
    values = flag_values(shlex.split(service["ExecStart"]))
    assert service["KillSignal"] == "SIGTERM"
    assert service["KillMode"] == "mixed"
    assert float(service["TimeoutStopSec"]) >= drain_timeout(values) + SHUTDOWN_MARGIN_S
    assert int(values["--http-port"]) > 0  # a fixed port, so something can probe it
    name = service["Environment"].split("=", 1)[0]
    assert name in ENVS
