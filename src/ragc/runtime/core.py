"""The scheduling core: every decision of a run, without I/O, clock or event loop.

Given the compiled program (:mod:`ragc.runtime.compiled`) and the facts of a
run (which activations completed with what, in which order; which join
outcomes are recorded), the functions here decide:

* :func:`admit` -- the id of the next activation of a node in a frame, and
  whether a limit (``max_steps``, ``max_visits``) stops it;
* :func:`complete` (:func:`apply_completion` without the record) -- what a completion writes (the output channel, extra
  writes, ``update`` expressions; through the channels' reducers) and which
  route label it chose, as the :class:`~ragc.runtime.records.NodeCompleted`
  record the journal keeps; :func:`apply_recorded` applies a journaled one;
* :func:`next_node` -- where a frame goes after a node;
* :func:`expand` and :func:`concurrency_limit` -- the branches of a fork and
  how many run at once; :class:`~ragc.runtime.joins.JoinTracker` decides
  when the join fires; :func:`merge_branches` merges the counted branches'
  write logs *in branch order*, and :func:`after_join` says where the
  parent goes (or fails with ``E0910``).

Nothing here awaits, sleeps, reads a clock or touches the journal, so the
same IR and the same completion order give the same state and the same
records (``tests/runtime/test_core_determinism.py``), and a second engine
(a Temporal workflow, whose code must be deterministic) can drive it. The
local driver is :mod:`ragc.runtime.scheduler` (frames as cursors, executors
as coroutines) with :mod:`ragc.runtime.fanout` (branch tasks, join waits,
cancellation).
"""

from __future__ import annotations

from typing import Any

from ragc.ir.model import END, LimitsIR
from ragc.runtime.activation import DEFAULT, NO_WRITE, NodeOutput
from ragc.runtime.compiled import ERRORS_CHANNEL, R_END, R_NEXT, R_ROUTES, CBranch, CJoin, CNode
from ragc.runtime.errors import RunError, RunFatal
from ragc.runtime.expressions import Scope
from ragc.runtime.frames import Frame
from ragc.runtime.joins import JoinTracker
from ragc.runtime.records import JoinOutcome, NodeCompleted
from ragc.runtime.reducers import normalize_messages

FORK = "\x00fork"
"""What :func:`next_node` returns when the node's routing is a fork."""

BranchSpec = tuple[CBranch, dict[str, Any]]
"""One branch of a fork: its compiled branch and its bound variables."""


Caps = LimitsIR
"""Effective run limits: one type from the IR to the runtime. The engine
starts from the entry graph's :class:`~ragc.ir.model.LimitsIR` and narrows it
by the registry policies (``ragc.runtime.engine.Engine``). In the caps,
``max_visits``, ``timeout_s`` (seconds per attempt) and ``max_concurrency``
are run-wide ceilings over every node's own value (``None``: no ceiling);
``max_steps``, ``deadline_s`` (seconds per leg) and ``max_subgraph_depth``
are the run's."""


class Counters:
    """Run-wide counts the limits read: activations (``steps``) and visits
    per node across frames (``max_visits``)."""

    __slots__ = ("steps", "node_visits")

    def __init__(self) -> None:
        self.steps = 0
        self.node_visits: dict[CNode, int] = {}


def admit(counters: Counters, caps: Caps, frame: Frame, cn: CNode, visit: int | None = None) -> tuple[str, int]:
    """Count one activation of ``cn`` in ``frame``; return ``(activation id, visit)``.

    ``visit`` is given for a detached node (counted when it was launched).

    Raises:
        RunFatal: ``E0901``, the run exceeded ``max_steps`` (stops every branch).
        RunError: ``E0902``, the node exceeded its ``max_visits``.
    """
    name = cn.name
    if visit is None:
        visit = frame.visits.get(name, 0) + 1
        frame.visits[name] = visit
    act_id = f"{frame.prefix}{name}#{visit}"
    counters.steps += 1
    if counters.steps > caps.max_steps:
        raise RunFatal(cn.error("E0901", f"the run exceeded max_steps = {caps.max_steps} node activations "
                                         f"(at `{name}`)", activation=act_id, kind="limit",
                                hint="raise `max_steps` in `defaults`, or bound the loop with `max_visits`"))
    mv = cn.max_visits
    if caps.max_visits is not None and (mv is None or caps.max_visits < mv):
        mv = caps.max_visits
    if mv is not None:
        v = counters.node_visits.get(cn, 0) + 1
        counters.node_visits[cn] = v
        if v > mv:
            raise cn.error("E0902", f"node `{name}` was visited more than max_visits = {mv} times",
                           activation=act_id, kind="limit",
                           hint="a loop did not reach its exit; raise `max_visits` or fix the exit condition")
    return act_id, visit


def failure_output(err: RunError) -> tuple[NodeOutput, dict[str, Any]]:
    """The output of a node whose failure its ``error`` route takes: no
    result, label ``error``, the entry appended to the errors channel."""
    entry = err.error_entry()
    return NodeOutput(None, "error", NO_WRITE, [(ERRORS_CHANNEL, entry)]), entry


def error_route_takes(cn: CNode, err: RunError) -> bool:
    """Whether ``cn``'s ``error`` route takes ``err`` (run-wide limits and
    the deadline are never taken: they stop the run)."""
    return cn.has_error_route and err.code not in ("E0901", "E0906")


Applied = tuple[str | None, bool, list[tuple[str, Any]]]
"""What :func:`apply_completion` did: ``(route label, output_is_result,
writes)``, the fields of a :class:`~ragc.runtime.records.NodeCompleted`
that the completion decided."""


def complete(frame: Frame, cn: CNode, act_id: str, out: NodeOutput,
             error_entry: dict[str, Any] | None) -> NodeCompleted:
    """Apply a completion to ``frame`` (:func:`apply_completion`) and return
    its record (``usage`` ``None`` and ``duration_s`` 0: the driver measures
    them).

    Raises:
        RunError: as :func:`apply_completion`.
    """
    label, from_result, writes = apply_completion(frame, cn, act_id, out, error_entry)
    return NodeCompleted(out.result, from_result, writes, label, None, error_entry)


def apply_completion(frame: Frame, cn: CNode, act_id: str, out: NodeOutput,
                     error_entry: dict[str, Any] | None) -> Applied:
    """Apply a completion to ``frame``: the writes, then ``update``, then
    check the route label. A driver that journals nothing calls this and
    builds no record (one object less per activation on the hot path).

    Args:
        out: what the executor returned (or :func:`failure_output`).
        error_entry: the errors-channel entry an ``error`` route handles.

    Returns:
        ``(route label, output_is_result, writes)`` (:data:`Applied`).

    Raises:
        RunError: ``E0903`` (no route, or an undeclared label), or a reducer
            rejecting a write (``E0909``); an ``update`` expression's own
            exception passes through (the driver maps it to the node's failure).
    """
    name = cn.name
    result = out.result
    # the writes other than a result written to the output channel (that one
    # is stored once, as the result)
    writes: list[tuple[str, Any]] = []
    from_result = False
    output, write = cn.output, out.write
    if output is not None and write is not NO_WRITE:
        if write is DEFAULT:
            from_result = True
            val = normalize_messages(result, name, act_id) if cn.out_messages else result
        else:
            val = normalize_messages(write, name, act_id) if cn.out_messages else write
            writes.append((output, val))
        if frame.owned and type(val) in (list, dict):
            _disown_alias(frame, val)
        frame.write(output, val)
    extra = out.extra
    if extra:
        owned = frame.owned
        for ch, val in extra:
            if owned and type(val) in (list, dict):
                _disown_alias(frame, val)
            frame.write(ch, val)
        writes.extend(extra)
    frame.error = error_entry
    # the counts of the join that just fired are for the activation at its target only
    frame.join_result = None
    if cn.update:
        sc = frame.scope(result)
        for ch, ev in cn.update:
            val = ev(sc)
            writes.append((ch, val))
            frame.write(ch, val)
    label = out.label
    if cn.rkind == R_ROUTES:
        if label is None:
            if cn.chooser != "outcome":
                raise cn.error("E0903", f"node `{name}` chose no route", activation=act_id, kind="route")
            label = "ok"
        if label not in cn.route_map and not (label == "ok" and cn.chooser == "outcome"):
            raise cn.error("E0903", f"node `{name}` chose the route label `{label}`, which it does not declare",
                           activation=act_id, kind="route",
                           hint="declared labels: " + ", ".join(f"`{x}`" for x in cn.route_map))
    return label, from_result, writes


def apply_recorded(frame: Frame, cn: CNode, act_id: str, rec: NodeCompleted) -> None:
    """Apply a journaled completion to ``frame`` (the same writes, in the
    same order, as when it ran)."""
    if rec.output_is_result and cn.output is not None:
        result = rec.result
        frame.write(cn.output, normalize_messages(result, cn.name, act_id) if cn.out_messages else result)
    for ch, val in rec.writes:
        frame.write(ch, val)
    frame.error = rec.error
    frame.join_result = None


def _disown_alias(frame: Frame, val: Any) -> None:
    # a value object a frame owns is being written to a second channel: neither
    # may be mutated in place any more
    values = frame.values
    for ch in tuple(frame.owned):
        if values.get(ch) is val:
            frame.owned.discard(ch)


def next_node(cn: CNode, label: str | None) -> str:
    """Where a frame goes after ``cn`` completed with ``label``: a node
    name, ``END``, or :data:`FORK`."""
    rk = cn.rkind
    if rk == R_NEXT:
        return cn.next_target  # type: ignore[return-value]
    if rk == R_ROUTES:
        return cn.route_map.get(label, END)  # type: ignore[arg-type]
    if rk == R_END:
        return END
    return FORK


# ---------------------------------------------------------------------- forks and joins

def expand(frame: Frame, cn: CNode, result: Any) -> list[BranchSpec]:
    """The branches of ``cn``'s fork, in branch order (``for`` sources expanded).

    Raises:
        RunError: ``E0908``, a ``for`` source that is not a list, or a
            payload expression that fails.
    """
    specs: list[BranchSpec] = []
    base = frame.vars
    sc = frame.scope(result)
    for b in cn.branches:
        try:
            if b.foreach_src is not None:
                src = b.foreach_src(sc)
                if src is None:
                    src = []
                if isinstance(src, dict):
                    src = list(src.items())
                if not isinstance(src, (list, tuple)):
                    raise cn.error("E0908", f"the `for` source of `{b.target}` is not a list "
                                            f"({type(src).__name__})", kind="expression")
                var = b.foreach_var or "item"
                pl = b.payload
                isc = Scope(sc.input, sc.state, base, sc.owned, result, sc.error)
                append = specs.append
                for item in src:
                    vars = base.copy()
                    vars[var] = item
                    if pl is not None:
                        isc.vars = vars
                        vars["payload"] = pl(isc)
                    append((b, vars))
            else:
                if b.payload is not None:
                    vars = dict(base)
                    vars["payload"] = b.payload(sc)
                else:
                    vars = base
                specs.append((b, vars))
        except RunError:
            raise
        except Exception as e:  # noqa: BLE001 - an expression error in a payload
            raise cn.error("E0908", f"node `{cn.name}`: payload of `{b.target}`: {e}", kind="expression") from None
    return specs


def shown_items(specs: list[BranchSpec]) -> list[Any]:
    """What tells the branches apart in a live view: each one's payload,
    else its ``for`` item, else ``None``."""
    return [v.get("payload") if b.payload is not None else (v.get(b.foreach_var or "item")
                                                             if b.foreach_src is not None else None)
            for b, v in specs]


def concurrency_limit(cn: CNode, frame: Frame, caps: Caps) -> int | None:
    """How many branches of ``cn``'s fork run at once (``None``: all)."""
    limit = cn.max_concurrency or frame.graph.limits.max_concurrency
    cap = caps.max_concurrency
    if cap is not None and (limit is None or cap < limit):
        limit = cap
    return limit


def recorded_join(frame: Frame, cn: CNode, recorded: JoinOutcome | None) -> JoinOutcome | None:
    """The recorded join outcome a resume adopts, or ``None`` to run the
    fork again.

    A failed join that no ``error`` route took failed its frame, like a
    failed node: a resume retries it (succeeded branches replay from the
    journal, failed and cancelled ones run again) instead of replaying the
    failure. A failure an ``error`` route took is kept: what followed it is
    journaled."""
    if recorded is None or recorded.outcome != "error":
        return recorded
    join = cn.join
    jn = frame.graph.nodes.get(join.node) if (join is not None and join.node) else None
    return recorded if (jn is not None and jn.has_error_route) else None


def timeout_entry(specs: list[BranchSpec], act_id: str, cj: CJoin, i: int) -> dict[str, Any]:
    """The errors-channel entry of branch ``i`` when the join's timeout passed."""
    return {"node": specs[i][0].target, "activation": f"{act_id}/{i}:", "error_kind": "timeout",
            "message": f"branch {i} did not arrive within the join timeout of {cj.timeout_s:g}s"}


def merge_branches(frame: Frame, tracker: JoinTracker) -> None:
    """Merge the fired join's branches into ``frame`` *in branch order*: a
    succeeded branch's write log through the reducers, a failed branch's
    error entry into the errors channel; cancelled and skipped ones write
    nothing."""
    statuses = tracker.statuses
    logs, errs = tracker.logs, tracker.errors
    write = frame.write
    for i in range(tracker.n):
        st = statuses[i]
        if st == "o":
            log = logs.get(i)
            if log:
                for ch, val in log:
                    write(ch, val)
        elif st == "f":
            entry = errs.get(i)
            if entry is not None:
                write(ERRORS_CHANNEL, entry)


def after_join(frame: Frame, cn: CNode, act_id: str, tracker: JoinTracker) -> str:
    """Where ``frame`` continues after the join of ``cn``'s fork fired:
    the join target (``END`` for a fork without a join); sets
    ``frame.join_result`` for a ``kind join`` node.

    Raises:
        RunError: ``E0910``, the join failed and no ``error`` route of a
            ``kind join`` node takes the failure.
    """
    join = cn.join
    counts = tracker.counts()
    if tracker.outcome == "error":
        cj = join
        jnode = frame.graph.nodes.get(cj.node) if (cj is not None and cj.node) else None
        if jnode is not None and jnode.has_error_route:
            frame.join_result = (counts, "error")
            return cj.target  # type: ignore[union-attr]
        errs = tracker.errors
        first = next((errs[i] for i in range(tracker.n) if i in errs), None)
        why = f"; first failure: {first['message']}" if first else ""
        what = f"join `{cj.node or cj.target}`" if cj is not None else f"the branches of `{cn.name}`"
        pol = tracker.join
        policy = pol.policy if pol.policy != "quorum" else f"quorum {pol.need}"
        raise RunError("E0910", f"{what} failed (policy {policy}): {counts['succeeded']} succeeded, "
                                f"{counts['failed']} failed, {counts['cancelled']} cancelled{why}",
                       node=(cj.node if cj is not None else None) or cn.name, activation=act_id,
                       span=(cj.span if cj is not None else None) or cn.span, kind="join",
                       hint="allow failures with `tolerate N`, or route `error` from a `kind join` node")
    frame.join_result = (counts, "ok")
    return join.target if join is not None else END
