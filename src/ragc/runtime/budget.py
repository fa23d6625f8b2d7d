"""Budget accounting: model calls, tool calls, tokens and cost.

Budgets nest as *scopes*, each with optional limits and running counters:

* the run scope (the entry graph's ``budget``; counts the whole run,
  subgraphs and sub-agents included) -- its counters are the run's usage;
* the registry policy caps (``[policies.default]``, plus
  ``[policies.untrusted]`` for untrusted workflows);
* one scope per subgraph that declares a ``budget`` (counts its activations
  over the run);
* one scope per node that declares a ``budget`` (cumulative over that node's
  activations in the run).

An :class:`ActivationBudget` is the :class:`ragc.harness.types.BudgetGuard`
lent to the harness for one activation: it checks and updates every scope
that applies. A reply the harness serves from the journal (a resumed call)
is reported with ``after_model_call`` only; it is counted then, without a
limit check on the call count (the run was within its limits when it made
the call). A model or tool call is counted when it *starts* (so
concurrent branches cannot overshoot ``max_model_calls``); tokens and cost
are counted when a reply arrives, and a reply that crosses ``max_tokens`` or
``max_cost_usd`` fails the activation after the fact.

Units: tokens are provider tokens (input + output); cost is US dollars.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from ragc.harness.errors import BudgetExceeded
from ragc.harness.types import Usage

LIMITS = ("max_model_calls", "max_tool_calls", "max_tokens", "max_cost_usd")


@dataclass(slots=True)
class BudgetScope:
    """Limits (``None`` = unbounded) and counters of one scope.

    Args:
        label: how messages name the scope (``"node `draft`"``,
            ``"the graph"``, ``"policy `default`"``).
    """

    label: str
    max_model_calls: int | None = None
    max_tool_calls: int | None = None
    max_tokens: int | None = None
    max_cost_usd: float | None = None
    model_calls: int = 0
    tool_calls: int = 0
    input_tokens: int = 0
    output_tokens: int = 0
    cost_usd: float = 0.0

    @classmethod
    def from_limits(cls, label: str, limits: Any) -> "BudgetScope":
        """A scope from an object with the four ``max_*`` attributes (a
        ``BudgetIR`` or a registry ``PolicyEntry``); ``None`` -> no limits."""
        if limits is None:
            return cls(label)
        return cls(label, **{k: getattr(limits, k, None) for k in LIMITS})

    @property
    def limited(self) -> bool:
        return any(getattr(self, k) is not None for k in LIMITS)

    def usage(self) -> Usage:
        return Usage(input_tokens=self.input_tokens, output_tokens=self.output_tokens, cost_usd=self.cost_usd,
                     model_calls=self.model_calls, tool_calls=self.tool_calls)

    def add(self, usage: Usage | dict) -> None:
        """Add recorded usage (replay), without checking limits."""
        if isinstance(usage, dict):
            usage = Usage(**usage)
        self.model_calls += usage.model_calls
        self.tool_calls += usage.tool_calls
        self.input_tokens += usage.input_tokens
        self.output_tokens += usage.output_tokens
        self.cost_usd += usage.cost_usd


def _hint(scope: BudgetScope, limit: str) -> str:
    return f"raise `{limit}` in the `budget` of {scope.label} if this is expected"


@dataclass(slots=True)
class ActivationBudget:
    """The :class:`~ragc.harness.types.BudgetGuard` of one activation.

    Args:
        scopes: every scope that applies (run scope first).
        usage: what this activation used (recorded in the journal).

    Raises (from each method): :class:`ragc.harness.errors.BudgetExceeded`
    with ``limit`` set to the exhausted limit.
    """

    scopes: tuple[BudgetScope, ...]
    usage: BudgetScope = field(default_factory=lambda: BudgetScope("activation"))
    reserved: int = 0

    def before_model_call(self) -> None:
        for s in self.scopes:
            if s.max_model_calls is not None and s.model_calls >= s.max_model_calls:
                raise BudgetExceeded(f"{s.label} used its {s.max_model_calls} model calls (max_model_calls)",
                                     limit="max_model_calls", hint=_hint(s, "max_model_calls"))
            if s.max_tokens is not None and s.input_tokens + s.output_tokens >= s.max_tokens:
                raise BudgetExceeded(f"{s.label} has no tokens left (max_tokens {s.max_tokens})",
                                     limit="max_tokens", hint=_hint(s, "max_tokens"))
            if s.max_cost_usd is not None and s.max_cost_usd > 0 and s.cost_usd >= s.max_cost_usd:
                raise BudgetExceeded(f"{s.label} has no budget left (max_cost_usd ${s.max_cost_usd:.4f})",
                                     limit="max_cost_usd", hint=_hint(s, "max_cost_usd"))
        for s in self.scopes:
            s.model_calls += 1
        self.usage.model_calls += 1
        self.reserved += 1

    def after_model_call(self, usage: Usage) -> None:
        if self.reserved > 0:
            self.reserved -= 1
        else:  # a reply served from the journal: counted here (no before_model_call)
            for s in self.scopes:
                s.model_calls += 1
            self.usage.model_calls += 1
        inp, out, cost = usage.input_tokens, usage.output_tokens, usage.cost_usd
        self.usage.input_tokens += inp
        self.usage.output_tokens += out
        self.usage.cost_usd += cost
        exceeded: BudgetExceeded | None = None
        for s in self.scopes:
            s.input_tokens += inp
            s.output_tokens += out
            s.cost_usd += cost
            if exceeded is None:
                if s.max_tokens is not None and s.input_tokens + s.output_tokens > s.max_tokens:
                    exceeded = BudgetExceeded(
                        f"{s.label} used {s.input_tokens + s.output_tokens} tokens, over its max_tokens {s.max_tokens}",
                        limit="max_tokens", hint=_hint(s, "max_tokens"))
                elif s.max_cost_usd is not None and s.cost_usd > s.max_cost_usd + 1e-12:
                    exceeded = BudgetExceeded(
                        f"{s.label} spent ${_usd(s.cost_usd)}, over its max_cost_usd ${_usd(s.max_cost_usd)}",
                        limit="max_cost_usd", hint=_hint(s, "max_cost_usd"))
        if exceeded is not None:
            raise exceeded

    def before_tool_call(self, name: str) -> None:
        for s in self.scopes:
            if s.max_tool_calls is not None and s.tool_calls >= s.max_tool_calls:
                raise BudgetExceeded(f"{s.label} used its {s.max_tool_calls} tool calls (max_tool_calls)",
                                     limit="max_tool_calls", hint=_hint(s, "max_tool_calls"))
        for s in self.scopes:
            s.tool_calls += 1
        self.usage.tool_calls += 1

    def replayed_tool_call(self) -> None:
        """Count a tool call served from the journal (no limit check)."""
        for s in self.scopes:
            s.tool_calls += 1
        self.usage.tool_calls += 1

    def recorded_usage(self) -> dict[str, Any] | None:
        """This activation's usage as a JSON dict (``None`` when nothing was used)."""
        u = self.usage
        if not (u.model_calls or u.tool_calls or u.input_tokens or u.output_tokens):
            return None
        return {"model_calls": u.model_calls, "tool_calls": u.tool_calls, "input_tokens": u.input_tokens,
                "output_tokens": u.output_tokens, "cost_usd": u.cost_usd}


def _usd(amount: float) -> str:
    """Dollars with enough digits to tell a small spend from its limit
    (``0.0001`` and ``0.000063`` both round to ``0.0001`` at 4 places)."""
    if amount >= 0.01:
        return f"{amount:.4f}"
    return f"{amount:.8f}".rstrip("0").rstrip(".") or "0"
