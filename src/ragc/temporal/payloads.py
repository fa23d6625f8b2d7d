"""What crosses Temporal's history, as plain JSON-able dicts.

* The workflow input (:func:`run_request`): the serialized IR, the
  validated inputs, the run id, the effective limits and policy budgets
  (computed by the client, which has the registry), and where the worker
  finds the registry and workspace (paths on the worker's host; registry
  *names* are resolved on the worker, never code shipped).
* A node activity's input (:func:`node_request`): which node of which
  graph, the activation id and visit, the frame's state, variables, input
  and error, and the budget scopes' counters at the node's start. It does
  not carry the IR: a worker reads the IR once from the run's first
  history event and caches it by IR hash.
* A node activity's result: ``{"ok": {...}}`` (the node's result, label,
  writes, usage and the files its tools returned) or ``{"error": {...}}``
  (a :class:`~ragc.runtime.errors.RunError` as ``to_dict``).

Big payloads: Temporal refuses a payload over 2 MiB (the SDK fails the
activity task) and warns above 512 KiB. A node result whose JSON is larger
than :data:`MAX_RESULT_BYTES` is not sent as is: the activity fails the
node with ``E0934`` (a non-retryable node failure, which an ``error`` route
can take), naming the size and the limit; state that grows past the limit
must be kept outside the run (files through tools, a store) and referenced
by path. The activity input carries the frame state, so a state over the
limit fails the same way before the node runs.
"""

from __future__ import annotations

import json
from typing import Any

from ragc.runtime.activation import DEFAULT, NO_WRITE, NodeOutput

MAX_RESULT_BYTES = 1_500_000
"""Largest activity result or input (JSON bytes) sent through history; under
Temporal's 2 MiB payload limit, leaving room for the envelope."""

W_DEFAULT, W_NONE = "d", "n"


def size_of(value: Any) -> int:
    """Bytes of ``value`` as compact JSON (non-JSON values as ``str``)."""
    return len(json.dumps(value, separators=(",", ":"), default=str, ensure_ascii=False).encode())


def run_request(*, ir_json: str, ir_hash: str, inputs: dict[str, Any], run_id: str, caps: dict[str, Any],
                policy_budgets: list[dict[str, Any]], registry: str | None, workspace: str | None,
                source: str | None, untrusted: bool, heartbeat_s: float = 2.0,
                history_limit: int | None = None) -> dict[str, Any]:
    """The workflow input of one run (all values JSON).

    Args:
        ir_json: ``ProgramIR.model_dump_json()``; ir_hash: its hash.
        caps: the effective ``LimitsIR`` as a dict; policy_budgets: the
            registry policies' budget scopes (``BudgetScope`` fields).
        registry, workspace, source: paths as the client saw them (a worker
            without ``--registry`` loads this registry path).
        heartbeat_s: the heartbeat timeout of node activities, seconds.
        history_limit: history events after which the run continues as
            new (:mod:`ragc.temporal.continuation`; ``None``: when the
            server suggests it).
    """
    return {"ir": ir_json, "ir_hash": ir_hash, "inputs": inputs, "run_id": run_id, "caps": caps,
            "policy_budgets": policy_budgets, "registry": registry, "workspace": workspace, "source": source,
            "untrusted": untrusted, "heartbeat_s": heartbeat_s, "history_limit": history_limit}


def encode_output(out: NodeOutput) -> dict[str, Any]:
    """A :class:`NodeOutput` as JSON (``w``: ``"d"`` the result itself,
    ``"n"`` nothing, else ``[value]``)."""
    w = out.write
    return {"r": out.result, "l": out.label,
            "w": W_DEFAULT if w is DEFAULT else W_NONE if w is NO_WRITE else [w],
            "x": [list(p) for p in out.extra] if out.extra else None}


def decode_output(d: dict[str, Any]) -> NodeOutput:
    """The inverse of :func:`encode_output`."""
    w = d.get("w")
    write = DEFAULT if w == W_DEFAULT else NO_WRITE if w == W_NONE else w[0]
    extra = [(ch, v) for ch, v in d["x"]] if d.get("x") else None
    return NodeOutput(d.get("r"), d.get("l"), write, extra)


def node_refs(cprog: Any) -> dict[str, Any]:
    """``ref -> CNode`` for every node of a compiled program: ``"GRAPH:NODE"``,
    and ``"GRAPH:NODE:J"`` for the synthetic agent node of ``send`` entry
    ``J`` of ``NODE`` (a registry agent as a send target). The workflow and
    the worker compile the same IR, so a ref names the same node on both.
    Cached on the program."""
    refs = getattr(cprog, "_temporal_refs", None)
    if refs is None:
        refs = {}
        for gkey, g in cprog.graphs.items():
            for name, cn in g.nodes.items():
                refs[f"{gkey}:{name}"] = cn
                for j, b in enumerate(cn.branches):
                    if b.is_agent and b.agent_node is not None:
                        refs[f"{gkey}:{name}:{j}"] = b.agent_node
        try:
            cprog._temporal_refs = refs
        except AttributeError:  # a program class with slots: recompute each time
            pass
    return refs


def ref_of(cprog: Any, cn: Any) -> str:
    """The ref of compiled node ``cn`` (see :func:`node_refs`)."""
    inv = getattr(cprog, "_temporal_inv", None)
    if inv is None:
        inv = {id(v): k for k, v in node_refs(cprog).items()}
        try:
            cprog._temporal_inv = inv
        except AttributeError:
            pass
    return inv[id(cn)]


SCOPE_FIELDS = ("label", "max_model_calls", "max_tool_calls", "max_tokens", "max_cost_usd", "model_calls",
                "tool_calls", "input_tokens", "output_tokens", "cost_usd")
"""The fields of a :class:`~ragc.runtime.budget.BudgetScope` sent to an activity."""


def scope_dict(s: Any) -> dict[str, Any]:
    """A budget scope's limits and counters as JSON (``BudgetScope(**d)`` rebuilds it)."""
    return {k: getattr(s, k) for k in SCOPE_FIELDS}
