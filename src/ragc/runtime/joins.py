"""Join policies: when a fork's barrier fires, and with what outcome.

A :class:`JoinTracker` counts the arrivals of one fork's branches and
decides, in O(1) per arrival (no scans over pending branches), when the
join fires (architecture.md, "Fan-out and joins"):

* ``all`` fires when every branch arrived (skipped ones included); it fails
  as soon as failures exceed ``tolerate`` (default 0) -- fail fast, the rest
  are cancelled.
* ``any`` / ``quorum N`` fire at the first / Nth success and cancel the
  rest. They fail once N successes became impossible, or, when ``tolerate``
  is given, once failures exceed it.
* ``timeout`` (from the fork): the pending branches count as failures
  (kind ``timeout``) and the policy decides at once.

Branch statuses are one character each (``o`` ok, ``f`` failed, ``c``
cancelled, ``s`` skipped, ``p`` pending), so the ``join_outcome`` journal
record of a 10 000-branch fan-out is one short string.

Replay: a tracker built with a recorded outcome (:meth:`JoinTracker.replaying`)
waits only for the branches that succeeded originally and reproduces the
recorded statuses, error entries and outcome.

The tracker is part of the scheduling core (:mod:`ragc.runtime.core`): it
never awaits, sleeps or reads a clock. The driver that waits for a join
passes ``on_fire`` (the local driver resolves a future with it) and calls
:meth:`JoinTracker.timeout` from its own timer.
"""

from __future__ import annotations

from typing import Any, Callable

from ragc.runtime.compiled import CJoin
from ragc.runtime.records import JoinOutcome


class JoinTracker:
    """Arrival bookkeeping of one fork.

    Args:
        join: the compiled join (policy numbers).
        n: number of branches.
        on_fire: called once, when the join fires (``None``: nothing to wake).
    """

    __slots__ = ("join", "n", "statuses", "ok", "failed", "skipped", "arrived", "logs", "errors", "fired",
                 "outcome", "on_fire", "cancel_reason", "expected", "recorded", "node", "activation")

    def __init__(self, join: CJoin, n: int, on_fire: Callable[[], None] | None = None):
        self.join = join
        self.n = n
        self.statuses = ["p"] * n
        self.ok = self.failed = self.skipped = self.arrived = 0
        self.logs: dict[int, list] = {}
        self.errors: dict[int, dict[str, Any]] = {}
        self.fired = False
        self.outcome = "ok"
        self.on_fire = on_fire
        self.cancel_reason: str | None = None
        self.expected: set[int] | None = None
        self.recorded: JoinOutcome | None = None

    def replaying(self, record: JoinOutcome) -> None:
        """Adopt a recorded outcome: only its ``o`` branches are awaited."""
        self.recorded = record
        self.expected = {i for i, c in enumerate(record.statuses) if c == "o"}
        if not self.expected:
            self._fire(record.outcome)

    def arrive(self, i: int, status: str, log: list | None = None, error: dict | None = None) -> None:
        """Branch ``i`` arrived with ``status`` (``o``, ``f`` or ``s``).

        Arrivals after the join fired are ignored (they lost the race)."""
        if self.fired or self.statuses[i] != "p":
            return
        self.statuses[i] = status
        self.arrived += 1
        if status == "o":
            self.ok += 1
            if log:
                self.logs[i] = log
        elif status == "f":
            self.failed += 1
            if error is not None:
                self.errors[i] = error
        else:
            self.skipped += 1
        if self.expected is not None:
            self.expected.discard(i)
            if not self.expected:
                self._fire(self.recorded.outcome if self.recorded else "ok")
            return
        self.decide()

    def decide(self) -> None:
        """Apply the policy to the arrivals so far (a fork with no branch,
        or whose tolerance is already exceeded, fires at once)."""
        j = self.join
        pending = self.n - self.arrived
        if j.need is None:  # all
            if self.failed > j.tolerate:
                self._fire("error")
            elif pending == 0:
                self._fire("ok")
            return
        if self.ok >= j.need:
            self._fire("ok")
        elif j.tolerate is not None and self.failed > j.tolerate:
            self._fire("error")
        elif self.ok + pending < j.need:
            self._fire("error")

    def timeout(self, error_for: Any) -> None:
        """The join's timeout passed: pending branches become failures
        (``error_for(i)`` gives each one's error entry), then the policy
        decides."""
        if self.fired:
            return
        for i, s in enumerate(self.statuses):
            if s == "p":
                self.statuses[i] = "f"
                self.failed += 1
                self.arrived += 1
                self.errors[i] = error_for(i)
        j = self.join
        if j.need is None:
            outcome = "error" if self.failed > j.tolerate else "ok"
        else:
            outcome = "ok" if self.ok >= j.need and (j.tolerate is None or self.failed <= j.tolerate) else "error"
        self.cancel_reason = "join timeout"
        self._fire(outcome)

    def _fire(self, outcome: str) -> None:
        self.fired = True
        self.outcome = outcome
        if self.cancel_reason is None:
            self.cancel_reason = "join fired" if outcome == "ok" else "join failed"
        if self.on_fire is not None:
            self.on_fire()

    def finish(self) -> None:
        """Mark the branches still pending as cancelled (after firing)."""
        if self.recorded is not None:
            recorded = self.recorded.statuses
            for i, s in enumerate(self.statuses):
                if s == "p" and i < len(recorded):
                    self.statuses[i] = recorded[i]
            for k, v in self.recorded.errors.items():
                self.errors.setdefault(k, v)
            return
        for i, s in enumerate(self.statuses):
            if s == "p":
                self.statuses[i] = "c"

    def counts(self) -> dict[str, int]:
        """``{"succeeded", "failed", "cancelled", "skipped"}`` (the result of
        a ``kind join`` node)."""
        st = self.statuses
        return {"succeeded": st.count("o"), "failed": st.count("f"), "cancelled": st.count("c"),
                "skipped": st.count("s")}

    def record(self) -> JoinOutcome:
        """The ``join_outcome`` journal record."""
        return JoinOutcome("".join(self.statuses), self.outcome, dict(self.errors), self.counts())
