"""``openrtc console``: talk to one agent on this machine, with no LiveKit server.

No ``from __future__ import annotations``: typer reads these annotations at run time.
"""

from collections.abc import Sequence
from typing import TYPE_CHECKING, Annotated, Any, Optional

import typer

from openrtc.cli.flags import settings_command
from openrtc.cli.worker_commands import AgentsDir, AgentsDirOption, build_pool

if TYPE_CHECKING:
    from openrtc.pool import AgentPool
    from openrtc.settings import Setting

AgentName = Annotated[
    Optional[str],  # noqa: UP045  typer evaluates this annotation at run time
    typer.Option(
        "--agent",
        help="The agent to run; optional when only one is registered.",
        show_default=False,
    ),
]
TextMode = Annotated[
    bool,
    typer.Option("--text", help="Type to the agent and read its replies; no audio device needed."),
]
Offline = Annotated[
    bool,
    typer.Option(
        "--offline",
        help="Use the offline providers (openrtc-providers-offline) even where the agent has its "
        "own; without this flag they only fill providers the agent lacks.",
    ),
]
ConsoleLogLevel = Annotated[
    str,
    typer.Option(
        "--log-level",
        envvar="LIVEKIT_LOG_LEVEL",
        help="DEBUG, INFO, WARNING or ERROR; logs go to stderr, the conversation to stdout.",
    ),
]


def _fail(message: str, code: int = 2) -> typer.Exit:
    typer.echo(f"error: {message}", err=True)
    return typer.Exit(code)


def choose_agent(pool: "AgentPool", name: str | None) -> str:
    """The agent named by ``--agent``, or the only registered one; a one-line error otherwise."""
    registered = pool.list_agents()
    if name is not None:
        routed = pool.check_job("console", agent=name)
        if routed.rejected_by == "routing":
            raise _fail(routed.reason or f"agent '{name}' cannot be used")
        return name
    if len(registered) == 1:
        return registered[0]
    if not registered:
        raise _fail("no agents are registered; give a directory of agents, e.g. ./agents")
    raise _fail(
        f"{len(registered)} agents are registered ({', '.join(registered)}); choose one with "
        "--agent NAME"
    )


def register(app: typer.Typer, settings: Sequence["Setting"]) -> None:
    @app.command("console")
    @settings_command(settings)
    def console(
        ctx: typer.Context,
        flags: dict[str, Any],
        agents_dir: AgentsDir = None,
        agents_dir_option: AgentsDirOption = None,
        agent: AgentName = None,
        text: TextMode = False,
        offline: Offline = False,
        log_level: ConsoleLogLevel = "WARNING",
    ) -> None:
        """Talk to one agent locally, with no server: by microphone, or typed with --text."""
        from openrtc.cli.worker_commands import configure_logging

        configure_logging(log_level)
        pool = build_pool(ctx, agents_dir, agents_dir_option, flags)
        name = choose_agent(pool, agent)
        from openrtc.cli.console_session import ConsoleError, audio_unavailable, run_console

        if not text and (problem := audio_unavailable()):
            raise _fail(f"no audio device ({problem}); run with --text to type instead", code=1)
        try:
            code = run_console(pool, name, text=text, offline=offline)
        except ConsoleError as exc:
            raise _fail(str(exc), code=1) from None
        raise typer.Exit(code)
