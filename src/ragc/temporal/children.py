"""Subgraphs and detached nodes as child workflows: what a child gets, and
what it gives back.

On Temporal, an activation of a ``subgraph`` node runs the subgraph as a
child workflow of the same type (``ragc``) on the parent's task queue,
interpreting the subgraph of the same IR with the same driver
(:class:`~ragc.temporal.interpreter.TemporalRun`); its history holds the
subgraph's activities, so the parent's history grows by a few events per
subgraph activation whatever the subgraph does. A detached (``blocking
false``) node's activation is a child workflow too: it runs that one
activation on the state the node was launched with, and returns its write
log, which the parent merges into the root state when the child ends, as
the local engine merges a detached task's (a failure goes to ``errors``).

* Workflow id: ``<run id>><activation id>`` (``@k`` after it for retry
  attempt k > 1; :func:`child_id`). Activation ids are full paths
  (``dispatch#1/2:review#1>draft#1``), so the id is unique in the run and the
  same on replay and on a worker's retry of the workflow task.
* Input (:func:`child_request`): the parent's workflow input (the IR
  included: a node activity reads the IR from the first history event of
  the workflow that scheduled it) plus ``child``: the graph key (a
  subgraph) or the node's ref, visit, state and variables (a detached
  node); the input, activation prefix and subgraph depth; the run's
  activation count and visits per node; and the budget scopes
  (:func:`scope_table`) with the chain the child frame counts against.
* Result (:func:`child_result`): the subgraph's output, or the detached
  node's write log and result, or the error; the child's activation count,
  visits and final scope table. The parent adds the difference to what it
  sent (:func:`apply_child`), so ``max_steps``, ``max_visits`` and every
  budget count the child's activations as locally (a branch running next to
  the child counts live in the parent; the child sees the parent's counters
  of its start, like a node activity). A child that is cancelled returns
  nothing: the activations it had started are not counted.
* Parent close policy ``REQUEST_CANCEL``: the parent always waits for its
  children (a subgraph node completes when its child does; the run
  completes after its detached nodes, as locally), and a parent that is
  cancelled, terminated or times out asks its children to cancel.
  Cancelling the parent's await (a join fired, the run failed or stopped)
  cancels the child, which cancels its own activities.

Inline, in the parent's workflow: a subgraph that contains an ``interrupt``
(in it or in a subgraph it runs, :func:`runs_inline`) and a detached
``interrupt`` (the ``answer`` update and the ``status`` query address the
run's workflow), and the task of a detached ``subgraph`` node (its
subgraph is the child).
"""

from __future__ import annotations

from typing import Any

from ragc.runtime.budget import BudgetScope
from ragc.runtime.errors import RunError, RunFatal
from ragc.temporal.payloads import node_refs, ref_of, scope_dict

CHILD_SEPARATOR = ">"
"""Between the run id and the activation id in a child's workflow id."""

COUNTERS = ("model_calls", "tool_calls", "input_tokens", "output_tokens", "cost_usd")


def child_id(run_id: str, act_id: str, attempt: int = 1) -> str:
    """The workflow id of the child that runs subgraph activation ``act_id``
    (attempt ``attempt`` of the node's ``retry``)."""
    return f"{run_id}{CHILD_SEPARATOR}{act_id}" + (f"@{attempt}" if attempt > 1 else "")


def runs_inline(prog: Any, key: str) -> bool:
    """Whether graph ``key`` has an ``interrupt`` node, in it or in a
    subgraph it runs (transitively); cached on the program."""
    cache = getattr(prog, "_temporal_inline", None)
    if cache is None:
        cache = {}
        try:
            prog._temporal_inline = cache
        except AttributeError:
            pass
    if key not in cache:
        cache[key] = False  # recursion is refused by the checker; this guards the walk anyway
        g = prog.graphs.get(key)
        nodes = g.nodes.values() if g is not None else ()
        cache[key] = any(cn.kind == "interrupt" or (cn.kind == "subgraph" and runs_inline(prog, cn.ir.graph or ""))
                         for cn in nodes)
    return cache[key]


def scope_table(run: Any) -> dict[str, Any]:
    """Every budget scope ``run`` knows, as JSON: ``{"base": [run scope,
    policy scopes...], "graphs": {key: scope}, "nodes": [[graph key, node,
    scope]...]}`` (scopes as :func:`~ragc.temporal.payloads.scope_dict`)."""
    return {"base": [scope_dict(s) for s in run.base_scopes],
            "graphs": {k: scope_dict(s) for k, s in run.graph_scopes.items()},
            "nodes": [[g, n, scope_dict(s)] for (g, n), s in run.node_scopes.items()]}


def chain_of(run: Any, scopes: tuple[BudgetScope, ...]) -> list[list[Any]]:
    """``scopes`` (a frame's chain) as references into :func:`scope_table`:
    ``["base", i]`` or ``["graph", key]``.

    Raises:
        RunError: ``E0909``, a scope that is neither (a bug).
    """
    base = {id(s): i for i, s in enumerate(run.base_scopes)}
    graphs = {id(s): k for k, s in run.graph_scopes.items()}
    out: list[list[Any]] = []
    for s in scopes:
        if id(s) in base:
            out.append(["base", base[id(s)]])
        elif id(s) in graphs:
            out.append(["graph", graphs[id(s)]])
        else:
            raise RunError("E0909", f"internal error: budget scope {s.label} is not one of the run's", kind="internal")
    return out


def child_request(run: Any, frame: Any, *, key: str | None = None, node: Any = None,
                  visit: int | None = None) -> dict[str, Any]:
    """The input of a child workflow (see module docs): with ``key``, the
    one that runs graph ``key`` from its start in root frame ``frame`` (a
    subgraph); with ``node`` (a ``CNode``) and ``visit``, the one that runs
    that single activation of a detached node in frame ``frame`` (its
    copy of the state at the launch; its write log comes back)."""
    child: dict[str, Any] = {"input": frame.input, "prefix": frame.prefix, "depth": frame.depth,
                             "steps": run.counters.steps, "visits": visit_table(run),
                             "scopes": scope_table(run), "chain": chain_of(run, frame.scopes)}
    if key is not None:
        child["graph"] = key
    else:
        child.update(node=ref_of(run.prog, node), visit=visit, values=frame.values, vars=frame.vars)
    # a continued parent's `resume` is its own (ragc.temporal.continuation)
    return {**{k: v for k, v in run.request.items() if k not in ("resume", "child")}, "child": child}


def visit_table(run: Any) -> dict[str, int]:
    """The run's visits per node (what ``max_visits`` counts), by node ref."""
    return {ref_of(run.prog, cn): v for cn, v in run.counters.node_visits.items()}


def adopt_scopes(run: Any, child: dict[str, Any]) -> tuple[BudgetScope, ...]:
    """Inside the child: replace ``run``'s scopes and counters by those of
    the child request; returns the child frame's chain of scopes."""
    table = child["scopes"]
    base = tuple(BudgetScope(**d) for d in table["base"])
    run.base_scopes = base
    run.run_scope = base[0]
    run.graph_scopes = {k: BudgetScope(**d) for k, d in table["graphs"].items()}
    run.node_scopes = {(g, n): BudgetScope(**d) for g, n, d in table["nodes"]}
    run.counters.steps = int(child["steps"])
    refs = node_refs(run.prog)
    run.counters.node_visits = {refs[r]: int(v) for r, v in (child.get("visits") or {}).items()}
    return tuple(base[ref] if kind == "base" else run.graph_scopes[ref] for kind, ref in child["chain"])


def child_result(run: Any, child: dict[str, Any], *, ok: dict[str, Any] | None = None,
                 error: RunError | None = None, fatal: bool = False) -> dict[str, Any]:
    """The result of a child workflow: ``ok`` (``{"output"}`` of a
    subgraph, ``{"log", "result"}`` of a detached node) or ``{"error",
    "fatal", "retryable"}``, with ``steps`` (its activations), ``visits``,
    ``activities`` and ``scopes`` (its final :func:`scope_table`)."""
    out: dict[str, Any] = {"steps": run.counters.steps - int(child["steps"]), "visits": visit_table(run),
                           "activities": run.activities, "scopes": scope_table(run)}
    if error is not None:
        out["error"], out["fatal"], out["retryable"] = error.to_dict(), fatal, error.retryable
    else:
        out.update(ok or {})
    return out


def _delta(now: dict[str, Any], then: dict[str, Any] | None) -> dict[str, Any]:
    return {k: now[k] - (then[k] if then else 0) for k in COUNTERS}


def apply_child(run: Any, sent: dict[str, Any], res: dict[str, Any]) -> dict[str, Any]:
    """In the parent: count the child's activations, visits and usage
    (``sent``: the ``child`` part of its request; ``res``: its result) and
    return ``res``.

    Raises:
        RunFatal: the child stopped the run (a run-wide limit);
        RunError: the subgraph failed (the subgraph node's failure).
    """
    run.counters.steps += int(res.get("steps") or 0)
    refs, visits = node_refs(run.prog), run.counters.node_visits
    then_visits = sent.get("visits") or {}
    for r, v in (res.get("visits") or {}).items():
        cn = refs[r]
        visits[cn] = visits.get(cn, 0) + int(v) - int(then_visits.get(r, 0))
    run.activities += int(res.get("activities") or 0)
    before, after = sent["scopes"], res["scopes"]
    for s, now, then in zip(run.base_scopes, after["base"], before["base"]):
        s.add(_delta(now, then))
    for k, now in after["graphs"].items():
        s = run.graph_scopes.get(k)
        if s is None:
            s = run.graph_scopes[k] = BudgetScope(**{**now, **{c: 0 for c in COUNTERS}})
        s.add(_delta(now, before["graphs"].get(k)))
    then_nodes = {(g, n): d for g, n, d in before["nodes"]}
    for g, n, now in after["nodes"]:
        s = run.node_scopes.get((g, n))
        if s is None:
            s = run.node_scopes[(g, n)] = BudgetScope(**{**now, **{c: 0 for c in COUNTERS}})
        s.add(_delta(now, then_nodes.get((g, n))))
    if "error" in res:
        err = RunError.from_dict(res["error"])
        err.retryable = bool(res.get("retryable"))  # (not in to_dict) a subgraph node's `retry` reads it
        if res.get("fatal"):
            raise RunFatal(err)
        raise err
    return res
