"""The objects a node executor works with.

An *activation* is one execution of one node in one frame (see
``docs/runtime.md``, "Activation ids"). The scheduler builds an
:class:`Activation` and hands it to the node kind's executor
(:mod:`ragc.runtime.nodes`), which returns a :class:`NodeOutput`.

Executors reach the run only through :class:`Services` (``act.services``):
call models and tools (the harness), read recorded answers and questions,
journal an interrupt, run a subgraph, read a frame's state. They return
their result and mutate nothing but their own activation; what a result
writes and where it routes is decided by the scheduling core
(:mod:`ragc.runtime.core`).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Callable, Protocol

from ragc.runtime.expressions import Scope

if TYPE_CHECKING:  # pragma: no cover
    from types import MappingProxyType

    from ragc.events import Event
    from ragc.harness.citations import SourceLedger
    from ragc.runtime.budget import ActivationBudget, BudgetScope
    from ragc.runtime.compiled import CNode
    from ragc.runtime.errors import RunError
    from ragc.runtime.frames import Frame
    from ragc.runtime.recorder import Recorder
    from ragc.runtime.records import Effect, InterruptAsked, TypedRecord
    from ragc.runtime.replay import ActivationEffects


class Services(Protocol):
    """What an executor may ask of the run (the local driver,
    :class:`ragc.runtime.scheduler.Run`, implements it).

    Attributes:
        run_id: the run id (for events and harness calls).
        emit: the event sink, or ``None`` when nobody listens.
        sources: the files/URLs the run's tools returned (the citation
            guard's evidence).
        recorder: the journal writer (``None``: no journal).
    """

    run_id: str
    emit: "Callable[[Event], None] | None"
    sources: "SourceLedger"
    recorder: "Recorder | None"

    def harness(self) -> Any:
        """The harness (models, tools, agents); raises ``RunError`` ``E0909``
        when none can be set up."""
        ...

    def answer_for(self, activation: str) -> tuple[bool, Any]:
        """``(True, answer)`` when interrupt ``activation`` has an answer."""
        ...

    def recorded_interrupt(self, activation: str) -> "InterruptAsked | None":
        """The journaled question of interrupt ``activation``, if any."""
        ...

    async def commit_record(self, activation: str, record: "TypedRecord") -> int:
        """Journal ``record``; returns its seq once durable."""
        ...

    async def record_answer(self, activation: str, answer: Any, source: str) -> None:
        """Journal an interrupt answer (``source``: ``user`` or ``default``)."""
        ...

    def recorded_effects(self, activation: str) -> "dict[str, Effect] | None":
        """The journaled model/tool calls of ``activation`` by key."""
        ...

    def scopes_for(self, frame: "Frame", cn: "CNode") -> "tuple[BudgetScope, ...]":
        """The budget scopes an activation of ``cn`` in ``frame`` counts against."""
        ...

    def timeout_for(self, cn: "CNode") -> float | None:
        """The effective per-attempt timeout of ``cn``, seconds."""
        ...

    def node_retrying(self, act: "Activation", err: "RunError", attempt: int, delay: float) -> None:
        """Report a failed attempt and the delay (seconds) before the next."""
        ...

    async def run_subgraph(self, act: "Activation", key: str, sub_input: Any) -> Any:
        """Run graph ``key`` as a child of ``act``; return its output."""
        ...

    def state_view(self, frame: "Frame") -> "MappingProxyType":
        """A read-only view of ``frame``'s channels."""
        ...


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
        services: what the executor may ask of the run (:class:`Services`).
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

    __slots__ = ("services", "frame", "node", "id", "attempt", "_scope", "_effects", "_budget", "visit")

    def __init__(self, services: Services, frame: "Frame", node: "CNode", id: str, visit: int):
        self.services = services
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

            run = self.services
            e = self._effects = ActivationEffects(run.recorder, self.id, run.recorded_effects(self.id),
                                                  "" if self.attempt == 1 else f"a{self.attempt}/",
                                                  self._tool_replayed)
        return e

    @property
    def budget(self) -> "ActivationBudget":
        b = self._budget
        if b is None:
            from ragc.runtime.budget import ActivationBudget

            b = self._budget = ActivationBudget(self.services.scopes_for(self.frame, self.node))
        return b

    def new_attempt(self, attempt: int) -> None:
        """Start attempt ``attempt`` (1-based): its calls get fresh effect
        keys (``a2/m1``...), the budget stays shared."""
        self.attempt = attempt
        self._effects = None

    def _tool_replayed(self) -> None:
        self.budget.replayed_tool_call()

    def recorded_usage(self) -> dict | None:
        """What this activation used (``None`` if it made no model/tool call)."""
        b = self._budget
        return b.recorded_usage() if b is not None else None
