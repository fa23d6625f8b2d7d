"""The objects a node executor works with.

An *activation* is one execution of one node in one frame (see
``docs/runtime.md``, "Activation ids"). The scheduler builds an
:class:`Activation` and hands it to the node kind's executor
(:mod:`ragc.runtime.nodes`), which returns a :class:`NodeOutput`.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from ragc.runtime.expressions import Scope

if TYPE_CHECKING:  # pragma: no cover
    from ragc.runtime.budget import ActivationBudget
    from ragc.runtime.compiled import CNode
    from ragc.runtime.replay import ActivationEffects
    from ragc.runtime.frames import Frame
    from ragc.runtime.scheduler import Run


class _NoWrite:
    __slots__ = ()

    def __repr__(self) -> str:
        return "NO_WRITE"


NO_WRITE: Any = _NoWrite()
"""Marker: the node writes nothing to its ``output`` channel."""

DEFAULT: Any = object()
"""Marker: write the result itself to the ``output`` channel."""


class NodeOutput:
    """What an executor returns.

    Args:
        result: the node's result (journaled; ``result`` in ``update``,
            route conditions and payloads).
        label: the route label the node chose (``None``: ``ok`` for
            outcome-routed nodes, none otherwise).
        write: the value written to ``output`` (default: ``result``;
            :data:`NO_WRITE` for nothing), e.g. several messages for a
            messages channel.
        extra: additional ``(channel, value)`` writes.
    """

    __slots__ = ("result", "label", "write", "extra")

    def __init__(self, result: Any, label: str | None = None, write: Any = DEFAULT,
                 extra: list[tuple[str, Any]] | None = None):
        self.result = result
        self.label = label
        self.write = write
        self.extra = extra


class Activation:
    """One execution of a node.

    Attributes:
        run: the :class:`~ragc.runtime.scheduler.Run`.
        frame: the frame it runs in (its state is ``frame.values``).
        node: the compiled node.
        id: the activation id (``dispatch#1/3:reviewer#1``).
        visit: the visit number of the node in this frame (1 = first).
        attempt: 1 for the first attempt, 2 after one retry...
        scope: the expression scope (``input``, ``state``, branch vars).
        effects: the :class:`~ragc.harness.types.EffectLog` for this
            attempt (keys ``m1``, ``t1``... are scoped to it; created on
            first use).
        budget: the :class:`~ragc.harness.types.BudgetGuard` (created on
            first use; shared by all attempts).
    """

    __slots__ = ("run", "frame", "node", "id", "attempt", "_scope", "_effects", "_budget", "visit")

    def __init__(self, run: "Run", frame: "Frame", node: "CNode", id: str, visit: int):
        self.run = run
        self.frame = frame
        self.node = node
        self.id = id
        self.visit = visit
        self.attempt = 1
        self._scope: Scope | None = None
        self._effects: "ActivationEffects | None" = None
        self._budget: "ActivationBudget | None" = None

    @property
    def scope(self) -> Scope:
        sc = self._scope
        if sc is None:
            f = self.frame
            sc = self._scope = Scope(f.input, f.values, f.vars, f.owned, None, f.error)
        return sc

    @property
    def effects(self) -> "ActivationEffects":
        e = self._effects
        if e is None:
            from ragc.runtime.replay import ActivationEffects

            run = self.run
            e = self._effects = ActivationEffects(run.recorder, self.id, run.recorded_effects(self.id),
                                                  "" if self.attempt == 1 else f"a{self.attempt}/",
                                                  self._tool_replayed)
        return e

    @property
    def budget(self) -> "ActivationBudget":
        b = self._budget
        if b is None:
            from ragc.runtime.budget import ActivationBudget

            b = self._budget = ActivationBudget(self.run.scopes_for(self.frame, self.node))
        return b

    def _tool_replayed(self) -> None:
        self.budget.replayed_tool_call()

    def recorded_usage(self) -> dict | None:
        """What this activation used (``None`` if it made no model/tool call)."""
        b = self._budget
        return b.recorded_usage() if b is not None else None
