"""Helpers of the harness tests: an in-memory effect log, a budget with
limits, an event recorder, and a harness factory with fast resilience
settings (tiny backoff, short breaker recovery)."""

from __future__ import annotations

from pathlib import Path
from typing import Any, Callable, Literal, Mapping

from ragc.harness import Harness, ResilienceSettings
from ragc.harness.errors import BudgetExceeded
from ragc.harness.types import Usage
from ragc.registry.model import AgentEntry, ModelEntry, PolicyEntry, Registry, ToolEntry

FAST = ResilienceSettings(base_delay_s=0.01, max_delay_s=5.0, breaker_threshold=3, breaker_recovery_s=0.6,
                          tool_breaker_threshold=2, tool_breaker_recovery_s=0.6, rate_limit_cooldown_s=0.2)


class MemoryEffectLog:
    """An EffectLog in a dict; ``puts`` lists the keys recorded, in order."""

    def __init__(self, values: dict[str, dict] | None = None):
        self.values: dict[str, dict] = dict(values or {})
        self.kinds: dict[str, str] = {}
        self.puts: list[str] = []

    def get(self, key: str) -> dict | None:
        return self.values.get(key)

    async def put(self, key: str, kind: Literal["model", "tool"], value: dict) -> None:
        self.values[key] = value
        self.kinds[key] = kind
        self.puts.append(key)


class LimitBudget:
    """A BudgetGuard with optional limits on model calls, tool calls and tokens."""

    def __init__(self, max_model_calls: int | None = None, max_tool_calls: int | None = None,
                 max_tokens: int | None = None):
        self.max_model_calls, self.max_tool_calls, self.max_tokens = max_model_calls, max_tool_calls, max_tokens
        self.model_calls = 0
        self.tool_calls = 0
        self.usage = Usage()

    def before_model_call(self) -> None:
        if self.max_model_calls is not None and self.model_calls >= self.max_model_calls:
            raise BudgetExceeded(f"max_model_calls {self.max_model_calls} reached", limit="max_model_calls")
        self.model_calls += 1

    def after_model_call(self, usage: Usage) -> None:
        self.usage = self.usage + usage
        if self.max_tokens is not None and self.usage.total_tokens > self.max_tokens:
            raise BudgetExceeded(f"max_tokens {self.max_tokens} exceeded", limit="max_tokens")

    def before_tool_call(self, name: str) -> None:
        if self.max_tool_calls is not None and self.tool_calls >= self.max_tool_calls:
            raise BudgetExceeded(f"max_tool_calls {self.max_tool_calls} reached", limit="max_tool_calls")
        self.tool_calls += 1


class Events(list):
    """An event sink that keeps everything; ``types()`` gives the class names."""

    def __call__(self, event: Any) -> None:
        self.append(event)

    def types(self) -> list[str]:
        return [type(e).__name__ for e in self]

    def of(self, name: str) -> list[Any]:
        return [e for e in self if type(e).__name__ == name]


def make_harness(models: Mapping[str, dict[str, Any]], *, tools: Mapping[str, dict] | None = None,
                 agents: Mapping[str, dict] | None = None, workspace: str | Path | None = None,
                 env: Mapping[str, str] | None = None, settings: ResilienceSettings = FAST,
                 policy: PolicyEntry | None = None, functions: Mapping[str, Callable] | None = None,
                 source: Path | None = None) -> Harness:
    registry = Registry(models={k: ModelEntry(**v) for k, v in models.items()},
                        tools={k: ToolEntry(**v) for k, v in (tools or {}).items()},
                        agents={k: AgentEntry(**v) for k, v in (agents or {}).items()})
    registry.source = source
    return Harness(registry, workspace=workspace or Path.cwd(), env=env or {}, settings=settings, policy=policy,
                   functions=functions)
