"""``openrtc download-files``: fetch the model files livekit plugins read from the local cache.

Only the multilingual turn detector needs it (the VAD and the turn-detector-v1-mini model ship
inside their wheels). It runs where there is a network, typically while building an image, so
workers start offline.
"""

from __future__ import annotations

import importlib
import importlib.util
import logging

import typer

from openrtc_prewarm_livekit import multilingual

logger = logging.getLogger("openrtc.prewarm")

PLUGIN_MODULES = ("livekit.plugins.silero", multilingual.PLUGIN_PACKAGE)


class DownloadError(RuntimeError):
    """A plugin could not fetch its files; the message names the plugin and the likely fix."""


def download_all() -> list[str]:
    """Ask every installed livekit plugin to download its files; returns their titles."""
    import warnings

    from livekit.agents import Plugin

    for module in PLUGIN_MODULES:
        if importlib.util.find_spec(module) is None:
            continue
        with warnings.catch_warnings():
            # the turn-detector package announces its deprecation on import
            warnings.simplefilter("ignore", DeprecationWarning)
            importlib.import_module(module)
    done: list[str] = []
    for plugin in Plugin.registered_plugins:
        try:
            plugin.download_files()
        except Exception as exc:  # plugins raise RuntimeError, OSError or hub errors
            # hub errors span several lines; the command prints one
            reason = " ".join(str(exc).split())[:300]
            raise DownloadError(
                f"{plugin.title} could not download its files ({reason}); check the network "
                "and that HF_HUB_OFFLINE is not set"
            ) from exc
        done.append(plugin.title)
    return done


def register(app: typer.Typer) -> None:
    @app.command("download-files")
    def download_files() -> None:
        """Download the files livekit plugins need (the multilingual turn detector) once."""
        try:
            titles = download_all()
        except DownloadError as exc:
            typer.echo(f"error: {exc}", err=True)
            raise typer.Exit(1) from None
        typer.echo(f"downloaded files for: {', '.join(titles) or 'no installed plugin'}")
