"""Provider registration and construction.

:data:`PROVIDERS` maps a registry ``provider = "..."`` name to the class that
implements it, as a lazy ``"module:Class"`` reference so importing the
harness never imports llama.cpp or a provider nobody uses.

:func:`create_provider` builds one provider instance for one registry model
and one API key: it substitutes ``${VAR}`` references in ``base_url`` and the
key (the only moment they are substituted, so checking a workflow never needs
a key) and wraps the provider in the ReAct text protocol when the entry says
``tool_protocol = "react"``.
"""

from __future__ import annotations

import importlib
from typing import Any, Mapping

from ragc.harness.errors import ConfigError
from ragc.harness.providers.base import Provider, ProviderContext
from ragc.registry.env import UnsetVariable, substitute
from ragc.registry.model import ModelEntry

PROVIDERS: dict[str, str] = {
    "openai": "ragc.harness.providers.openai:OpenAIProvider",
    "anthropic": "ragc.harness.providers.anthropic:AnthropicProvider",
    "ollama": "ragc.harness.providers.ollama:OllamaProvider",
    "local": "ragc.harness.providers.local:LocalProvider",
    "scripted": "ragc.harness.providers.scripted:ScriptedProvider",
}
"""Provider name -> ``"module:Class"``; each class is constructed as
``Cls(name, entry, ctx: ProviderContext)``."""


def provider_class(provider: str) -> type:
    """Import and return the class registered for ``provider``.

    Raises:
        ConfigError: the name is not registered, or its module cannot be imported.
    """
    ref = PROVIDERS.get(provider)
    if ref is None:
        raise ConfigError(f"unknown provider `{provider}`",
                          hint=f"use one of: {', '.join(sorted(PROVIDERS))}")
    module_name, _, attr = ref.partition(":")
    try:
        module = importlib.import_module(module_name)
    except ImportError as exc:
        raise ConfigError(f"provider `{provider}` cannot be loaded: {exc}",
                          hint="reinstall ragc (`pip install -e .`)") from exc
    try:
        return getattr(module, attr)
    except AttributeError as exc:
        raise ConfigError(f"provider `{provider}`: {module_name} has no class {attr}") from exc


def substitute_field(model: str, field: str, value: str, env: Mapping[str, str]) -> str:
    """``value`` with its ``${VAR}`` references replaced from ``env``.

    Raises:
        ConfigError: a variable without default is unset; the message names the
            variable, the model and the field.
    """
    try:
        return substitute(value, env)
    except UnsetVariable as exc:
        raise ConfigError(
            f"model `{model}`: environment variable `{exc.name}` (used in `{field}`) is not set",
            hint=f"export {exc.name}=... or give a default in registry.toml: ${{{exc.name}:-value}}",
        ) from None


def api_keys(name: str, entry: ModelEntry, env: Mapping[str, str]) -> list[str | None]:
    """The substituted API keys of ``entry`` in rotation order: ``api_keys``
    if given, else ``[api_key]``, else ``[None]`` (no key needed). Empty keys
    are dropped.

    Raises:
        ConfigError: an unset ``${VAR}`` (see :func:`substitute_field`), or
            a value with a control character (:mod:`ragc.registry.secrets`).
    """
    from ragc.registry.secrets import SecretValueError, validate_secret

    raw: list[str] = list(entry.api_keys) or ([entry.api_key] if entry.api_key else [])
    field = "api_keys" if entry.api_keys else "api_key"
    keys = []
    for k in raw:
        value = substitute_field(name, field, k, env)
        try:
            # a trailing newline is stripped (with a warning); other control characters are refused,
            # and the value is redacted from every message, event and journal record from now on
            value = validate_secret(value, where=f"model `{name}`: {field}") if "${" in k else value
        except SecretValueError as exc:
            raise ConfigError(str(exc), hint=f"set the variable of `{k}` to the key alone, without control "
                                             "characters (e.g. `export VAR=\"$(tr -d '\\r\\n' < key.txt)\"`)") from None
        if value:
            keys.append(value)
    return list(keys) if keys else [None]


def resolved_entry(name: str, entry: ModelEntry, env: Mapping[str, str]) -> ModelEntry:
    """``entry`` with ``${VAR}`` substituted in ``base_url`` (keys are passed
    separately through :class:`ProviderContext`).

    Raises:
        ConfigError: an unset variable.
    """
    updates: dict[str, Any] = {}
    if entry.base_url:
        updates["base_url"] = substitute_field(name, "base_url", entry.base_url, env)
    return entry.model_copy(update=updates) if updates else entry


def create_provider(name: str, entry: ModelEntry, ctx: ProviderContext, *,
                    react: bool | None = None) -> Provider:
    """Construct the provider for registry model ``name``.

    Args:
        name: the registry name (``[models.NAME]``).
        entry: its entry (``${VAR}`` not yet substituted).
        ctx: base dir, environment, shared HTTP client and the API key to use
            (already substituted; see :func:`api_keys`).
        react: wrap in the ReAct text protocol; default: ``entry.tool_protocol == "react"``.

    Raises:
        ConfigError: unknown provider, unset ``${VAR}``, invalid entry.
    """
    cls = provider_class(entry.provider)
    entry = resolved_entry(name, entry, ctx.env)
    provider: Provider = cls(name, entry, ctx)
    if react if react is not None else entry.tool_protocol == "react":
        from ragc.harness.providers.react import ReactProvider

        provider = ReactProvider(provider)
    return provider


__all__ = ["PROVIDERS", "Provider", "ProviderContext", "api_keys", "create_provider", "provider_class",
           "resolved_entry", "substitute_field"]
