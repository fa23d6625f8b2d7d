"""Subgraphs as child workflows: what a child gets, and what it gives back.

On Temporal, an activation of a ``subgraph`` node runs the subgraph as a
child workflow of the same type (``ragc``) on the parent's task queue,
interpreting the subgraph of the same IR with the same driver
(:class:`~ragc.temporal.interpreter.TemporalRun`). Its history holds the
subgraph's activities, so the parent's history grows by a few events per
subgraph activation whatever the subgraph does.

* Workflow id: ``<run id>><activation id>`` (``@k`` after it for retry
  attempt k > 1; :func:`child_id`). Activation ids are full paths
  (``dispatch#1/2:review#1>draft#1``), so the id is unique in the run and the
  same on replay and on a worker's retry of the workflow task.
* Input (:func:`child_request`): the parent's workflow input (the IR
  included: a node activity reads the IR from the first history event of
  the workflow that scheduled it) plus ``child``: the graph key, its
  validated input, the frame's activation prefix and depth, the run's
  activation count, and the budget scopes (:func:`scope_table`) with the
  chain the child frame counts against.
* Result (:func:`child_result`): the subgraph's output, or its error; its
  activation count and its final scope table. The parent adds the
  difference to what it sent (:func:`apply_child`), so ``max_steps`` and
  every budget count the child's activations as locally (a branch running
  next to the child counts live in the parent; the child sees the parent's
  counters of its start, like a node activity).
* Parent close policy ``REQUEST_CANCEL``: the parent always waits for its
  children (a subgraph node completes when its child does), and a parent
  that is cancelled, terminated or times out asks its children to cancel.
  Cancelling the parent's await (a join fired, the run stopped) cancels
  the child, which cancels its own activities.

A subgraph that contains an ``interrupt`` (in it or in a subgraph it runs)
stays inline in the parent's workflow (:func:`runs_inline`): the ``answer``
update and the ``status`` query address the run's workflow.
"""

from __future__ import annotations

from typing import Any

from ragc.runtime.budget import BudgetScope
from ragc.runtime.errors import RunError, RunFatal
from ragc.temporal.payloads import scope_dict

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


def child_request(run: Any, *, key: str, input: Any, prefix: str, depth: int,
                  scopes: tuple[BudgetScope, ...]) -> dict[str, Any]:
    """The input of the child workflow that runs graph ``key`` in a frame
    with activation prefix ``prefix`` at subgraph depth ``depth``, counting
    against ``scopes`` (see module docs)."""
    child = {"graph": key, "input": input, "prefix": prefix, "depth": depth, "steps": run.counters.steps,
             "scopes": scope_table(run), "chain": chain_of(run, scopes)}
    return {**run.request, "child": child}


def adopt_scopes(run: Any, child: dict[str, Any]) -> tuple[BudgetScope, ...]:
    """Inside the child: replace ``run``'s scopes by those of the child
    request and set its activation count; returns the child frame's chain."""
    table = child["scopes"]
    base = tuple(BudgetScope(**d) for d in table["base"])
    run.base_scopes = base
    run.run_scope = base[0]
    run.graph_scopes = {k: BudgetScope(**d) for k, d in table["graphs"].items()}
    run.node_scopes = {(g, n): BudgetScope(**d) for g, n, d in table["nodes"]}
    run.counters.steps = int(child["steps"])
    return tuple(base[ref] if kind == "base" else run.graph_scopes[ref] for kind, ref in child["chain"])


def child_result(run: Any, child: dict[str, Any], *, output: Any = None, error: RunError | None = None,
                 fatal: bool = False) -> dict[str, Any]:
    """The result of a child workflow: ``{"output"}`` or ``{"error",
    "fatal"}``, with ``steps`` (its activations), ``activities`` and
    ``scopes`` (its final :func:`scope_table`)."""
    out: dict[str, Any] = {"steps": run.counters.steps - int(child["steps"]), "activities": run.activities,
                           "scopes": scope_table(run)}
    if error is not None:
        out["error"], out["fatal"] = error.to_dict(), fatal
    else:
        out["output"] = output
    return out


def _delta(now: dict[str, Any], then: dict[str, Any] | None) -> dict[str, Any]:
    return {k: now[k] - (then[k] if then else 0) for k in COUNTERS}


def apply_child(run: Any, sent: dict[str, Any], res: dict[str, Any]) -> Any:
    """In the parent: count the child's activations and usage (``sent``:
    the ``child`` part of its request; ``res``: its result) and return its
    output.

    Raises:
        RunFatal: the child stopped the run (a run-wide limit);
        RunError: the subgraph failed (the subgraph node's failure).
    """
    run.counters.steps += int(res.get("steps") or 0)
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
        if res.get("fatal"):
            raise RunFatal(err)
        raise err
    return res.get("output")
