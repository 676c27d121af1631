"""Each tenant's own providers, built from the tenancy file with the tenant's own keys.

    [tenants.acme.llm]
    use = "livekit.plugins.openai:LLM"          # a class or function, module:attribute
    model = "gpt-4o-mini"                        # passed as is
    api_key = { env = "ACME_OPENAI_API_KEY" }    # a reference: { env = NAME } or { file = PATH }

A value is passed to ``use`` as it is written, except a reference, which is resolved to the
secret it names. Keys are only ever references: an argument whose name says it holds a key,
secret, token or password must be one, so no key is ever written in the file. References are
checked when the file is read (a tenant whose key is missing is declined with the name of the
variable or file, never its content) and resolved again where the tenant's session is built.
Providers are built per tenant and cached per tenant for as long as the file does not change:
one tenant's sessions share that tenant's provider objects, never another tenant's.
"""

from __future__ import annotations

import importlib
import threading
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import attrs

SLOTS = ("stt", "llm", "tts")
SECRET_WORDS = ("key", "secret", "token", "password", "credential")


class TenantKeyError(ValueError):
    """A reference that does not resolve; the message names the reference, never a value."""


@attrs.frozen
class SecretRef:
    env: str | None = None
    file: str | None = None

    def describe(self) -> str:
        return f"environment variable {self.env}" if self.env else f"file {self.file}"

    def resolve(self, environ: Mapping[str, str]) -> str:
        if self.env is not None:
            value = environ.get(self.env)
            if not value:
                raise TenantKeyError(f"environment variable {self.env} is not set")
            return value
        assert self.file is not None
        try:
            value = Path(self.file).expanduser().read_text(encoding="utf-8").strip()
        except OSError as exc:
            raise TenantKeyError(f"file {self.file} cannot be read ({exc.strerror})") from None
        if not value:
            raise TenantKeyError(f"file {self.file} is empty")
        return value


@attrs.frozen
class ProviderSpec:
    """How to build one provider slot of a tenant."""

    slot: str
    use: str
    arguments: Mapping[str, Any] = attrs.field(factory=dict)

    def references(self) -> dict[str, SecretRef]:
        return {k: v for k, v in self.arguments.items() if isinstance(v, SecretRef)}

    def check(self, environ: Mapping[str, str]) -> str | None:
        """What keeps this slot from being built, or ``None``: every reference resolves."""
        for name, ref in self.references().items():
            try:
                ref.resolve(environ)
            except TenantKeyError as exc:
                return f"{self.slot}.{name}: {exc}"
        return None

    def build(self, environ: Mapping[str, str]) -> Any:
        module_name, _, attribute = self.use.partition(":")
        factory = getattr(importlib.import_module(module_name), attribute)
        arguments = {
            name: value.resolve(environ) if isinstance(value, SecretRef) else value
            for name, value in self.arguments.items()
        }
        return factory(**arguments)


def _reference(value: Mapping[str, Any], where: str) -> SecretRef:
    keys = set(value)
    if keys == {"env"} and isinstance(value["env"], str) and value["env"]:
        return SecretRef(env=value["env"])
    if keys == {"file"} and isinstance(value["file"], str) and value["file"]:
        return SecretRef(file=value["file"])
    raise ValueError(f'{where} must be a reference: {{ env = "NAME" }} or {{ file = "PATH" }}')


def parse_provider(slot: str, table: Any, where: str) -> ProviderSpec:
    """A ``[tenants.<id>.<slot>]`` table; raises ``ValueError`` naming what is wrong."""
    if not isinstance(table, dict):
        raise ValueError(f'{where} must be a table with use = "module:attribute"')
    use = table.get("use")
    if not isinstance(use, str) or ":" not in use:
        raise ValueError(
            f'{where}.use must name the class or function to build it, as "module:attribute"'
        )
    arguments: dict[str, Any] = {}
    for name, value in table.items():
        if name == "use":
            continue
        if isinstance(value, dict):
            arguments[name] = _reference(value, f"{where}.{name}")
        elif any(word in name.lower() for word in SECRET_WORDS):
            raise ValueError(
                f'{where}.{name} looks like a key: write a reference ({{ env = "NAME" }} or '
                f'{{ file = "PATH" }}), never the key itself'
            )
        else:
            arguments[name] = value
    return ProviderSpec(slot=slot, use=use, arguments=arguments)


class TenantProviders:
    """Built providers by tenant, for one version of the file (a new version starts afresh)."""

    def __init__(self) -> None:
        self._built: dict[tuple[str, object], dict[str, Any]] = {}
        self._lock = threading.Lock()

    def for_tenant(
        self,
        tenant: str,
        version: object,
        specs: Mapping[str, ProviderSpec],
        environ: Mapping[str, str],
    ) -> dict[str, Any]:
        key = (tenant, version)
        with self._lock:
            built = self._built.get(key)
            if built is None:
                # an older version's objects are dropped; sessions using them keep them
                self._built = {k: v for k, v in self._built.items() if k[1] == version}
                built = {slot: spec.build(environ) for slot, spec in specs.items()}
                self._built[key] = built
            return built
