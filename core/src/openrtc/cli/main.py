"""Builds the ``openrtc`` application: built-in verbs, settings flags and plugin commands."""

from __future__ import annotations

import json
import logging
import sys
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Annotated, Any, Optional

import attrs
import typer

from openrtc.cli import plugin_listing
from openrtc.plugins import PluginError, load_and_resolve
from openrtc.settings import Setting, SettingError

if TYPE_CHECKING:
    from openrtc.pool import AgentPool

logger = logging.getLogger("openrtc.cli")


@attrs.define
class CliContext:
    """What commands share: the pool given to ``pool.run()``, or how to make one
    (``openrtc start DIR``); the CLI never imports the pool itself."""

    pool: AgentPool | None = None
    new_pool: Callable[[], AgentPool] | None = None


def fail(message: str, code: int = 2) -> typer.Exit:
    """Print a one-line error and return the exit to raise."""
    typer.echo(f"error: {message}", err=True)
    return typer.Exit(code)


AgentsDirArg = Annotated[
    Optional[str],  # noqa: UP045  typer reads this annotation at run time
    typer.Argument(help="Directory of agent modules (one agent per file).", show_default=False),
]
AgentsDirOpt = Annotated[
    Optional[str],  # noqa: UP045
    typer.Option("--agents-dir", help="Same as the positional AGENTS_DIR.", show_default=False),
]


def installed_plugins() -> tuple[list[Setting], Any]:
    """Kernel settings plus what installed, unblocked plugins declare, and their host."""
    loaded = load_and_resolve(diagnose=True)
    return list(loaded.declared), loaded.host


def build_app() -> typer.Typer:
    app = typer.Typer(
        name="openrtc",
        help="Run many LiveKit voice agents in one worker.",
        no_args_is_help=True,
        add_completion=False,
        pretty_exceptions_enable=False,
    )
    plugins_app = typer.Typer(help="Inspect installed OpenRTC plugins.", no_args_is_help=True)
    app.add_typer(plugins_app, name="plugins")

    @plugins_app.command("list")
    def plugins_list(
        as_json: Annotated[bool, typer.Option("--json", help="Machine-readable output.")] = False,
    ) -> None:
        """List installed plugins: distribution, version, status, hooks and strategies."""
        try:
            records = plugin_listing.collect()
        except SettingError as exc:
            raise fail(str(exc)) from None
        if as_json:
            typer.echo(json.dumps(plugin_listing.as_json_document(records), indent=2))
            return
        from openrtc.cli.render import plugins_table

        plugins_table(records)

    settings, host = installed_plugins()
    from openrtc.cli import worker_commands

    worker_commands.register(app, settings)
    from openrtc.cli import connect, console, top

    console.register(app, settings)
    connect.register(app, settings)
    top.register(app)
    host.hook.openrtc_cli(app=app)
    return app


def _app_or_exit() -> typer.Typer:
    try:
        return build_app()
    except (SettingError, PluginError) as exc:
        typer.echo(f"error: {exc}", err=True)
        raise SystemExit(2) from None


def run_cli(argv: Sequence[str] | None, *, new_pool: Callable[[], AgentPool]) -> None:
    """The ``openrtc`` command (see ``openrtc.command``): pools come from ``new_pool``."""
    app = _app_or_exit()
    app(
        args=list(argv) if argv is not None else sys.argv[1:],
        prog_name="openrtc",
        obj=CliContext(new_pool=new_pool),
    )


def run_pool_cli(pool: AgentPool, argv: Sequence[str] | None = None) -> None:
    """``pool.run()``: the same command line, serving the agents already on ``pool``."""
    app = _app_or_exit()
    app(
        args=list(argv) if argv is not None else sys.argv[1:],
        prog_name=sys.argv[0],
        obj=CliContext(pool=pool),
    )
