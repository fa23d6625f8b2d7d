"""What the goal names that the written file must use.

A file can pass ``ragc check`` and still ignore the goal: asked to "read the
file named by the input `path` with the read_file tool", the embedded model
may write one model node that never reads anything. The checker cannot know
the goal; this module can compare the two where the goal is explicit:

* a **registry name** the goal writes in backticks, or next to its kind word
  (``the read_file tool``, ``agent summarizer``), or as a whole word that
  contains ``_`` (an identifier, not English): a node of the compiled
  program that can run (reachable from ``start``) must use it (a tool node,
  a model or agent node's ``tools``, a registry agent that carries the
  tool, ...);
* an **input** the goal names (``the input `path```, ``an input list
  `paths```): the entry graph's ``input`` block must declare it;
* **every node runs**: a node nothing leads to (``W0303`` for ``ragc
  check``, a warning there) is a gap here, since an author writes a node
  to run it.

Each gap becomes an error entry shaped like a ``ragc check --format json``
diagnostic (code ``GOAL``, no span), so the repair round quotes it as it
quotes the checker's errors. The comparison is by names only: it proves a
named capability is *wired in*, not that the graph does the right thing
with it.
"""

from __future__ import annotations

import re
from typing import Any

GOAL_CODE = "GOAL"
"""The code of a goal gap in the authoring loop's error list (never a checker code)."""

_KIND_WORDS = {"tools": "tool", "agents": "agent", "functions": "function", "graphs": "subgraph",
               "stores": "store"}
_INPUT = re.compile(r"\binputs?\b(?:\s+(?:list|string|number|text|field|value|named|called))?\s+`(\w+)`",
                    re.IGNORECASE)

_HELP = {
    "tool": 'add a `kind tool` node with `tool "{name}"` and its `args`, or give the node that needs it '
            '`tools ["{name}"]`',
    "agent": 'add a `kind subagent` node with `agent "{name}"`',
    "function": 'add a `kind function` node with `function "{name}"`',
    "subgraph": 'add a `kind subgraph` node with `graph "{name}"`',
    "store": 'use the store `{name}` where the goal asks for it',
}


def _named(goal: str, name: str, kind_word: str) -> bool:
    word = rf"(?<![\w-]){re.escape(name)}(?![\w-])"
    if re.search(rf"`{re.escape(name)}`", goal):
        return True
    if "_" in name and re.search(word, goal):
        return True
    kind = rf"{kind_word}s?"
    return bool(re.search(rf"{word}\s+{kind}\b|\b{kind}\s+{word}", goal, re.IGNORECASE))


def named_in_goal(goal: str, registry: Any) -> list[tuple[str, str]]:
    """``[(kind, name)]``: the registry names ``goal`` names explicitly, in
    registry order; ``kind`` is ``tool``, ``agent``, ``function``,
    ``subgraph`` or ``store``. Models are left out (``default`` and ``fast``
    are English words)."""
    out = []
    for table, kind_word in _KIND_WORDS.items():
        for name in getattr(registry, table, {}) or {}:
            if _named(goal, name, kind_word):
                out.append((kind_word, name))
    return out


def inputs_in_goal(goal: str) -> list[str]:
    """The input names ``goal`` writes as ``input `NAME``` (in order, once each)."""
    seen: list[str] = []
    for m in _INPUT.finditer(goal):
        if m.group(1) not in seen:
            seen.append(m.group(1))
    return seen


_REQUIRE = {
    "tool": 'use the tool `{name}`: a `kind tool` node with `tool "{name}"` and `args {{ .. }}`',
    "agent": 'run the agent `{name}`: a `kind subagent` node with `agent "{name}"`',
    "function": 'call the function `{name}`: a `kind function` node with `function "{name}"`',
    "subgraph": 'run the graph `{name}`: a `kind subgraph` node with `graph "{name}"`',
    "store": "use the store `{name}`",
}


def requirements(goal: str, registry: Any) -> list[str]:
    """What the first draft is told it must contain: one line per registry
    name and input the goal states explicitly (the same names
    :func:`goal_gaps` checks afterwards)."""
    out = [_REQUIRE[kind].format(name=name) for kind, name in named_in_goal(goal, registry)]
    out += [f"declare the input `{name}` in `input {{ .. }}`" for name in inputs_in_goal(goal)]
    return out


def reachable_nodes(graph: Any) -> list[Any]:
    """The nodes of one ``GraphIR`` that can run: reached from ``start``
    through ``next`` targets, routes, send branches and join targets (a node
    nothing routes to is dead code, whatever it names)."""
    seen: set[str] = set()
    todo = [graph.start]
    join_targets = {j.fork: j.target for j in graph.joins.values()}
    while todo:
        name = todo.pop()
        if name in seen or name not in graph.nodes:
            continue
        seen.add(name)
        r = graph.nodes[name].routing
        todo += list(r.targets) + [x.target for x in r.routes]
        todo += [b.target for b in r.branches if b.target_kind == "node"]
        if name in join_targets:
            todo.append(join_targets[name])
    return [graph.nodes[n] for n in graph.nodes if n in seen]


def _dead_nodes(program: Any) -> list[tuple[str, str, Any]]:
    """``(graph key, node name, node)`` of every node that never runs (not
    reachable from its graph's ``start``), in graph and node order."""
    out = []
    for key, g in program.graphs.items():
        live = {id(n) for n in reachable_nodes(g)}
        out += [(key, name, node) for name, node in g.nodes.items() if id(node) not in live]
    return out


def _names(node: Any, kind: str, name: str) -> bool:
    """Whether ``node`` names the registry entry ``name`` of ``kind``."""
    attr = {"tool": "tool", "agent": "agent", "function": "function", "subgraph": "graph"}.get(kind)
    return bool(attr and getattr(node, attr, None) == name) or (kind == "tool" and name in (node.tools or []))


def _used(program: Any, registry: Any) -> dict[str, set[str]]:
    """The registry names the *reachable* nodes of ``program`` use, by kind."""
    used: dict[str, set[str]] = {k: set() for k in ("tool", "agent", "function", "subgraph", "store")}
    for g in program.graphs.values():
        if g.store:
            used["store"].add(g.store)
        for node in reachable_nodes(g):
            used["tool"].update(getattr(node, "tools", None) or [])
            for attr, kind in (("tool", "tool"), ("agent", "agent"), ("function", "function"),
                               ("graph", "subgraph")):
                value = getattr(node, attr, None)
                if isinstance(value, str) and value:
                    used[kind].add(value)
            used["function"].update([node.routing.function] if node.routing.function else [])
            used["agent"].update(b.target for b in node.routing.branches if b.target_kind == "agent")
    used["store"].update(program.refs.stores)  # stores are used by graphs and agents, not by nodes
    for a in used["agent"]:
        entry = registry.agents.get(a) if registry is not None else None
        if entry is not None:
            used["tool"].update(entry.tools)
    return used


def _gap(message: str, help_: str) -> dict[str, Any]:
    return {"code": GOAL_CODE, "severity": "error", "span": {}, "message": message, "help": help_}


def goal_gaps(goal: str, program: Any, registry: Any) -> list[dict[str, Any]]:
    """The goal's explicit names that ``program`` (a compiled ``ProgramIR``)
    does not use, and the nodes of its own graphs that never run, as
    JSON-diagnostic-shaped error entries (``code`` ``GOAL``,
    ``severity`` ``error``, ``message``, ``help``, an empty ``span``)."""
    used = _used(program, registry)
    dead = _dead_nodes(program)
    reported: set[str] = set()  # dead nodes already named by a gap
    gaps = []
    for kind, name in named_in_goal(goal, registry):
        if name in used[kind]:
            continue
        users = [node_name for _, node_name, node in dead if _names(node, kind, name)]
        if users:  # written, but wired to nothing: say exactly how to wire it
            first = users[0]
            reported.add(first)
            gaps.append(_gap(f"the goal names the {kind} `{name}`, but node `{first}` that uses it never "
                             "runs: no `start`, `next` or route leads to it",
                             f"run it: `start {first}` with `next` to the node that comes after it, or "
                             f"`next {first}` from the node before it"))
        else:
            gaps.append(_gap(f"the goal names the {kind} `{name}`, which the file does not use",
                             _HELP[kind].format(name=name)))
    for key, node_name, _ in dead:  # a node the author wrote but nothing runs is a mistake
        # a registry graph the file runs is not the author's text
        if not key.startswith("registry.") and node_name not in reported:
            gaps.append(_gap(f"node `{node_name}` never runs: no `start`, `next` or route leads to it",
                             f"`next {node_name}` from the node that comes before it, or remove it"))
    declared = program.entry_graph.input_schema.get("properties") or {}
    for name in inputs_in_goal(goal):
        if name not in declared:
            gaps.append(_gap(f"the goal names the input `{name}`, which the entry graph does not declare",
                             f"declare it: `input {{ {name}: string }}` (or the type the goal implies)"))
    return gaps
