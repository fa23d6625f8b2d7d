"""Replay: what a resumed run takes from the journal instead of re-doing it.

:class:`ReplayIndex` is built once from a run's records (:func:`build_index`)
and answers, in O(1):

* ``completions[activation]`` -- a completed activation's
  :class:`~ragc.runtime.records.NodeCompleted` (result, writes, routing
  label, usage): the scheduler applies it instead of running the node;
* ``joins[fork activation]`` -- a :class:`~ragc.runtime.records.JoinOutcome`:
  which branches counted;
* ``effects[activation][key]`` -- the :class:`~ragc.runtime.records.Effect`
  (model and tool calls) an activation made (``m1``, ``t1.1``, ``a2/m1`` for
  a retry attempt...), served to the harness through
  :class:`ActivationEffects` so no completed call runs twice;
* ``interrupts`` / ``answers`` -- pending questions
  (:class:`~ragc.runtime.records.InterruptAsked`) and given answers.

Every payload is decoded once, by :mod:`ragc.runtime.records`.

:class:`ActivationEffects` is the :class:`ragc.harness.types.EffectLog` of
one activation attempt: ``get`` looks a key up in the index, ``put``
journals the call (and waits until it is durable) before the harness goes
on.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Callable, Iterable, Literal

from ragc.runtime.journal import Record
from ragc.runtime.records import Answer, Effect, InterruptAsked, JoinOutcome, NodeCompleted, Resumed, decode

if TYPE_CHECKING:  # pragma: no cover
    from ragc.runtime.recorder import Recorder


class ReplayIndex:
    """Lookups over recorded records (see module docs)."""

    __slots__ = ("completions", "joins", "effects", "interrupts", "answers", "legs")

    def __init__(self) -> None:
        self.completions: dict[str, NodeCompleted] = {}
        self.joins: dict[str, JoinOutcome] = {}
        self.effects: dict[str, dict[str, Effect]] = {}
        self.interrupts: dict[str, InterruptAsked] = {}
        self.answers: dict[str, Any] = {}
        self.legs = 0

    def __bool__(self) -> bool:
        return bool(self.completions or self.joins or self.effects or self.interrupts or self.answers)


    def sources(self) -> Iterable[str]:
        """Files and URLs the recorded tool calls returned (the citation
        guard's evidence survives a resume)."""
        for effects in self.effects.values():
            for eff in effects.values():
                yield from eff.sources()

    def model_replies(self) -> list[Any]:
        """The recorded model replies (``ModelResponse`` dumps), in record order."""
        return [eff.value for effects in self.effects.values() for eff in effects.values()
                if eff.kind == "model" and isinstance(eff.value, dict)]


def build_index(records: Iterable[Record]) -> ReplayIndex:
    """Index ``records`` (in seq order) for replay.

    Raises:
        JournalFormatError: a record that is not of its kind's shape.
    """
    idx = ReplayIndex()
    for r in records:
        rec = decode(r.kind, r.payload, seq=r.seq, activation=r.activation)
        t = type(rec)
        if t is NodeCompleted:
            idx.completions[r.activation] = rec  # type: ignore[assignment]
        elif t is Effect:
            idx.effects.setdefault(r.activation, {})[rec.key] = rec  # type: ignore[union-attr,assignment]
        elif t is JoinOutcome:
            idx.joins[r.activation] = rec  # type: ignore[assignment]
        elif t is InterruptAsked:
            idx.interrupts[r.activation] = rec  # type: ignore[assignment]
        elif t is Answer:
            idx.answers[r.activation] = rec.value  # type: ignore[union-attr]
        elif t is Resumed:
            idx.legs += 1
    return idx


class ActivationEffects:
    """The :class:`~ragc.harness.types.EffectLog` of one activation attempt.

    Args:
        recorder: journals ``put`` calls (``None``: no journal).
        activation: the activation id.
        recorded: this activation's recorded effects (``None``: none).
        prefix: ``""`` for the first attempt, ``"a2/"`` for the second...
            (a retried attempt must make fresh calls, and a replay of the
            same attempt gets the same ones back).
        on_tool_replay: called when a recorded tool call is served (the
            harness charges budgets only for real tool calls; the run's
            usage still counts it).
    """

    __slots__ = ("recorder", "activation", "recorded", "prefix", "calls", "on_tool_replay")

    def __init__(self, recorder: "Recorder | None", activation: str, recorded: dict[str, Effect] | None,
                 prefix: str = "", on_tool_replay: Callable[[], None] | None = None):
        self.recorder = recorder
        self.activation = activation
        self.recorded = recorded
        self.prefix = prefix
        self.calls = 0
        self.on_tool_replay = on_tool_replay

    def get(self, key: str) -> dict | None:
        """The recorded value of call ``key`` (``m1``, ``t1``...) of this
        attempt, or ``None`` when it was not recorded (the call must run)."""
        rec = self.recorded
        if rec is None:
            return None
        eff = rec.get(self.prefix + key)
        if eff is None:
            return None
        if eff.kind == "tool" and self.on_tool_replay is not None:
            self.on_tool_replay()
        return eff.value

    async def put(self, key: str, kind: Literal["model", "tool", "cell"], value: dict) -> None:
        """Journal call ``key`` and its ``value``; returns once durable.

        Raises:
            RunFatal: the journal write failed.
        """
        self.calls += 1
        if self.recorder is None:
            return
        await self.recorder.record(Effect.KIND, self.activation, Effect(self.prefix + key, kind, value).encode())
