"""The ``openrtc`` command line. Heavy imports happen inside commands, never at import time.

The console script is ``openrtc.command:main``; ``AgentPool.run()`` calls ``run_pool_cli``.
"""

from openrtc.cli.main import run_pool_cli

__all__ = ["run_pool_cli"]
