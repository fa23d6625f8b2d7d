"""Pictures of a compiled graph: Mermaid flowcharts and Graphviz DOT.

What is drawn (both formats):

* a node per graph node, its shape by kind, labelled ``name`` and
  ``kind · detail`` (model, tool, agent, subgraph...);
* ``next`` edges as plain arrows; static forks (``next [a, b]``) as several
  arrows from one node;
* routes as arrows labelled with the label, and for router conditions an
  abbreviated condition (``ask: state.rounds < 3``);
* fan-outs as dotted arrows labelled ``send`` (``send for item in
  state.files``), agent branches as their own boxes;
* joins as a circle labelled with the policy (``join quorum 3 · tolerate 1
  · timeout 2m``): branch ends point at it, it points at the continuation;
* detached nodes (``blocking false``) dashed and marked ``detached``;
* subgraph nodes, with the called graph drawn as a cluster (once per graph)
  and a dotted arrow to its start.

Entry points: :func:`to_mermaid`, :func:`to_dot`. Output is deterministic.
Mermaid syntax: https://mermaid.js.org/syntax/flowchart.html; DOT:
https://graphviz.org/doc/info/lang.html.
"""

from __future__ import annotations

import re
import textwrap
from collections import deque
from dataclasses import dataclass, field

from ragc.ir.model import END, BranchIR, GraphIR, JoinIR, NodeIR, ProgramIR

MAX_CONDITION = 28
MAX_LINE = 30
"""Label lines are wrapped at this many characters."""

_MERMAID_SHAPES = {
    "model": ('["', '"]'),
    "agent": ('(["', '"])'),
    "tool": ('[/"', '"/]'),
    "router": ('{"', '"}'),
    "subagent": ('[["', '"]]'),
    "subgraph": ('[["', '"]]'),
    "interrupt": ('{{"', '"}}'),
    "join": ('[/"', '"\\]'),
    "function": ('>"', '"]'),
    "repl": ('[("', '")]'),
}
_DOT_SHAPES = {
    "model": "box", "agent": "box", "tool": "note", "router": "diamond", "subagent": "box3d",
    "subgraph": "box3d", "interrupt": "hexagon", "join": "box", "function": "component",
    "repl": "cylinder",
}


# --------------------------------------------------------------------------- expressions as short text


def expr_text(e) -> str:
    """A compact source-like rendering of an IR expression."""
    t = getattr(e, "type", None)
    if t == "lit":
        v = e.value
        if isinstance(v, str):
            return '"' + v + '"'
        if v is None:
            return "null"
        if isinstance(v, bool):
            return "true" if v else "false"
        return str(v)
    if t == "path":
        out = e.root
        for s in e.segments:
            out += f"[{s}]" if isinstance(s, int) else f".{s}"
        return out
    if t == "template":
        return '"' + e.source + '"'
    if t == "list":
        return "[" + ", ".join(expr_text(x) for x in e.items) + "]"
    if t == "object":
        return "{" + ", ".join(f"{k}: {expr_text(v)}" for k, v in e.fields.items()) + "}"
    if t == "call":
        return f"{e.func}(" + ", ".join(expr_text(x) for x in e.args) + ")"
    if t == "compare":
        op = "not in" if e.op == "not_in" else e.op
        return f"{expr_text(e.left)} {op} {expr_text(e.right)}"
    if t == "bool":
        return f" {e.op} ".join(expr_text(x) for x in e.operands)
    if t == "not":
        return "not " + expr_text(e.operand)
    return "?"


def abbreviate(text: str, limit: int = MAX_CONDITION) -> str:
    """``text`` cut to ``limit`` characters with an ellipsis."""
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _duration(seconds: float) -> str:
    for unit, size in (("h", 3600), ("m", 60), ("s", 1)):
        if seconds >= size and seconds % size == 0:
            return f"{int(seconds // size)}{unit}"
    return f"{int(seconds * 1000)}ms" if seconds < 1 else f"{seconds:g}s"


def join_label(j: JoinIR, branches: int | None = None) -> str:
    """``join quorum 3 of 5 · tolerate 1 · timeout 2m`` (``of N`` when the
    number of branches is known statically)."""
    head = f"join {j.policy}" + (f" {j.quorum}" if j.quorum else "")
    if branches is not None and j.policy != "all":
        head += f" of {branches}"
    parts = [head]
    if j.tolerate:
        parts.append(f"tolerate {j.tolerate}")
    if j.timeout_s:
        parts.append(f"timeout {_duration(j.timeout_s)}")
    return " · ".join(parts)


def node_detail(n: NodeIR) -> str:
    """The second line of a node's label: ``kind · model`` (or tool, agent...)."""
    detail = {
        "model": n.model, "agent": n.model, "repl": n.model, "tool": n.tool or "pending calls", "subagent": n.agent,
        "subgraph": n.graph, "function": n.function, "router": n.routing.function,
    }.get(n.kind)
    text = n.kind + (f" · {detail}" if detail else "")
    if not n.blocking:
        text += " · detached"
    return text


def wrap(text: str, width: int = MAX_LINE) -> list[str]:
    """``text`` as lines of at most ``width`` characters (words kept whole
    when they fit; a longer word is cut), so labels do not spill."""
    return textwrap.wrap(text, width, break_long_words=True, break_on_hyphens=False) or [""]


AgentInfo = dict[str, tuple[str, list[str]]]
"""Registry agents by name: ``(model, tools)``, to draw what a sub-agent may use."""


def _agent_lines(agent: str | None, agents: AgentInfo | None) -> list[str]:
    if not agent or not agents or agent not in agents:
        return []
    model, tools = agents[agent]
    return wrap(f"model {model}" + (f" · tools: {', '.join(tools)}" if tools else ""))


def node_label(n: NodeIR, agents: AgentInfo | None = None) -> list[str]:
    """A node's label lines: name, ``kind · model``, its tools (wrapped);
    for a sub-agent, the registry agent's model and tools when ``agents``
    has them."""
    lines = wrap(n.name) + wrap(node_detail(n))
    if n.tools:
        lines += wrap("tools: " + ", ".join(n.tools))
    if n.kind == "subagent":
        lines += _agent_lines(n.agent, agents)
    if n.kind == "interrupt" and n.options:
        lines += wrap("answers: " + " | ".join(n.options))
    return lines


def branch_labels(branches: list[BranchIR]) -> list[str]:
    """What tells the ``send`` branches of one fork apart: the payload fields
    whose values differ between branches with the same target (``focus:
    "security"``), else the whole payload (abbreviated); ``""`` without one."""
    out = []
    for b in branches:
        if b.payload is None:
            out.append("")
            continue
        same = [x for x in branches if x.target == b.target and x.payload is not None]
        fields = b.payload.fields
        if len(same) > 1:
            varying = {k: v for k, v in fields.items()
                       if any(k not in x.payload.fields or expr_text(x.payload.fields[k]) != expr_text(v)
                              for x in same)}
            if varying:
                fields = varying
        out.append(abbreviate(", ".join(f"{k}: {expr_text(v)}" for k, v in fields.items()), 2 * MAX_LINE))
    return out


# --------------------------------------------------------------------------- the drawing model


@dataclass
class _Box:
    id: str
    label: list[str]
    shape: str  # a node kind, or "start"/"end"/"joinpoint"/"agentbranch"
    dashed: bool = False


@dataclass
class _Edge:
    src: str
    dst: str
    label: str = ""
    dotted: bool = False


@dataclass
class _Cluster:
    id: str
    title: str
    boxes: list[_Box] = field(default_factory=list)
    edges: list[_Edge] = field(default_factory=list)
    clusters: list["_Cluster"] = field(default_factory=list)


def _safe(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9_]", "_", text)


def _branch_region(g: GraphIR, root: str, stop: set[str]) -> list[str]:
    seen = {root}
    order = [root]
    queue = deque([root])
    while queue:
        n = g.nodes.get(queue.popleft())
        if n is None:
            continue
        r = n.routing
        nxt = list(r.targets) + [x.target for x in r.routes] + [b.target for b in r.branches
                                                                  if b.target_kind == "node"]
        if r.join and r.join in g.joins and r.kind in ("fanout", "next"):
            nxt.append(g.joins[r.join].target)
        for t in nxt:
            if t in g.nodes and t not in seen and t not in stop:
                seen.add(t)
                order.append(t)
                queue.append(t)
    return order


def _branch_ends(g: GraphIR, root: str, stop: set[str], sources: set[str]) -> list[str]:
    """Nodes of the branch from ``root`` where it arrives at its join."""
    region = _branch_region(g, root, stop)
    ends = []
    for name in region:
        n = g.nodes[name]
        if name in sources or n.routing.kind == "end" or (
                n.routing.kind == "next" and any(t in stop or t == END for t in n.routing.targets)):
            ends.append(name)
    return ends


def _join_lines(j: JoinIR, branches: int | None) -> list[str]:
    """The policy on the first line, tolerance and timeout on the second."""
    head, *rest = join_label(j, branches).split(" · ")
    return [head] + ([" · ".join(rest)] if rest else [])


def _static_branches(g: GraphIR, j: JoinIR) -> int | None:
    fork = g.nodes.get(j.fork)
    if j.sources:
        return len(j.sources)
    if fork is None or any(b.foreach is not None for b in fork.routing.branches):
        return None
    return len(fork.routing.branches)


def _build(program: ProgramIR, gname: str, prefix: str, seen: set[str], agents: AgentInfo | None) -> _Cluster:
    g = program.graphs[gname]
    cl = _Cluster("c_" + _safe(prefix or gname), gname)

    def pid(n: str) -> str:
        # "n_" keeps user names clear of Mermaid/DOT keywords (`end`, `graph`...)
        return "n_" + _safe(prefix + n)

    start_id, end_id = "x_" + _safe(prefix) + "start", "x_" + _safe(prefix) + "end"
    cl.boxes.append(_Box(start_id, ["START"], "start"))
    cl.edges.append(_Edge(start_id, pid(g.start)))
    uses_end = False
    # Branch ends that arrive at a join: they continue there, not at END.
    arrives: set[str] = set()
    for j in g.joins.values():
        fork = g.nodes.get(j.fork)
        stop = {j.target} | ({j.node} if j.node else set())
        if fork is not None and fork.routing.kind == "fanout":
            for b in fork.routing.branches:
                if b.target_kind == "node":
                    arrives.update(_branch_ends(g, b.target, stop, set()))
        arrives.update(j.sources)
    for name, n in g.nodes.items():
        cl.boxes.append(_Box(pid(name), node_label(n, agents), n.kind, dashed=not n.blocking))
    for name, n in g.nodes.items():
        r = n.routing
        if r.kind == "end" and name not in arrives:
            uses_end = True
            cl.edges.append(_Edge(pid(name), end_id))
        elif r.kind == "next":
            for t in r.targets:
                uses_end |= t == END
                cl.edges.append(_Edge(pid(name), end_id if t == END else pid(t)))
        elif r.kind == "routes":
            for route in r.routes:
                label = route.label
                if route.when is not None:
                    label += ": " + abbreviate(expr_text(route.when))
                uses_end |= route.target == END
                cl.edges.append(_Edge(pid(name), end_id if route.target == END else pid(route.target), label))
        elif r.kind == "fanout":
            texts = branch_labels(r.branches)
            for i, b in enumerate(r.branches):
                label = "send"
                if b.foreach is not None:
                    label += f" for {b.foreach.var} in {abbreviate(expr_text(b.foreach.source))}"
                if b.target_kind == "agent":
                    bid = "a_" + _safe(prefix + f"{name}_{i}")
                    lines = wrap(b.target) + ["subagent (branch)"] + (wrap(texts[i]) if texts[i] else [])
                    lines += _agent_lines(b.target, agents)
                    lines += [f"→ {b.output}"] if b.output else []
                    cl.boxes.append(_Box(bid, lines, "agentbranch"))
                    cl.edges.append(_Edge(pid(name), bid, label, dotted=True))
                else:
                    if texts[i]:
                        label += " " + texts[i]
                    cl.edges.append(_Edge(pid(name), pid(b.target), label, dotted=True))
        if n.kind == "subgraph" and n.graph in program.graphs and n.graph not in seen:
            seen.add(n.graph)
            sub = _build(program, n.graph, prefix + _safe(n.graph) + "__", seen, agents)
            sub.title = f"subgraph {n.graph}"
            cl.clusters.append(sub)
        if n.kind == "subgraph" and n.graph in program.graphs:
            callee_start = "x_" + _safe(prefix + _safe(n.graph) + "__") + "start"
            cl.edges.append(_Edge(pid(name), callee_start, "runs", dotted=True))
    for jid, j in g.joins.items():
        if j.node is not None:
            jbox = pid(j.node)  # a join node is drawn as the node itself
            box = next(b for b in cl.boxes if b.id == jbox)
            box.label = box.label[:1] + _join_lines(j, _static_branches(g, j))
        else:
            jbox = "j_" + _safe(prefix + jid)
            cl.boxes.append(_Box(jbox, _join_lines(j, _static_branches(g, j)), "joinpoint"))
            uses_end |= j.target == END
            cl.edges.append(_Edge(jbox, end_id if j.target == END else pid(j.target)))
        fork = g.nodes.get(j.fork)
        if fork is None:
            continue
        stop = {j.target} | ({j.node} if j.node else set())
        if fork.routing.kind == "fanout":
            for i, b in enumerate(fork.routing.branches):
                if b.target_kind == "agent":
                    cl.edges.append(_Edge("a_" + _safe(prefix + f"{j.fork}_{i}"), jbox, dotted=True))
                else:
                    for end in _branch_ends(g, b.target, stop, set()):
                        cl.edges.append(_Edge(pid(end), jbox, dotted=True))
        elif j.node is None:
            for s in j.sources:
                cl.edges.append(_Edge(pid(s), jbox, dotted=True))
        else:
            for s in j.sources:
                if g.nodes[s].routing.kind == "end":
                    cl.edges.append(_Edge(pid(s), jbox, dotted=True))
    if uses_end:
        cl.boxes.append(_Box(end_id, ["END"], "end"))
    # dedupe edges, keep order
    seen_edges: set[tuple] = set()
    edges = []
    for e in cl.edges:
        key = (e.src, e.dst, e.label, e.dotted)
        if key not in seen_edges:
            seen_edges.add(key)
            edges.append(e)
    cl.edges = edges
    return cl


def _pick(program: ProgramIR, graph: str | None) -> str:
    name = graph or program.entry
    if name not in program.graphs:
        raise KeyError(f"no graph `{name}` in the program")
    return name


# --------------------------------------------------------------------------- Mermaid


def _m_text(lines: list[str]) -> str:
    esc = [ln.replace('"', "#quot;").replace("<", "#lt;").replace(">", "#gt;") for ln in lines]
    return "<br/>".join(esc)


def _m_box(b: _Box) -> str:
    text = _m_text(b.label)
    if b.shape == "start":
        return f'{b.id}(["{text}"])'
    if b.shape == "end":
        return f'{b.id}(["{text}"])'
    if b.shape == "joinpoint":
        return f'{b.id}[/"{text}"\\]'
    if b.shape == "agentbranch":
        return f'{b.id}[["{text}"]]'
    open_, close = _MERMAID_SHAPES.get(b.shape, ('["', '"]'))
    return f"{b.id}{open_}{text}{close}"


def _m_edge(e: _Edge) -> str:
    arrow = "-.->" if e.dotted else "-->"
    if e.label:
        return f'{e.src} {arrow}|"{_m_text([e.label])}"| {e.dst}'
    return f"{e.src} {arrow} {e.dst}"


def _m_cluster(cl: _Cluster, indent: str, out: list[str], dashed: list[str]) -> None:
    for b in cl.boxes:
        out.append(indent + _m_box(b))
        if b.dashed:
            dashed.append(b.id)
    for sub in cl.clusters:
        out.append(f'{indent}subgraph {sub.id}["{_m_text([sub.title])}"]')
        _m_cluster(sub, indent + "  ", out, dashed)
        out.append(indent + "end")
    for e in cl.edges:
        out.append(indent + _m_edge(e))


def to_mermaid(program: ProgramIR, graph: str | None = None, *, agents: AgentInfo | None = None) -> str:
    """A Mermaid ``flowchart TD`` of ``graph`` (default: the entry graph);
    ``agents`` (:data:`AgentInfo`) adds sub-agents' models and tools.

    Raises:
        KeyError: ``graph`` is not a graph of the program.
    """
    name = _pick(program, graph)
    cl = _build(program, name, "", {name}, agents)
    out = ["flowchart TD", f"  %% graph {name} ({program.hash})"]
    dashed: list[str] = []
    _m_cluster(cl, "  ", out, dashed)
    if dashed:
        out.append("  classDef detached stroke-dasharray: 5 5")
        out.append("  class " + ",".join(dashed) + " detached")
    return "\n".join(out) + "\n"


# --------------------------------------------------------------------------- DOT


def _d_quote(text: str) -> str:
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n") + '"'


def _d_cluster(cl: _Cluster, indent: str, out: list[str]) -> None:
    for b in cl.boxes:
        attrs = {"label": "\n".join(b.label)}
        if b.shape in ("start", "end"):
            attrs.update(shape="oval", style="filled", fillcolor="lightgrey")
        elif b.shape in ("joinpoint", "join"):
            # compact: a small rounded box, not a circle sized by its label
            attrs.update(shape="box", style="rounded,filled", fillcolor="lightyellow", fontsize="10",
                         margin="0.08,0.03", height="0.3")
        elif b.shape == "agentbranch":
            attrs.update(shape="box3d")
        else:
            attrs["shape"] = _DOT_SHAPES.get(b.shape, "box")
            if b.shape == "agent":
                attrs["style"] = "rounded"
        if b.dashed:
            attrs["style"] = (attrs.get("style", "") + ",dashed").strip(",")
        out.append(indent + b.id + " [" + ", ".join(f"{k}={_d_quote(v)}" for k, v in attrs.items()) + "]")
    for sub in cl.clusters:
        out.append(f"{indent}subgraph cluster_{sub.id} {{")
        out.append(f"{indent}  label={_d_quote(sub.title)}")
        _d_cluster(sub, indent + "  ", out)
        out.append(indent + "}")
    for e in cl.edges:
        attrs = {}
        if e.label:
            attrs["label"] = e.label
        if e.dotted:
            attrs["style"] = "dashed"
        suffix = (" [" + ", ".join(f"{k}={_d_quote(v)}" for k, v in attrs.items()) + "]") if attrs else ""
        out.append(f"{indent}{e.src} -> {e.dst}{suffix}")


def to_dot(program: ProgramIR, graph: str | None = None, *, agents: AgentInfo | None = None) -> str:
    """A Graphviz ``digraph`` of ``graph`` (default: the entry graph);
    ``agents`` (:data:`AgentInfo`) adds sub-agents' models and tools.

    Raises:
        KeyError: ``graph`` is not a graph of the program.
    """
    name = _pick(program, graph)
    cl = _build(program, name, "", {name}, agents)
    out = [f"digraph {_d_quote(name)} {{", f"  // {program.hash}", "  rankdir=TB", '  fontname="Helvetica"',
           '  node [fontname="Helvetica"]', '  edge [fontname="Helvetica"]']
    _d_cluster(cl, "  ", out)
    out.append("}")
    return "\n".join(out) + "\n"
