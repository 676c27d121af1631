"""The ``openrtc demo`` command and its example agents."""

from pathlib import Path

AGENTS_DIR = Path(__file__).parent / "agents"
"""One module per example agent, ready for ``AgentPool.discover()``."""

__all__ = ["AGENTS_DIR"]
