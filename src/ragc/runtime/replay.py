"""Replay: what a resumed run takes from the journal instead of re-doing it.

:class:`ReplayIndex` is built once from a run's records (:func:`build_index`)
and answers, in O(1):

* ``completions[activation]`` -- a completed activation's ``node_completed``
  payload (result, writes, routing label, usage): the scheduler applies it
  instead of running the node;
* ``joins[fork activation]`` -- a ``join_outcome``: which branches counted;
* ``effects[activation][key]`` -- the model and tool calls an activation
  made (``m1``, ``t1.1``, ``a2/m1`` for a retry attempt...; payload
  ``{"key", "kind", "value"}``), served to the harness through
  :class:`ActivationEffects` so no completed call runs twice;
* ``interrupts`` / ``answers`` -- pending questions and given answers.

:class:`ActivationEffects` is the :class:`ragc.harness.types.EffectLog` of
one activation attempt: ``get`` looks a key up in the index, ``put``
journals the call (and waits until it is durable) before the harness goes
on.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Callable, Iterable, Literal

from ragc.runtime.journal import Record

if TYPE_CHECKING:  # pragma: no cover
    from ragc.runtime.recorder import Recorder


class ReplayIndex:
    """Lookups over recorded records (see module docs)."""

    __slots__ = ("completions", "joins", "effects", "interrupts", "answers", "legs")

    def __init__(self) -> None:
        self.completions: dict[str, dict[str, Any]] = {}
        self.joins: dict[str, dict[str, Any]] = {}
        self.effects: dict[str, dict[str, Any]] = {}
        self.interrupts: dict[str, dict[str, Any]] = {}
        self.answers: dict[str, Any] = {}
        self.legs = 0

    def __bool__(self) -> bool:
        return bool(self.completions or self.joins or self.effects or self.interrupts or self.answers)


def build_index(records: Iterable[Record]) -> ReplayIndex:
    """Index ``records`` (in seq order) for replay."""
    idx = ReplayIndex()
    for r in records:
        k = r.kind
        if k == "node_completed":
            idx.completions[r.activation] = r.payload
        elif k == "effect":
            idx.effects.setdefault(r.activation, {})[r.payload["key"]] = r.payload
        elif k == "join_outcome":
            idx.joins[r.activation] = r.payload
        elif k == "interrupt":
            idx.interrupts[r.activation] = r.payload
        elif k == "answer":
            idx.answers[r.activation] = r.payload.get("value")
        elif k == "resumed":
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

    def __init__(self, recorder: "Recorder | None", activation: str, recorded: dict[str, Any] | None,
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
        payload = rec.get(self.prefix + key)
        if payload is None:
            return None
        if payload.get("kind") == "tool" and self.on_tool_replay is not None:
            self.on_tool_replay()
        return payload.get("value")

    async def put(self, key: str, kind: Literal["model", "tool"], value: dict) -> None:
        """Journal call ``key`` and its ``value``; returns once durable.

        Raises:
            RunFatal: the journal write failed.
        """
        self.calls += 1
        if self.recorder is None:
            return
        await self.recorder.record("effect", self.activation, {"key": self.prefix + key, "kind": kind,
                                                               "value": value})
