"""The entry graph of a program as positioned boxes and arrows, for the inspector's SVG.

:func:`graph_view` lays the graph out in layers (Sugiyama-style, simplified):
a node's layer is its breadth-first distance from ``start`` (so back edges of
loops point upwards), nodes within a layer keep the order the ``.rag`` file
declares them in, and ``START`` / ``END`` are boxes of their own. The browser
only draws what it is given; no layout runs client-side.

Shape::

    {"graph": NAME, "width": W, "height": H,
     "nodes": [{"id", "kind", "detail", "x", "y", "w", "h"}],   # x, y: top-left, pixels
     "edges": [{"from", "to", "label", "dotted"}]}

Edges: ``next`` targets, routes (labelled), fan-out branches to nodes
(dotted, ``send``), joins (from each source to the join target, labelled by
policy). Agent branches of a ``send`` and subgraph bodies are not drawn.
"""

from __future__ import annotations

from collections import deque
from typing import Any

from ragc.ir.export import join_label, node_detail
from ragc.ir.model import END, ProgramIR

BOX_W, BOX_H, GAP_X, GAP_Y, MARGIN = 170, 46, 30, 44, 16
START = "START"


def _edges(g: Any) -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = [{"from": START, "to": g.start, "label": "", "dotted": False}]
    for name, n in g.nodes.items():
        r = n.routing
        if r.kind == "next":
            out += [{"from": name, "to": t, "label": "", "dotted": False} for t in r.targets]
        elif r.kind == "routes":
            out += [{"from": name, "to": x.target, "label": x.label, "dotted": False} for x in r.routes]
        elif r.kind == "fanout":
            out += [{"from": name, "to": b.target, "label": "send", "dotted": True}
                    for b in r.branches if b.target_kind == "node"]
    for j in g.joins.values():
        sources = list(j.sources) or [j.fork]
        for s in sources:
            if j.node is None:
                out.append({"from": s, "to": j.target, "label": join_label(j), "dotted": True})
    seen: set[tuple] = set()
    unique = []
    for e in out:
        key = (e["from"], e["to"], e["label"])
        if key not in seen:
            seen.add(key)
            unique.append(e)
    return unique


def graph_view(program: ProgramIR, graph: str | None = None) -> dict[str, Any]:
    """The layout of ``graph`` (default: the entry graph) of ``program`` (see module docs)."""
    g = program.graphs[graph or program.entry]
    edges = _edges(g)
    succ: dict[str, list[str]] = {}
    for e in edges:
        succ.setdefault(e["from"], []).append(e["to"])
    layer = {START: 0}
    queue = deque([START])
    while queue:
        cur = queue.popleft()
        for t in succ.get(cur, []):
            if t not in layer:
                layer[t] = layer[cur] + 1
                queue.append(t)
    deepest = max(layer.values(), default=0)
    for name in g.nodes:  # unreachable nodes (the checker warns) go last
        layer.setdefault(name, deepest + 1)
    if any(e["to"] == END for e in edges):
        layer[END] = max(layer.values()) + 1
    order = [START, *g.nodes, END]
    rows: dict[int, list[str]] = {}
    for name in order:
        if name in layer:
            rows.setdefault(layer[name], []).append(name)
    widest = max(len(r) for r in rows.values())
    width = MARGIN * 2 + widest * BOX_W + (widest - 1) * GAP_X
    nodes = []
    for depth in sorted(rows):
        row = rows[depth]
        row_w = len(row) * BOX_W + (len(row) - 1) * GAP_X
        x0 = (width - row_w) / 2
        for i, name in enumerate(row):
            n = g.nodes.get(name)
            nodes.append({"id": name, "kind": n.kind if n is not None else name.lower(),
                          "detail": node_detail(n) if n is not None else "",
                          "x": round(x0 + i * (BOX_W + GAP_X)), "y": MARGIN + depth * (BOX_H + GAP_Y),
                          "w": BOX_W, "h": BOX_H})
    height = MARGIN * 2 + (max(rows) + 1) * BOX_H + max(rows) * GAP_Y
    return {"graph": g.name if hasattr(g, "name") else (graph or program.entry), "width": width, "height": height,
            "nodes": nodes, "edges": edges}
