"""Loops and recursion.

A cycle of nodes (a strongly connected component) needs a way out: a
labelled route from one of its nodes to a node outside it or to ``END``.
``next``, ``goto`` and edges are not choices, so a cycle built only from
them never ends (``E0305``). A cycle whose only ways out are labels a
model picks, with no ``max_visits`` on any of its nodes (nor a graph
default), is bounded only by the model (``W0301``); so is one whose only
ways out are ``error`` outcome routes (it ends only when a call fails).
Router conditions, functions, interrupts and ``ok`` outcomes count as
bounds.

Subgraph recursion (a graph running itself through subgraph nodes of the
same file) is ``E0306``; recursion through registry graphs is reported by
:mod:`ragc.compiler`, which compiles them.
"""

from __future__ import annotations

from ragc.check.context import Ctx
from ragc.check.flow import sccs
from ragc.check.model import END, GraphInfo, ModuleInfo
from ragc.check.values import as_name
from ragc.diagnostics.model import Label
from ragc.syntax import ast as A


def check(ctx: Ctx, g: GraphInfo) -> None:
    """``E0305`` and ``W0301`` for the cycles of ``g``."""
    defaults = g.setting("defaults")
    default_visits = isinstance(defaults, A.ObjectV) and defaults.get("max_visits") is not None
    for comp in sccs(g):
        members = set(comp)
        exits = [(n, s) for n in comp for s in g.succ.get(n, ())
                 if s.how == "route" and (s.target == END or s.target not in members)]
        shown = " -> ".join(f"`{n}`" for n in _cycle_order(g, comp))
        head = g.nodes[comp[0]]
        back = [Label(s.span, "goes back into the loop") for n in comp for s in g.succ.get(n, ())
                if s.target in members][:3]
        if not exits:
            ctx.bag.error("E0305", f"loop without exit: {shown}", head.node.name.span, "this loop never ends",
                          secondary=tuple(back),
                          help="add a route out of the loop (e.g. a router with `done -> END when ...`)")
            continue
        choosers = {g.nodes[n].chooser for n, _ in exits}
        bounded = default_visits or any("max_visits" in g.nodes[n].fields for n in comp)
        if not bounded and all(g.nodes[n].chooser == "outcome" and s.label == "error" for n, s in exits):
            labels = tuple(Label(s.span, "taken only when the node fails") for _, s in exits[:3])
            ctx.bag.warning("W0301", f"loop left only on failure: {shown}", head.node.name.span,
                            "while every call succeeds this loop never ends", secondary=labels,
                            help=f"add `max_visits N` to `{comp[0]}`, or leave the loop by a router condition")
            continue
        if choosers == {"model"} and not bounded:
            labels = tuple(Label(s.span, f"only the model chooses `{s.label}`") for _, s in exits[:3])
            ctx.bag.warning("W0301", f"loop bounded only by model choice: {shown}", head.node.name.span,
                            "a model may keep choosing this loop", secondary=labels,
                            help=f"add `max_visits N` to `{comp[0]}`, or leave the loop by a router condition "
                                 "or an interrupt")


def _cycle_order(g: GraphInfo, comp: list[str]) -> list[str]:
    """The component's nodes along edges from its first node (as far as a
    simple walk goes), then the rest; closed by the first node again."""
    members = set(comp)
    order = [comp[0]]
    seen = {comp[0]}
    cur = comp[0]
    while True:
        nxt = next((s.target for s in g.succ.get(cur, ()) if s.target in members and s.target not in seen), None)
        if nxt is None:
            break
        order.append(nxt)
        seen.add(nxt)
        cur = nxt
    order += [n for n in comp if n not in seen]
    return order[:8] + (["..."] if len(order) > 8 else []) + [comp[0]]


def check_recursion(ctx: Ctx, m: ModuleInfo) -> None:
    """``E0306`` for subgraph nodes on a cycle of graphs of this file."""
    calls: dict[str, list[tuple[str, A.Field]]] = {}
    for g in m.graphs.values():
        for info in g.nodes.values():
            if info.kind == "subgraph" and "graph" in info.fields:
                target = as_name(info.fields["graph"].value)
                if target in m.graphs:
                    calls.setdefault(g.name, []).append((target, info.fields["graph"]))
    reported: set[frozenset[str]] = set()
    for g_name, edges in calls.items():
        for target, f in edges:
            path = _path(calls, target, g_name)
            if path is None:
                continue
            cycle = frozenset([g_name] + path)
            if cycle in reported:
                continue  # one diagnostic per cycle, at its first call
            reported.add(cycle)
            chain = " -> ".join(f"`{x}`" for x in [g_name] + path)
            ctx.bag.error("E0306", f"subgraph recursion: {chain}", f.value.span,
                          f"`{g_name}` runs `{target}`" + (", which runs it again" if target != g_name else " itself"),
                          help="a graph cannot run itself as a subgraph; use a loop inside the graph instead")


def _path(calls: dict[str, list[tuple[str, A.Field]]], start: str, goal: str) -> list[str] | None:
    """A call path ``start -> ... -> goal`` (breadth first), or ``None``."""
    prev: dict[str, str | None] = {start: None}
    queue = [start]
    while queue:
        cur = queue.pop(0)
        if cur == goal:
            out = [cur]
            while prev[out[-1]] is not None:
                out.append(prev[out[-1]])  # type: ignore[arg-type]
            return list(reversed(out))
        for nxt, _ in calls.get(cur, ()):
            if nxt not in prev:
                prev[nxt] = cur
                queue.append(nxt)
    return None
