"""The contract every provider implements.

A provider turns a :class:`ragc.harness.types.ModelRequest` into one call of
one backend (an HTTP API, the embedded llama.cpp model, a script) and returns
a :class:`ragc.harness.types.ModelResponse`. Providers do *not* retry, fall
back, rotate keys or break circuits: :mod:`ragc.harness.resilience` wraps
them for that. A provider raises :class:`ragc.harness.errors.ProviderError`
with the right ``kind`` for every failure so the wrapper can decide.

Each provider module exports one class registered in :data:`PROVIDERS`
(``ragc.harness.providers``) and constructed as
``Cls(name, entry, ctx)``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Mapping, Protocol

from ragc.harness.types import DeltaCallback, ModelRequest, ModelResponse
from ragc.registry.model import ModelEntry

if TYPE_CHECKING:  # only for annotations: importing httpx costs ~0.1 s (its CLI pulls in rich)
    import httpx


@dataclass
class ProviderContext:
    """What a provider may use besides its registry entry.

    Args:
        base_dir: directory that relative paths in the entry resolve against
            (the registry file's directory).
        env: environment for ``${VAR}`` substitution (usually ``os.environ``).
        http: a shared ``httpx.AsyncClient`` (connection pooling); providers
            must not close it.
        api_key: the key to use for this client (key rotation creates one
            provider instance per key); ``None`` when the provider needs none.
    """

    base_dir: Path
    env: Mapping[str, str]
    http: httpx.AsyncClient | None = None
    api_key: str | None = None
    extra: dict = field(default_factory=dict)


class Provider(Protocol):
    """One backend for one registry model."""

    name: str
    entry: ModelEntry

    async def complete(self, request: ModelRequest, *, on_delta: DeltaCallback | None = None) -> ModelResponse:
        """One call; raises ProviderError (kind set) on any failure."""
        ...

    async def aclose(self) -> None:
        """Release what the provider owns (not the shared http client)."""
        ...
