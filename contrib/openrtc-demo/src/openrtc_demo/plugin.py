from __future__ import annotations

from typing import Annotated

import typer

from openrtc.plugin import hookimpl


@hookimpl
def openrtc_cli(app: typer.Typer) -> None:
    @app.command("demo")
    def demo(
        callers: Annotated[
            int,
            typer.Option(
                "--callers", min=1, max=20, help="Simulated callers, spread over the agents."
            ),
        ] = 4,
        isolation: Annotated[
            str, typer.Option("--isolation", help="Isolation mode of the worker.")
        ] = "coroutine",
        host_network: Annotated[
            bool,
            typer.Option(
                "--host-network", help="Do not move the demo into a private network namespace."
            ),
        ] = False,
    ) -> None:
        """Run a local LiveKit server, a two-agent worker and simulated callers; print a summary."""
        from openrtc_demo.run import run_demo

        raise typer.Exit(run_demo(callers=callers, isolation=isolation, host_network=host_network))
