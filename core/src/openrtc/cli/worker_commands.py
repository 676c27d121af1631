"""Worker verbs (``start``, ``dev``) and ``list``: they share how a pool is put together.

No ``from __future__ import annotations`` here: typer hands parameter annotations to pydantic,
which cannot resolve aliases such as ``Url`` from their names, so they stay real objects.
"""

import json
import logging
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Annotated, Any, Optional

import typer

from openrtc.cli.flags import settings_command

if TYPE_CHECKING:
    from rich.console import Console

    from openrtc.cli.main import CliContext
    from openrtc.pool import AgentPool
    from openrtc.settings import Setting, Settings

OptStr = Optional[str]  # noqa: UP045  typer evaluates these annotations at run time

Url = Annotated[
    OptStr,
    typer.Option("--url", help="LiveKit URL [env LIVEKIT_URL]", rich_help_panel="Connection"),
]
ApiKey = Annotated[
    OptStr,
    typer.Option("--api-key", help="API key [env LIVEKIT_API_KEY]", rich_help_panel="Connection"),
]
ApiSecret = Annotated[
    OptStr,
    typer.Option(
        "--api-secret", help="API secret [env LIVEKIT_API_SECRET]", rich_help_panel="Connection"
    ),
]
LogLevel = Annotated[
    str,
    typer.Option(
        "--log-level",
        envvar="LIVEKIT_LOG_LEVEL",
        help="DEBUG, INFO, WARNING or ERROR.",
        rich_help_panel="Connection",
    ),
]
AgentsDir = Annotated[
    OptStr,
    typer.Argument(help="Directory of agent modules, one agent per file.", show_default=False),
]
AgentsDirOption = Annotated[
    OptStr,
    typer.Option("--agents-dir", help="Same as the AGENTS_DIR argument.", show_default=False),
]
DashboardFlag = Annotated[
    bool,
    typer.Option(
        "--dashboard",
        help="Show a live view of sessions, per-agent counters and memory; logs scroll above "
        "it. Updated every --metrics-interval seconds.",
        rich_help_panel="Metrics",
    ),
]


def _fail(message: str) -> typer.Exit:
    typer.echo(f"error: {message}", err=True)
    return typer.Exit(2)


def configure_logging(level: str, console: "Console | None" = None) -> None:
    name = level.upper()
    if name not in ("DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL"):
        raise _fail(f"--log-level {level!r} is not a level; use DEBUG, INFO, WARNING or ERROR")
    if console is None:
        logging.basicConfig(level=name, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
        return
    from rich.logging import RichHandler

    # through the dashboard's console, so log lines scroll above the live view, not through it
    handler = RichHandler(console=console, show_path=False)
    logging.basicConfig(level=name, format="%(name)s: %(message)s", handlers=[handler])


def build_pool(
    ctx: typer.Context,
    agents_dir: str | None,
    agents_dir_option: str | None,
    flags: dict[str, Any],
    plugins: dict[str, object] | None = None,
    failed: "Callable[[Settings, str], None] | None" = None,
) -> "AgentPool":
    """The pool of ``pool.run()``, or a new one from the agents directory; flags applied.

    Flags are applied before the directory's agents are imported, so that ``failed`` hears
    an agent that does not import together with the settings in force, before the command
    exits 2."""
    from openrtc.config import AgentConfigError
    from openrtc.plugins import PluginError, UnknownStrategyError
    from openrtc.settings import SettingError

    if agents_dir and agents_dir_option and agents_dir != agents_dir_option:
        raise _fail("AGENTS_DIR and --agents-dir disagree; give the directory once")
    directory = agents_dir or agents_dir_option
    cli: CliContext = ctx.obj
    given, new_pool = cli.pool, cli.new_pool
    if given is None and (directory is None or new_pool is None):
        raise _fail("no agents directory; run e.g. 'openrtc start ./agents'")
    try:
        pool = given if given is not None else new_pool()  # type: ignore[misc]
        pool.apply_flags(flags, plugins=plugins)
    except (AgentConfigError, PluginError, SettingError, UnknownStrategyError) as exc:
        raise _fail(str(exc)) from None
    try:
        if directory is not None:
            pool.discover(directory)
    except AgentConfigError as exc:
        error = _fail(str(exc))
        if failed is not None:
            failed(pool.settings, str(exc))
        raise error from None
    return pool


def tell_takeover_failed(settings: "Settings", url: str | None, reason: str) -> None:
    """A worker started with ``--takeover`` whose agents do not import: the workers it was to
    take over from record the rollback."""
    import os

    from openrtc.takeover import report_failed_start

    report_failed_start(settings, url or os.environ.get("LIVEKIT_URL", ""), reason)


def register(app: typer.Typer, settings: Sequence["Setting"]) -> None:
    def make_worker_command(name: str, devmode: bool, summary: str) -> None:
        @settings_command(settings)
        def command(
            ctx: typer.Context,
            flags: dict[str, Any],
            agents_dir: AgentsDir = None,
            agents_dir_option: AgentsDirOption = None,
            url: Url = None,
            api_key: ApiKey = None,
            api_secret: ApiSecret = None,
            log_level: LogLevel = "DEBUG" if devmode else "INFO",
            dashboard: DashboardFlag = False,
        ) -> None:
            plugins: dict[str, object] = {}
            if dashboard:
                from openrtc.cli.dashboard import Dashboard, DashboardPlugin

                view = Dashboard()
                plugins["openrtc-dashboard"] = DashboardPlugin(view)
                configure_logging(log_level, view.console)
            else:
                configure_logging(log_level)
            pool = build_pool(
                ctx,
                agents_dir,
                agents_dir_option,
                flags,
                plugins,
                failed=lambda settings, reason: tell_takeover_failed(settings, url, reason),
            )
            from openrtc.cli.process_exit import exit_after_serving
            from openrtc.cli.serving import run_worker

            code = run_worker(
                pool, url=url, api_key=api_key, api_secret=api_secret, devmode=devmode
            )
            exit_after_serving(code)

        command.__doc__ = summary
        app.command(name)(command)

    make_worker_command("start", False, "Run a production worker that serves every agent.")
    make_worker_command(
        "dev", True, "Run a development worker (debug logs, hot reload, no load limit)."
    )

    @app.command("list")
    @settings_command(settings)
    def list_agents(
        ctx: typer.Context,
        flags: dict[str, Any],
        agents_dir: AgentsDir = None,
        agents_dir_option: AgentsDirOption = None,
        as_json: Annotated[bool, typer.Option("--json", help="Versioned JSON output.")] = False,
        plain: Annotated[bool, typer.Option("--plain", help="One agent name per line.")] = False,
        resources: Annotated[bool, typer.Option("--resources", help="Source file sizes.")] = False,
    ) -> None:
        """List the agents a directory registers, with their providers and greeting."""
        pool = build_pool(ctx, agents_dir, agents_dir_option, flags)
        from openrtc.cli.render import agents_document, agents_table

        document = agents_document(pool, resources=resources)
        if as_json:
            typer.echo(json.dumps(document, indent=2))
        elif plain:
            for agent in document["agents"]:
                typer.echo(agent["name"])
        else:
            agents_table(document)
