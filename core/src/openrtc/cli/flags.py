"""Command-line options generated from ``Setting`` declarations (one declaration, one flag).

Typer reads a command's parameters from its signature, so a command that takes "every setting"
is given a generated ``__signature__``. Options carry no environment variable of their own: the
settings resolver applies ``OPENRTC_*`` variables, so the precedence lives in one place.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable, Sequence
from typing import Annotated, Any, Optional

import typer
from rich.markup import escape

from openrtc.settings import Setting

_PY_TYPES: dict[str, Any] = {
    "str": str,
    "int": int,
    "float": float,
    "bool": bool,
    "list": str,
    "provider": str,  # a provider object only comes from the constructor
}


def parameter_name(setting: Setting) -> str:
    return "setting__" + setting.name.replace(".", "__")


def setting_parameters(settings: Sequence[Setting]) -> list[inspect.Parameter]:
    params = []
    for setting in settings:
        py_type = _PY_TYPES[setting.kind]
        if setting.default is None:
            shown = "none"
        else:
            value = ",".join(setting.default) if setting.kind == "list" else setting.default
            shown = repr(value)
        # typer renders help as rich markup, where "[env ...]" would be read as a style tag
        # and vanish; rich's escape keeps the brackets literal
        help_text = escape(f"{setting.help} [env {setting.env}; default {shown}]")
        if setting.kind == "bool":
            option = typer.Option(
                setting.flag + "/" + setting.flag.replace("--", "--no-", 1),
                help=help_text,
                show_default=False,
                rich_help_panel="Settings",
            )
        else:
            option = typer.Option(
                setting.flag, help=help_text, show_default=False, rich_help_panel="Settings"
            )
        params.append(
            inspect.Parameter(
                parameter_name(setting),
                inspect.Parameter.KEYWORD_ONLY,
                default=None,
                annotation=Annotated[Optional[py_type], option],  # noqa: UP045 typer needs it
            )
        )
    return params


def with_setting_flags(
    function: Callable[..., Any], settings: Sequence[Setting]
) -> Callable[..., Any]:
    """Give ``function`` one extra keyword parameter per setting, for typer to expose."""
    signature = inspect.signature(function)
    own = [p for p in signature.parameters.values() if p.kind != inspect.Parameter.VAR_KEYWORD]
    function.__signature__ = signature.replace(  # type: ignore[attr-defined]
        parameters=[*own, *setting_parameters(settings)]
    )
    return function


def flags_from_kwargs(kwargs: dict[str, Any], settings: Sequence[Setting]) -> dict[str, Any]:
    """Pop the generated parameters out of ``kwargs`` into ``{setting name: value}``."""
    flags: dict[str, Any] = {}
    for setting in settings:
        value = kwargs.pop(parameter_name(setting), None)
        if value is not None:
            flags[setting.name] = value
    return flags


def settings_command(settings: Sequence[Setting]) -> Callable[[Any], Any]:
    """Decorator: expose every setting as a flag and pass them as ``flags`` to the command."""

    def decorate(function: Any) -> Any:
        def command(**kwargs: Any) -> None:
            flags = flags_from_kwargs(kwargs, settings)
            function(flags=flags, **kwargs)

        command.__name__ = function.__name__
        command.__doc__ = function.__doc__
        command.__signature__ = _without_flags(function)  # type: ignore[attr-defined]
        return with_setting_flags(command, settings)

    return decorate


def _without_flags(function: Any) -> Any:
    signature = inspect.signature(function)
    return signature.replace(
        parameters=[p for name, p in signature.parameters.items() if name != "flags"]
    )
