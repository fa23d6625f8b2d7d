"""Graph algorithms over the control edges of one graph: reachability,
strongly connected components, branch regions, and the forks with their
branches.

All functions are iterative (no recursion), linear in nodes plus edges per
call, so a 10 000-node graph never hits Python's recursion limit.

Code: ``W0303`` unreachable node.
"""

from __future__ import annotations

from collections import deque

from ragc.check.context import Ctx
from ragc.check.model import END, ForkInfo, GraphInfo, JoinInfo
from ragc.diagnostics.model import Applicability, Suggestion


def reach(g: GraphInfo, roots: list[str], stop: set[str] | frozenset[str] = frozenset()) -> set[str]:
    """Nodes reachable from ``roots`` (included) over every control edge,
    not expanding past nodes in ``stop`` (which are not included) nor ``END``."""
    seen: set[str] = set()
    queue = deque(r for r in roots if r in g.nodes and r not in stop)
    seen.update(queue)
    while queue:
        n = queue.popleft()
        for s in g.succ.get(n, ()):
            t = s.target
            if t == END or t in seen or t in stop or t not in g.nodes:
                continue
            seen.add(t)
            queue.append(t)
    return seen


def reachability(ctx: Ctx, g: GraphInfo) -> None:
    """Fill ``g.reachable`` from ``start``; ``W0303`` for the others (only
    when ``start`` resolved, so a missing start does not flag every node)."""
    if g.start is None:
        g.reachable = set(g.nodes)
        return
    g.reachable = reach(g, [g.start.name])
    for name, info in g.nodes.items():
        if name not in g.reachable and name not in g.quiet:
            ctx.bag.warning("W0303", f"node `{name}` is unreachable", info.node.name.span, "never runs",
                            help="route to it from another node, or remove it",
                            suggestions=(Suggestion("remove the node", info.node.span, "",
                                                    Applicability.MAYBE_INCORRECT),))


def sccs(g: GraphInfo) -> list[list[str]]:
    """Strongly connected components with a cycle (two or more nodes, or a
    node with an edge to itself), each in node declaration order.

    Tarjan, "Depth-first search and linear graph algorithms", SIAM J.
    Comput. 1(2), 1972; iterative formulation with an explicit stack.
    """
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    on_stack: set[str] = set()
    stack: list[str] = []
    out: list[list[str]] = []
    order = {n: i for i, n in enumerate(g.nodes)}
    counter = 0
    for root in g.nodes:
        if root in index:
            continue
        work = [(root, 0)]
        while work:
            v, i = work[-1]
            if i == 0:
                index[v] = low[v] = counter
                counter += 1
                stack.append(v)
                on_stack.add(v)
            succs = [s.target for s in g.succ.get(v, ()) if s.target in g.nodes]
            if i < len(succs):
                work[-1] = (v, i + 1)
                w = succs[i]
                if w not in index:
                    work.append((w, 0))
                elif w in on_stack:
                    low[v] = min(low[v], index[w])
                continue
            work.pop()
            if work:
                parent = work[-1][0]
                low[parent] = min(low[parent], low[v])
            if low[v] == index[v]:
                comp = []
                while True:
                    w = stack.pop()
                    on_stack.discard(w)
                    comp.append(w)
                    if w == v:
                        break
                if len(comp) > 1 or any(s.target == v for s in g.succ.get(v, ())):
                    out.append(sorted(comp, key=order.__getitem__))
    out.sort(key=lambda c: order[c[0]])
    return out


def fork_targets(g: GraphInfo, name: str) -> list[str]:
    """The parallel targets of a static fork (``next [a, b]`` or several
    edges), in written order; empty for other nodes."""
    return [s.target for s in g.succ.get(name, ()) if s.how == "fork"]


def join_stop(j: JoinInfo | None) -> set[str]:
    """Nodes a branch of a fork collected by ``j`` does not run past."""
    if j is None:
        return set()
    return {j.target} | ({j.node} if j.node else set())


def build_forks(g: GraphInfo) -> None:
    """Fill ``g.forks`` (every static fork and every send) with branch
    regions, and ``g.in_branch`` (nodes inside send branches with the ``for``
    variables bound there)."""
    joins_by_fork: dict[str, JoinInfo] = {}
    for j in g.joins:
        if j.fork is not None:
            joins_by_fork.setdefault(j.fork, j)
    for name, info in g.nodes.items():
        targets = fork_targets(g, name)
        if len(targets) > 1:
            j = joins_by_fork.get(name)
            stop = join_stop(j)
            f = ForkInfo(name, j)
            for t in targets:
                f.roots.append(t)
                f.regions.append(reach(g, [t], stop) if t != END else set())
                f.self_concurrent.append(targets.count(t) > 1)
                f.agent_writes.append(None)
            g.forks.append(f)
        if info.routing == "send" and info.send is not None:
            j = joins_by_fork.get(name)
            stop = join_stop(j)
            f = ForkInfo(name, j)
            names = [b.target for b in info.branches]
            for b in info.branches:
                f.entries.append(b)
                multi = b.entry.loop is not None or names.count(b.target) > 1
                f.self_concurrent.append(multi)
                if b.target_kind == "node":
                    f.roots.append(b.target)
                    region = reach(g, [b.target], stop)
                    f.regions.append(region)
                    f.agent_writes.append(None)
                    bound = {b.entry.loop.var.name} if b.entry.loop is not None else set()
                    for n in region:
                        g.in_branch.setdefault(n, set()).update(bound)
                else:
                    f.roots.append(None)
                    f.regions.append(set())
                    f.agent_writes.append(None)
            g.forks.append(f)
