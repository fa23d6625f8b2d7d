"""Compile a program for the runtime: structures, then executors.

:func:`compile_program` builds the compiled graphs (:mod:`ragc.runtime.compiled`:
channels, routing, joins) and then links each node to the executor of its
kind (:mod:`ragc.runtime.nodes`). It lives above both, so compiled nodes
never import the executors that run them (``docs/architecture.md``, "Module
order").
"""

from __future__ import annotations

from typing import Any

from ragc.ir.model import NodeIR, PathExpr, ProgramIR
from ragc.runtime.compiled import (CBranch, CGraph, CJoin, CNode, CProgram, build_channels, build_routing,
                                   node_expr)
from ragc.runtime.functions import FunctionTable
from ragc.runtime.nodes import build_executor


def compile_program(ir: ProgramIR, registry: Any = None, functions: FunctionTable | None = None) -> CProgram:
    """Compile every graph of ``ir``.

    Args:
        ir: the program.
        registry: a ``ragc.registry.model.Registry`` (``None``: empty).
        functions: the function table (``None``: registry only).

    Raises:
        RunError: ``E0908`` (an expression that does not compile), ``E0914``
            (a function or reducer that cannot be loaded).
    """
    functions = functions or FunctionTable(registry)
    prog = CProgram(ir, registry, functions)
    for key, gir in ir.graphs.items():
        g = CGraph(key, gir, prog)
        build_channels(g, functions)
        for jid, j in gir.joins.items():
            g.joins[jid] = CJoin(j)
        prog.graphs[key] = g
    for g in prog.graphs.values():
        gir = g.ir
        for name, nir in gir.nodes.items():
            g.nodes[name] = CNode(nir, g)
        for cn in g.nodes.values():
            nir = cn.ir
            cn.update = [(ch, node_expr(nir, e, f"update of `{ch}`")) for ch, e in nir.update.items()]
            build_routing(cn, g)
            cn.timeout_s = nir.timeout_s if nir.timeout_s is not None else g.limits.timeout_s
            cn.retry = nir.retry or gir.retry
            cn.max_visits = nir.max_visits if nir.max_visits is not None else g.limits.max_visits
            _link(cn, prog)
            for b in cn.branches:
                if b.is_agent:
                    b.agent_node = _agent_node(b, g, prog)
    prog.entry = prog.graphs[ir.entry]
    return prog


def _link(cn: CNode, prog: CProgram) -> None:
    """Attach the executor of ``cn``'s kind and adopt its declared traits."""
    ex = build_executor(cn, prog)
    cn.exec = ex
    # an executor that runs its own retry loop (a lifecycle function retries
    # only its `exec` step) gets no outer one, and no outer attempt timeout
    cn.self_retry = bool(getattr(ex, "retries_itself", False))
    # an interrupt's `timeout` is how long the answer may take, not an attempt timeout
    if getattr(ex, "untimed", False):
        cn.timeout_s = None


def _agent_node(b: CBranch, g: CGraph, prog: CProgram) -> CNode:
    """The synthetic ``subagent`` node a ``send`` to a registry agent runs:
    the agent with the branch payload as its input, writing to ``output``."""
    nir = NodeIR(name=b.target, kind="subagent", agent=b.target,
                 input=PathExpr(root="payload") if b.payload is not None else None, output=b.output, span=b.span)
    cn = CNode(nir, g)
    cn.timeout_s = g.limits.timeout_s
    cn.retry = g.ir.retry
    _link(cn, prog)
    return cn
