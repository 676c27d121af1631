"""A virtualenv of its own for the reference implementation (PyPI ``openrtc``).

The reference and this workspace both install an import package named ``openrtc``, so the
reference never shares our interpreter. Its environment is built with ``uv`` from the package
registry (the only network the benchmark uses, before it moves into its private network), with
the offline providers installed from this checkout so both workers run identical providers.
"""

from __future__ import annotations

import json
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
PROVIDERS = REPO / "contrib" / "openrtc-providers-offline"
DEFAULT_ROOT = Path.home() / ".cache" / "openrtc" / "bench"
REPORTED = (
    "openrtc",
    "livekit-agents",
    "livekit",
    "livekit-plugins-silero",
    "livekit-plugins-turn-detector",
    "livekit-local-inference",
    "onnxruntime",
    "uvloop",
)
_VERSIONS = (
    "import importlib.metadata as m, json, sys\n"
    "out = {}\n"
    "for name in sys.argv[1:]:\n"
    "    try: out[name] = m.version(name)\n"
    "    except m.PackageNotFoundError: out[name] = None\n"
    "print(json.dumps(out))\n"
)


class ReferenceUnavailable(RuntimeError):
    """The reference environment could not be built; the message says why."""


@dataclass(frozen=True)
class ReferenceEnv:
    version: str
    python: Path
    packages: dict[str, str | None]


def installed_versions(
    python: Path | str, names: tuple[str, ...] = REPORTED
) -> dict[str, str | None]:
    done = subprocess.run(
        [str(python), "-c", _VERSIONS, *names],
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    )
    return dict(json.loads(done.stdout))


def _uv(*args: str) -> None:
    uv = shutil.which("uv")
    if uv is None:
        raise ReferenceUnavailable("`uv` is not on PATH; pip install uv, or pass --no-reference")
    done = subprocess.run([uv, *args], capture_output=True, text=True, timeout=1200, check=False)
    if done.returncode != 0:
        tail = " | ".join(done.stderr.strip().splitlines()[-4:])
        raise ReferenceUnavailable(f"`uv {' '.join(args[:3])} ...` failed: {tail}")


def ensure_reference(version: str, root: Path = DEFAULT_ROOT) -> ReferenceEnv:
    """Create or refresh ``root/openrtc-<version>`` and return its interpreter and packages."""
    venv = root / f"openrtc-{version}"
    python = venv / "bin" / "python"
    if not python.exists():
        root.mkdir(parents=True, exist_ok=True)
        _uv("venv", "--python", "3.11", str(venv))
    packages = installed_versions(python)
    if packages.get("openrtc") != version:
        # the extras a reference user installs: livekit-agents with Silero and the turn detector
        _uv("pip", "install", "--python", str(python), f"openrtc[livekit,cli]=={version}", "psutil")
    # always from this checkout, so a provider change reaches both workers
    _uv(
        "pip",
        "install",
        "--python",
        str(python),
        "--reinstall-package",
        "openrtc-providers-offline",
        str(PROVIDERS),
    )
    return ReferenceEnv(version=version, python=python, packages=installed_versions(python))
