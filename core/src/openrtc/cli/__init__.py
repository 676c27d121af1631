"""The ``openrtc`` command line. Heavy imports happen inside commands, never at import time."""

from openrtc.cli.main import main, run_pool_cli

__all__ = ["main", "run_pool_cli"]
