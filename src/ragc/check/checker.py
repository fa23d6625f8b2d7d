"""The checker: runs every pass over a parsed module and collects all
diagnostics (never stopping at the first).

Order of the passes (each reads what the earlier ones resolved)::

    names      index graphs, nodes, channels; duplicates; reserved names
    kinds      node kinds, fields, value shapes, registry names; graph settings
    channels   reducers and channel options
    schemas    input/output/schema blocks
    routing    routing forms, targets, labels; control edges
    joins      the three join spellings; policies
    channels   output channels and writes
    joins      forks of top-level joins and join nodes; skippable sources
    flow       reachability (W0303)
    flow       fork branches and their regions
    expressions paths and templates: roots, channels and input fields read
    channels   unused channels
    conflicts  concurrent writes to `last` channels
    loops      cycles without exit or bounded only by a model
    policy     capabilities and limits against the registry policy
    module     subgraph inputs and recursion

Entry point: :func:`check_module`.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Mapping

from ragc.check import channels, conflicts, expressions, flow, joins, kinds, loops, names, policy, routing, schemas, tool_args
from ragc.check.context import Ctx
from ragc.check.model import ModuleInfo
from ragc.diagnostics.model import Diagnostic, DiagnosticBag
from ragc.gc_pause import paused_collector
from ragc.registry.model import Registry
from ragc.syntax import ast as A
from ragc.syntax.upstream import desugar


@dataclass
class CheckResult:
    """``info``: the resolved module (for lowering); ``diagnostics``: sorted."""

    info: ModuleInfo
    diagnostics: list[Diagnostic] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        """No error diagnostics (warnings allowed)."""
        return not any(d.is_error for d in self.diagnostics)


def check_module(module: A.Module, registry: Registry | None, *, source: str = "", file: str = "<string>",
                 untrusted: bool = False, bag: DiagnosticBag | None = None,
                 tool_schemas: Mapping[str, Mapping[str, Any]] | None = None) -> CheckResult:
    """Check a parsed module.

    Args:
        module: the AST (possibly from a parse with recovered errors).
        registry: names are resolved against it; ``None`` when unavailable
            (registry names, agent outputs and policies are then not checked).
        source: the file's text (for spans inside template strings and
            insertion suggestions).
        file: the file name used in spans.
        untrusted: also check against ``[policies.untrusted]``.
        bag: an existing bag to add to (e.g. holding parse diagnostics).
        tool_schemas: tool name -> JSON schema of its arguments; ``tool``
            nodes' ``args`` are checked against them (``ragc.check.tool_args``).

    Returns:
        A :class:`CheckResult`; never raises for bad input.

    Upstream's spellings (``ragc.syntax.upstream``) are rewritten first, so an
    upstream file is checked as its canonical form and ``info`` describes it.
    """
    module = desugar(module)
    with paused_collector():  # the passes allocate many small objects and free few of them (as the parser does)
        return _check(module, registry, source, file, untrusted, bag if bag is not None else DiagnosticBag(),
                      tool_schemas)


def _check(module: A.Module, registry: Registry | None, source: str, file: str, untrusted: bool,
           bag: DiagnosticBag, tool_schemas: Mapping[str, Mapping[str, Any]] | None = None) -> CheckResult:
    ctx = Ctx(bag, registry, source, file, untrusted)
    info = names.index_module(ctx, module)
    local_graphs = set(info.graphs)
    for g in info.graphs.values():
        for n in g.nodes.values():
            kinds.check_node(ctx, g, n, local_graphs)
        kinds.check_graph_settings(ctx, g)
        names.check_start(ctx, g)
        channels.declare(ctx, g)
        schemas.check_graph(ctx, g)
        routing.collect(ctx, g)
        joins.build(ctx, g)
        joins.check_quorum(ctx, g)
        channels.resolve_outputs(ctx, g)
        joins.resolve_forks(ctx, g)
        flow.reachability(ctx, g)
        flow.build_forks(g)
        reads = expressions.check_graph(ctx, g)
        channels.check_unused(ctx, g, reads.channels, expressions.agent_reads(ctx, g))
        conflicts.check(ctx, g)
        loops.check(ctx, g)
        policy.check(ctx, g)
        tool_args.check(ctx, g, tool_schemas)
    schemas.check_subgraph_inputs(ctx, info)
    loops.check_recursion(ctx, info)
    return CheckResult(info, bag.sorted())
