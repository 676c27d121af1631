"""``openrtc connect --room NAME``: the worker joins one room directly and serves it.

Like livekit's own ``connect`` verb, the worker does not register for dispatch; it launches one
job into the room (creating the room if needed) and exits once that session ends, or drains on
SIGINT/SIGTERM like ``start``. No ``from __future__ import annotations``: typer reads these
annotations at run time.
"""

from collections.abc import Sequence
from typing import TYPE_CHECKING, Annotated, Any, Optional

import typer

from openrtc.cli.flags import settings_command
from openrtc.cli.worker_commands import (
    AgentsDir,
    AgentsDirOption,
    ApiKey,
    ApiSecret,
    LogLevel,
    Url,
    build_pool,
)

if TYPE_CHECKING:
    from openrtc.settings import Setting

OptStr = Optional[str]  # noqa: UP045  typer evaluates these annotations at run time

Room = Annotated[
    OptStr,
    typer.Option("--room", help="Name of the room to join (created if it does not exist)."),
]
AgentName = Annotated[
    OptStr,
    typer.Option(
        "--agent",
        help="The agent to serve the room with; default: the router chain decides from the "
        "room's name and metadata.",
        show_default=False,
    ),
]
ParticipantIdentity = Annotated[
    OptStr,
    typer.Option(
        "--participant-identity",
        help="The agent's identity in the room (default agent-<agent>-<random>).",
        show_default=False,
    ),
]


def _fail(message: str) -> typer.Exit:
    typer.echo(f"error: {message}", err=True)
    return typer.Exit(2)


def register(app: typer.Typer, settings: Sequence["Setting"]) -> None:
    @app.command("connect")
    @settings_command(settings)
    def connect(
        ctx: typer.Context,
        flags: dict[str, Any],
        agents_dir: AgentsDir = None,
        agents_dir_option: AgentsDirOption = None,
        room: Room = None,
        agent: AgentName = None,
        participant_identity: ParticipantIdentity = None,
        url: Url = None,
        api_key: ApiKey = None,
        api_secret: ApiSecret = None,
        log_level: LogLevel = "INFO",
    ) -> None:
        """Join one room directly (no dispatch) and serve it with one agent."""
        # checked here rather than by typer, so the error is one line like every other
        if room is None or not room.strip():
            raise _fail("--room is required: the room to join, e.g. --room support-1")
        if participant_identity is not None and not participant_identity.strip():
            raise _fail("--participant-identity is empty; omit it or give an identity")
        from openrtc.cli.worker_commands import configure_logging

        configure_logging(log_level)
        pool = build_pool(ctx, agents_dir, agents_dir_option, flags)
        if agent is not None:
            routed = pool.check_job(room, agent=agent)
            if routed.rejected_by == "routing":
                raise _fail(routed.reason or f"agent '{agent}' cannot serve room '{room}'")
        from openrtc.cli.serving import run_worker
        from openrtc.room_join import RoomJoin

        join = RoomJoin(room=room, agent=agent, participant_identity=participant_identity)
        from openrtc.cli.process_exit import exit_after_serving

        code = run_worker(
            pool, url=url, api_key=api_key, api_secret=api_secret, devmode=True, join=join
        )
        exit_after_serving(code)
