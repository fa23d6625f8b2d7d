"""What an interrupt asks about: the state to show a human before the question.

A question like "Publish this draft?" is only answerable with the draft in
front of you. :func:`relevant_channels` finds the channels that matter for
an ``interrupt`` node, statically from the compiled graph:

1. the channels its question (``prompt``) names (``{{ state.draft }}``);
2. else the channels written by the nodes that lead to it: walking back
   over its predecessors (``next``, routes, joins), through nodes that write
   nothing (routers, other interrupts), to the first ones with an
   ``output`` or an ``update`` (at most :data:`MAX_HOPS` steps).

:func:`context_lines` renders those channels' current values from the run's
state: the newest item of an ``append``/``messages`` channel, the value of
the others, each cut to :data:`MAX_LINES` lines.
"""

from __future__ import annotations

import json
import re
from typing import Any

from ragc.ir.model import GraphIR, PathExpr, ProgramIR

MAX_HOPS = 4
MAX_LINES = 20
MAX_CHARS = 2000
_LIST_REDUCERS = ("append", "messages", "union")


def _graph_of(program: ProgramIR, node: str) -> GraphIR | None:
    g = program.entry_graph
    if node in g.nodes:
        return g
    return next((x for x in program.graphs.values() if node in x.nodes), None)


def _state_paths(e: Any, out: list[str]) -> None:
    """Channel names an expression reads (``state.X`` paths and ``{{ state.X }}`` in templates)."""
    if e is None:
        return
    if isinstance(e, PathExpr):
        if e.root == "state" and e.segments and isinstance(e.segments[0], str):
            out.append(e.segments[0])
        return
    if getattr(e, "type", None) == "template":
        out += re.findall(r"\bstate\.([A-Za-z_][A-Za-z0-9_]*)", e.source)
        return
    for name in ("items", "args", "operands"):
        for x in getattr(e, name, None) or []:
            _state_paths(x, out)
    for name in ("left", "right", "operand"):
        _state_paths(getattr(e, name, None), out)
    for x in (getattr(e, "fields", None) or {}).values():
        _state_paths(x, out)


def _predecessors(g: GraphIR, node: str) -> list[str]:
    out = []
    for name, n in g.nodes.items():
        r = n.routing
        targets = list(r.targets) + [x.target for x in r.routes]
        if node in targets:
            out.append(name)
    for j in g.joins.values():
        if j.target == node and j.node is None:
            out += list(j.sources) or [j.fork]
    return out


def relevant_channels(program: ProgramIR, node: str) -> list[str]:
    """The channels to show before asking ``node``'s question (module docs); may be empty."""
    g = _graph_of(program, node)
    if g is None:
        return []
    named: list[str] = []
    _state_paths(g.nodes[node].prompt, named)
    if named:
        return [c for c in dict.fromkeys(named) if c in g.channels]
    found: list[str] = []
    frontier, seen = [node], {node}
    for _ in range(MAX_HOPS):
        nxt = []
        for name in frontier:
            for p in _predecessors(g, name):
                if p in seen:
                    continue
                seen.add(p)
                n = g.nodes[p]
                writes = ([n.output] if n.output else []) + list(n.update)
                writes = [w for w in writes if w in g.channels and w != "errors"]
                if writes:
                    found += writes
                else:
                    nxt.append(p)  # writes nothing (a router): look further back
        if found:
            break
        frontier = nxt
    return list(dict.fromkeys(found))


def _text(value: Any) -> str:
    if isinstance(value, dict) and "content" in value and "role" in value:
        value = value["content"]  # a message: its text
    text = value if isinstance(value, str) else json.dumps(value, indent=2, ensure_ascii=False, default=str)
    if len(text) > MAX_CHARS:
        text = text[: MAX_CHARS - 1] + "…"
    lines = text.splitlines() or [""]
    if len(lines) > MAX_LINES:
        lines = lines[:MAX_LINES] + [f"… ({len(lines) - MAX_LINES} more lines; `ragc runs show` has the whole state)"]
    return "\n".join(lines)


def context_lines(program: ProgramIR, pending: dict[str, Any], state: dict[str, Any] | None) -> list[str]:
    """Lines showing what the pending interrupt asks about: for each
    :func:`relevant_channels` channel with a value, a heading
    (``drafts (newest of 2):``) and the value indented by four spaces."""
    node = pending.get("node")
    if not node or not state:
        return []
    g = _graph_of(program, node)
    out: list[str] = []
    for ch in relevant_channels(program, node):
        value = state.get(ch)
        if value in (None, [], {}, ""):
            continue
        reducer = g.channels[ch].reducer if g is not None and ch in g.channels else "last"
        heading = f"{ch}:"
        if reducer in _LIST_REDUCERS and isinstance(value, list):
            heading = f"{ch} (newest of {len(value)}):" if len(value) > 1 else f"{ch}:"
            value = value[-1]
        out.append(heading)
        out += ["    " + line for line in _text(value).splitlines()]
    return out
