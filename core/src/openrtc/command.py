"""The ``openrtc`` console script: the command line, with pools made from an agents directory.

It lives outside ``openrtc.cli`` so that the CLI never imports the pool: ``AgentPool.run()``
hands the CLI its pool, and this entry point hands it a way to make one. With both edges
pointing inward there is no import cycle between the pool and the CLI.
"""

from __future__ import annotations

from collections.abc import Sequence


def main(argv: Sequence[str] | None = None) -> None:
    from openrtc.cli.main import run_cli
    from openrtc.pool import AgentPool

    run_cli(argv, new_pool=AgentPool)
