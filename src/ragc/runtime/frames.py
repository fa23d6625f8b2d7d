"""Frames: the sequential cursors a run is made of, and their state.

A run is a tree of frames (architecture.md, "Execution model"). The root
frame of a graph runs it from ``start``; a fork starts one child frame per
branch; a subgraph node starts the root frame of the subgraph (with its own,
namespaced state); a detached node runs in a frame of its own.

State and copy-on-write: ``values`` maps channel names to values. A child
frame starts with a shallow copy of its parent's dict (O(number of
channels)), so branches read their parent's state at the fork plus their own
writes, and the value objects are shared. ``owned`` lists the channels whose
current value object this frame created itself; reducers may mutate only
those in place (so appending to a 10 000-item list in a loop is O(1) per
step, not O(n)). Forking, launching a detached node, or an expression that
reads a whole list/dict channel clears ownership, so the next write copies.

A branch frame also keeps ``log``: its writes in order as ``(channel,
update)`` pairs -- the deltas that merge into the parent through the
reducers, in branch order, when the join fires.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from ragc.runtime.errors import RunError
from ragc.runtime.expressions import Scope

if TYPE_CHECKING:  # pragma: no cover
    from ragc.runtime.budget import BudgetScope
    from ragc.runtime.compiled import CGraph
    from ragc.runtime.joins import JoinTracker


_new = object.__new__


class Frame:
    """One sequential cursor (see module docs).

    Attributes:
        graph: the compiled graph it runs.
        values, owned, log: state, owned channels, write log (``None`` for
            root frames, which merge nowhere).
        prefix: activation id prefix (``""`` at the root,
            ``"dispatch#1/3:"`` in a branch, ``"review#1>"`` in a subgraph).
        visits: visits per node *in this frame* (activation ids).
        vars: bound variables (``payload``, the ``for`` variable).
        input: the run (or subgraph) input.
        root: the graph's root frame (detached writes merge there).
        depth: subgraph nesting depth (0 for the entry graph).
        scopes: budget scopes of every activation in this frame (run,
            policy, enclosing subgraphs).
        tracker: the join tracker of the fork that started this branch.
        source_done: a join source completed in this branch.
        join_result: ``(counts, outcome)`` of the join that just fired, for a
            ``kind join`` node to report.
        error: the errors-channel entry of the failure an ``error`` route
            is handling (the ``error`` root of expressions).
        detached: running detached tasks (root frames only).
    """

    __slots__ = ("graph", "values", "owned", "log", "prefix", "visits", "vars", "input", "root", "depth",
                 "scopes", "tracker", "source_done", "join_result", "error", "detached", "parent")

    def __init__(self, graph: "CGraph", values: dict[str, Any], *, input: Any, prefix: str = "",
                 vars: dict[str, Any] | None = None, log: list | None = None, root: "Frame | None" = None,
                 depth: int = 0, scopes: tuple["BudgetScope", ...] = (), parent: "Frame | None" = None):
        self.graph = graph
        self.values = values
        self.owned: set[str] = set()
        self.log = log
        self.prefix = prefix
        self.visits: dict[str, int] = {}
        self.vars = vars if vars is not None else {}
        self.input = input
        self.root = root if root is not None else self
        self.depth = depth
        self.scopes = scopes
        self.tracker: "JoinTracker | None" = None
        self.source_done = False
        self.join_result: tuple[dict, str] | None = None
        self.error: dict | None = None
        # the driver's handles (asyncio tasks locally) of running detached nodes
        self.detached: list[Any] | None = [] if root is None else None
        self.parent = parent

    def scope(self, result: Any = None) -> Scope:
        """An expression scope over this frame."""
        return Scope(self.input, self.values, self.vars, self.owned, result, self.error)

    def write(self, channel: str, update: Any) -> None:
        """Apply one write through the channel's reducer (and log it).

        Raises:
            RunError: ``E0909`` for an undeclared channel or a value the
                reducer rejects.
        """
        reduce = self.graph.reducers.get(channel)
        if reduce is None:
            raise RunError("E0909", f"write to an undeclared channel `{channel}`", kind="state")
        values = self.values
        try:
            values[channel] = reduce(values.get(channel), update, channel in self.owned)
        except RunError:
            raise
        except Exception as e:
            raise RunError("E0909", f"channel `{channel}` ({self.graph.reducer_names[channel]}) rejected the "
                           f"write: {type(e).__name__}: {e}", kind="state") from None
        if channel in self.graph.mutable:
            self.owned.add(channel)
        if self.log is not None:
            self.log.append((channel, update))

    def branch(self, prefix: str, vars: dict[str, Any]) -> "Frame":
        """A child frame for one branch of a fork (shares value objects;
        the caller has cleared this frame's ownership). Built field by field:
        this runs once per branch of every fan-out."""
        f = _new(Frame)
        f.graph = self.graph
        f.values = self.values.copy()
        f.owned = set()
        f.log = []
        f.prefix = prefix
        f.visits = {}
        f.vars = vars
        f.input = self.input
        f.root = self.root
        f.depth = self.depth
        f.scopes = self.scopes
        f.tracker = None
        f.source_done = False
        f.join_result = None
        f.error = None
        f.detached = None
        f.parent = self
        return f

    def disown(self) -> None:
        """Give up in-place mutation rights (a snapshot is being shared)."""
        if self.owned:
            self.owned.clear()
