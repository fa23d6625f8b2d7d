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

from ragc.harness.errors import (KEY_ROTATION_KINDS, RETRYABLE_KINDS, BudgetExceeded, ConfigError, HarnessError,
                                 ProviderError, ToolError)
from ragc.harness.facade import Harness
from ragc.harness.resilience import CircuitBreaker, ResilienceSettings, ResilienceStats, ResilientModel
from ragc.harness.types import (AgentResult, AgentSpec, BudgetGuard, EffectLog, EventSink, Message, ModelClient,
                                ModelRequest, ModelResponse, NoBudget, NullEffectLog, StreamDelta, ToolCall,
                                ToolResult, ToolSpec, Usage)

__all__ = [
    "AgentResult", "AgentSpec", "BudgetExceeded", "BudgetGuard", "CircuitBreaker", "ConfigError", "EffectLog",
    "EventSink", "Harness", "HarnessError", "KEY_ROTATION_KINDS", "Message", "ModelClient", "ModelRequest",
    "ModelResponse", "NoBudget", "NullEffectLog", "ProviderError", "RETRYABLE_KINDS", "ResilienceSettings",
    "ResilienceStats", "ResilientModel", "StreamDelta", "ToolCall", "ToolError", "ToolResult", "ToolSpec", "Usage",
]
