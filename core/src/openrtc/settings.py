"""One mechanism for every setting: the pool's own and the ones plugins declare.

A value is taken from the first layer that has it: command-line flag, then environment variable
(``OPENRTC_*``), then the ``AgentPool`` constructor, then the declared default. Flag and
environment values arrive as text and are converted by the setting's kind; constructor values are
already typed and only validated.

The ``provider`` kind is for STT, LLM and TTS slots such as the pool's defaults: from a flag or
variable it is a ``provider/model`` string, from the constructor also any provider object (an
``stt.STT`` instance, say), passed through unchanged. Wherever a value is printed an object is
shown by its class, never by its ``repr``, which may carry an API key.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterable, Iterator, Mapping
from typing import Any, Literal

import attrs

Kind = Literal["str", "int", "float", "bool", "list", "provider"]
Source = Literal["flag", "env", "constructor", "default"]

_TRUE = frozenset({"1", "true", "yes", "on"})
_FALSE = frozenset({"0", "false", "no", "off", ""})


class SettingError(ValueError):
    """A setting has a value that cannot be used; the message names it and the fix."""


def _derived_env(name: str) -> str:
    return "OPENRTC_" + name.upper().replace(".", "_").replace("-", "_")


def _derived_flag(name: str) -> str:
    return "--" + name.lower().replace(".", "-").replace("_", "-")


@attrs.frozen
class Setting:
    """A declared setting: the kernel's own, or one a plugin returns from ``openrtc_settings``.

    ``name`` is the key used in ``AgentPool(plugin_settings={...})`` and in snapshots; plugin
    settings should be prefixed with the plugin's short name (``router_prefix.separator``).
    ``env`` and ``flag`` default to ``OPENRTC_<NAME>`` and ``--<name>``.
    """

    name: str
    kind: Kind
    default: Any
    help: str
    env: str = attrs.field(default=attrs.Factory(lambda s: _derived_env(s.name), takes_self=True))
    flag: str = attrs.field(default=attrs.Factory(lambda s: _derived_flag(s.name), takes_self=True))
    choices: tuple[str, ...] | None = None
    minimum: float | None = None
    secret: bool = False
    validator: Callable[[Any], str | None] | None = attrs.field(default=None, eq=False)

    def parse_text(self, raw: str, origin: str) -> Any:
        """Convert text from a flag or environment variable into this setting's kind."""
        text = raw.strip()
        try:
            if self.kind == "int":
                value: Any = int(text)
            elif self.kind == "float":
                value = float(text)
            elif self.kind == "bool":
                lowered = text.lower()
                if lowered not in _TRUE | _FALSE:
                    raise ValueError(text)
                value = lowered in _TRUE
            elif self.kind == "list":
                value = tuple(part.strip() for part in text.split(",") if part.strip())
            else:
                value = text
        except ValueError:
            raise SettingError(
                f"{origin}={raw!r} is not a valid {self.kind} for setting '{self.name}'; "
                f"{self._expectation()}"
            ) from None
        return self.check(value, origin)

    def check(self, value: Any, origin: str) -> Any:
        """Validate an already typed value; return it normalised or raise SettingError."""
        if self.kind == "provider":
            return self._check_provider(value, origin)
        expected: tuple[type, ...] = {
            "str": (str,),
            "int": (int,),
            "float": (int, float),
            "bool": (bool,),
            "list": (list, tuple),
        }[self.kind]
        if value is None and self.default is None:
            return None
        if not isinstance(value, expected) or (self.kind != "bool" and isinstance(value, bool)):
            raise SettingError(
                f"{origin}={value!r} has the wrong type for setting '{self.name}'; "
                f"{self._expectation()}"
            )
        if isinstance(value, (list, tuple)):
            value = tuple(str(item) for item in value)
        if self.kind == "float":
            value = float(value)
        if self.choices is not None and value not in self.choices:
            raise SettingError(
                f"{origin}={value!r} is not a known value for setting '{self.name}'; "
                f"choose one of: {', '.join(self.choices)}"
            )
        if self.minimum is not None and value < self.minimum:
            raise SettingError(
                f"{origin}={value!r} is too small for setting '{self.name}'; "
                f"use a value >= {self.minimum:g}"
            )
        if self.validator is not None and (problem := self.validator(value)) is not None:
            raise SettingError(f"{origin}={value!r} for setting '{self.name}': {problem}")
        return value

    def _check_provider(self, value: Any, origin: str) -> Any:
        if value is None:
            return None
        if isinstance(value, str):
            value = value.strip()
            if not value:
                raise SettingError(
                    f"{origin} is empty for setting '{self.name}'; {self._expectation()}"
                )
        if self.validator is not None and (problem := self.validator(value)) is not None:
            raise SettingError(f"{origin}={describe(value)!r} for setting '{self.name}': {problem}")
        return value

    def public(self, value: Any) -> Any:
        """``value`` as it may be printed or exported: secrets masked, objects by class."""
        if self.secret and value:
            return "***"
        if self.kind == "provider":
            return describe(value)
        return value

    def _expectation(self) -> str:
        if self.kind == "provider":
            return "use a 'provider/model' string such as 'openai/gpt-4.1-mini'"
        if self.kind == "bool":
            return "use one of 1/0, true/false, yes/no, on/off"
        if self.kind == "list":
            return "use a comma-separated list such as 'a,b'"
        if self.kind in ("int", "float"):
            floor = f" >= {self.minimum:g}" if self.minimum is not None else ""
            return f"use a {'whole ' if self.kind == 'int' else ''}number{floor}"
        return "use a text value"


@attrs.frozen
class ResolvedSetting:
    setting: Setting
    value: Any
    source: Source


class Settings(Mapping[str, Any]):
    """Resolved values by setting name, read-only; ``source(name)`` says which layer won."""

    def __init__(self, resolved: Mapping[str, ResolvedSetting]) -> None:
        self._resolved = dict(resolved)

    def __getitem__(self, name: str) -> Any:
        try:
            return self._resolved[name].value
        except KeyError:
            known = ", ".join(sorted(self._resolved)) or "none"
            raise KeyError(
                f"setting '{name}' is not declared; declared settings: {known}"
            ) from None

    def __iter__(self) -> Iterator[str]:
        return iter(self._resolved)

    def __len__(self) -> int:
        return len(self._resolved)

    def source(self, name: str) -> Source:
        return self._resolved[name].source

    def declaration(self, name: str) -> Setting:
        return self._resolved[name].setting

    def overridden(self) -> str:
        """``name=value (source)`` for each setting not left at its default, secrets masked:
        the one line a worker logs so an operator sees which flag or variable took effect."""
        public = self.public_items()
        parts = [
            f"{name}={_render(public[name])} ({item.source})"
            for name, item in self._resolved.items()
            if item.source != "default"
        ]
        return ", ".join(parts) if parts else "all defaults"

    def public_items(self) -> dict[str, Any]:
        """Values safe to print or export: secrets masked, provider objects by class."""
        return {name: item.setting.public(item.value) for name, item in self._resolved.items()}


def describe(value: Any) -> str | None:
    """A provider value as safe text: a string as given, an object by its class
    (``module.Class``), never its ``repr`` or fields, which may hold an API key."""
    if value is None or isinstance(value, str):
        return value
    return f"{type(value).__module__}.{type(value).__qualname__}"


def _render(value: Any) -> str:
    if isinstance(value, tuple | list):
        return ",".join(str(v) for v in value)
    return str(value)


def resolve(
    declarations: Iterable[Setting],
    *,
    flags: Mapping[str, Any] | None = None,
    env: Mapping[str, str] | None = None,
    constructor: Mapping[str, Any] | None = None,
) -> Settings:
    """Resolve every declared setting: flag > environment > constructor > default.

    ``flags`` maps setting names to values a command line already parsed (text or typed);
    ``env`` defaults to ``os.environ``. A constructor key that no declaration knows is an error,
    so a misspelled ``plugin_settings`` key never passes silently.
    """
    flags = flags or {}
    env = os.environ if env is None else env
    constructor = constructor or {}
    by_name: dict[str, Setting] = {}
    for setting in declarations:
        if setting.name in by_name:
            raise SettingError(f"setting '{setting.name}' is declared twice")
        by_name[setting.name] = setting
    for layer, values in (("constructor argument", constructor), ("flag", flags)):
        unknown = sorted(set(values) - set(by_name))
        if unknown:
            raise SettingError(
                f"unknown {layer} setting '{unknown[0]}'; declared settings: "
                f"{', '.join(sorted(by_name)) or 'none'}"
            )
    resolved: dict[str, ResolvedSetting] = {}
    for name, setting in by_name.items():
        resolved[name] = _resolve_one(setting, flags, env, constructor)
    return Settings(resolved)


def _resolve_one(
    setting: Setting, flags: Mapping[str, Any], env: Mapping[str, str], ctor: Mapping[str, Any]
) -> ResolvedSetting:
    flag_value = flags.get(setting.name)
    if flag_value is not None:
        value = (
            setting.parse_text(flag_value, setting.flag)
            if isinstance(flag_value, str) and setting.kind != "str"
            else setting.check(flag_value, setting.flag)
        )
        return ResolvedSetting(setting, value, "flag")
    env_value = env.get(setting.env)
    if env_value is not None and env_value != "":
        return ResolvedSetting(setting, setting.parse_text(env_value, setting.env), "env")
    ctor_value = ctor.get(setting.name)
    if ctor_value is not None:
        return ResolvedSetting(setting, setting.check(ctor_value, setting.name), "constructor")
    return ResolvedSetting(setting, setting.default, "default")
