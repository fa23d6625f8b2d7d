"""The harness: providers, tools, the agent loop and resilience behind one
facade, :class:`Harness`.

The runtime calls models, tools and agents only through a :class:`Harness`,
passing an :class:`~ragc.harness.types.EffectLog` (exactly-once memory), a
:class:`~ragc.harness.types.BudgetGuard` and an event sink::

    harness = Harness(registry, workspace=".")
    reply = await harness.complete("default", ModelRequest(messages=[...]),
                                   effects=log, key="m1", budget=guard, emit=sink)
    result = await harness.run_agent(harness.agent_spec("research_agent"), messages,
                                     effects=log, budget=guard, emit=sink)
    await harness.aclose()

The reference for users is ``docs/providers.md``.
"""

from __future__ import annotations

from typing import Any

# Imported on first use (PEP 562), so that a light submodule such as
# ragc.harness.tools.registry (which `ragc check` needs for tool argument
# schemas) does not load the facade's providers, httpx, rich and anyio.
_LAZY = {
    **dict.fromkeys(("KEY_ROTATION_KINDS", "RETRYABLE_KINDS", "BudgetExceeded", "ConfigError", "HarnessError",
                     "ProviderError", "ToolError"), "ragc.harness.errors"),
    "Harness": "ragc.harness.facade",
    **dict.fromkeys(("CircuitBreaker", "ResilienceSettings", "ResilienceStats", "ResilientModel"),
                    "ragc.harness.resilience"),
    **dict.fromkeys(("AgentResult", "AgentSpec", "BudgetGuard", "EffectLog", "EventSink", "Message", "ModelClient",
                     "ModelRequest", "ModelResponse", "NoBudget", "NullEffectLog", "StreamDelta", "ToolCall",
                     "ToolResult", "ToolSpec", "Usage"), "ragc.harness.types"),
}


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'ragc.harness' has no attribute {name!r}")
    import importlib

    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value


__all__ = [
    "AgentResult", "AgentSpec", "BudgetExceeded", "BudgetGuard", "CircuitBreaker", "ConfigError", "EffectLog",
    "EventSink", "Harness", "HarnessError", "KEY_ROTATION_KINDS", "Message", "ModelClient", "ModelRequest",
    "ModelResponse", "NoBudget", "NullEffectLog", "ProviderError", "RETRYABLE_KINDS", "ResilienceSettings",
    "ResilienceStats", "ResilientModel", "StreamDelta", "ToolCall", "ToolError", "ToolResult", "ToolSpec", "Usage",
]
