"""Joins: the three spellings resolved to one :class:`JoinInfo`, their
policies, their forks, and the sources a conditional route may skip.

* node-level ``join X { ... }`` after ``send``: the fork is the node;
* top-level ``join [a, b] -> c { ... }``;
* ``kind join`` nodes with ``sources [a, b]`` (the join node runs next).

For the last two the fork is computed: among the static forks (``next [a,
b]`` or several edges), the one whose branches reach every source, with the
sources spread over at least two branches, choosing the nearest such fork
(smallest branch regions) when forks nest. Structured concurrency: sources
from different forks are rejected.

A source is *skippable* when its branch can end (reach ``END``, a node
without routing, the join, or another source) without passing through it;
it must then be ``optional true``.

Codes: ``E0401`` source routing itself, ``E0405`` source not reachable
from the fork, ``E0406`` sources from different forks, ``E0407`` skippable
source not optional, ``E0409`` invalid policy, ``E0410`` detached source.
"""

from __future__ import annotations

from collections import deque

from ragc.check.context import Ctx
from ragc.check.flow import fork_targets, reach
from ragc.check.kinds import check_block
from ragc.check.model import END, GraphInfo, JoinInfo, Succ
from ragc.check.names import node_ref, unknown
from ragc.check.values import names_of
from ragc.diagnostics.model import Applicability, Label, Suggestion
from ragc.syntax import ast as A

POLICIES = ("all", "any", "first", "quorum")


def build(ctx: Ctx, g: GraphInfo) -> None:
    """Create ``g.joins`` (continuation edges of top-level joins and join
    nodes are added by :func:`resolve_forks` once their forks are known)."""
    for name, info in g.nodes.items():
        if info.routing == "send" and info.join is not None:
            jr = info.join
            j = JoinInfo(f"{name}:join", "send", jr.target.name, jr.span, fork=name, block=jr.block)
            _block(ctx, j, jr.block)
            g.joins.append(j)
    taken: set[str] = set()
    for jd in g.join_decls:
        ok = all(node_ref(ctx, g, s, "no node of this name", allow_end=False) for s in jd.sources)
        ok = node_ref(ctx, g, jd.target, "no node of this name") and ok
        jid = "join:" + "+".join(s.name for s in jd.sources) + "->" + jd.target.name
        while jid in taken:
            jid += "'"
        taken.add(jid)
        j = JoinInfo(jid, "decl", jd.target.name, jd.span, sources=list(jd.sources), block=jd.block)
        _block(ctx, j, jd.block)
        _duplicates(ctx, j)
        if ok:
            g.joins.append(j)
    for name, info in g.nodes.items():
        if info.kind != "join" or "sources" not in info.fields:
            continue
        names = names_of(info.fields["sources"].value) or []
        if not names and isinstance(info.fields["sources"].value, A.ListV):
            ctx.bag.error("E0206", f"join node `{name}` has no sources", info.fields["sources"].value.span,
                          "empty list", help="list the branches it waits for: `sources [a, b]`")
        sources = [A.Ident(n, v.span) for n, v in names]
        j = JoinInfo(name, "node", name, info.node.name.span, sources=[], node=name, policy=info.policy,
                     settings={k: info.fields[k] for k in ("tolerate", "timeout") if k in info.fields})
        _policy(ctx, j, info.policy)
        for s in sources:
            if not node_ref(ctx, g, s, "no node of this name", allow_end=False):
                continue
            j.sources.append(s)
            src = g.nodes[s.name]
            targets = [x.target for x in g.succ[s.name]]
            if src.routing != "end" and targets != [name]:
                ctx.bag.error("E0401", f"join source `{s.name}` routes itself", src.node.name.span,
                              f"`{s.name}` routes elsewhere",
                              secondary=(Label(s.span, f"but it is a source of join node `{name}`"),),
                              help=f"route it to the join (`next {name}`) or remove its routing")
        _duplicates(ctx, j)
        g.joins.append(j)


def _duplicates(ctx: Ctx, j: JoinInfo) -> None:
    seen: dict[str, A.Ident] = {}
    for s in j.sources:
        if s.name in seen:
            ctx.bag.error("E0409", f"join source `{s.name}` is listed twice", s.span, "listed again here",
                          secondary=(Label(seen[s.name].span, "first listed here"),))
        seen.setdefault(s.name, s)


def _block(ctx: Ctx, j: JoinInfo, block: A.JoinBlock | None) -> None:
    if block is None:
        return
    for f in block.fields:
        if f.key.name in j.settings:
            ctx.bag.error("E0207", f"duplicate setting `{f.key.name}` in `join`", f.key.span, "given again here",
                          secondary=(Label(j.settings[f.key.name].key.span, "first given here"),))
            continue
        obj = A.ObjectV((A.Pair(f.key, f.value, f.colon, f.span),), f.span)
        if check_block(ctx, "join", obj, "join"):
            j.settings[f.key.name] = f
    j.policy = block.policy
    _policy(ctx, j, block.policy)


def _policy(ctx: Ctx, j: JoinInfo, p: A.Policy | None) -> None:
    if p is None:
        return
    name = p.name.name
    if name not in POLICIES:
        unknown(ctx, "E0409", f"unknown join policy `{name}`", p.name.span, "not a policy", name, POLICIES,
                fallback_help="policies: `all`, `any` (`first`), `quorum N`")
        return
    if name == "quorum":
        if p.count is None:
            ctx.bag.error("E0409", "`quorum` needs a number of successes", p.name.span, "quorum of how many?",
                          help="write `policy quorum N`")
        elif p.count.value < 1:
            ctx.bag.error("E0409", f"quorum must be at least 1, found {p.count.value}", p.count.span,
                          "must be at least 1")
    elif p.count is not None:
        ctx.bag.error("E0409", f"policy `{name}` takes no number", p.count.span, "unexpected number",
                      help="only `quorum N` takes a number")


def branch_count(g: GraphInfo, j: JoinInfo) -> int | None:
    """Static number of branches a join collects; ``None`` when a ``for``
    entry makes it dynamic."""
    if j.spelling == "send":
        info = g.nodes[j.fork] if j.fork else None
        if info is None or any(b.entry.loop is not None for b in info.branches):
            return None
        return len(info.branches)
    return len(j.sources)


def check_quorum(ctx: Ctx, g: GraphInfo) -> None:
    """``quorum N`` with more than the static number of branches (``E0409``)."""
    for j in g.joins:
        p = j.policy
        if p is None or p.name.name != "quorum" or p.count is None:
            continue
        n = branch_count(g, j)
        if n is not None and p.count.value > n:
            ctx.bag.error("E0409", f"quorum {p.count.value} can never be reached with {n} branches", p.count.span,
                          f"only {n} branches", help=f"use a quorum of at most {n}")


# --------------------------------------------------------------------------- forks


def resolve_forks(ctx: Ctx, g: GraphInfo) -> None:
    """Find the fork of every top-level join and join node; add the
    continuation edge ``fork -> target`` (how ``join``); check that sources
    are reachable from the fork, not detached, and optional when a
    conditional route may skip them.

    Branch regions are walked over the control edges known so far: a
    branch ends at a join source (sources of top-level joins do not route).
    A nested join's continuation belongs to the enclosing branch, so joins
    are resolved to a fixpoint: resolving an inner join adds its
    continuation edge, which may make an outer join's sources reachable.
    Joins left unresolved are reported (``E0405``/``E0406``) and get edges
    ``source -> target`` so their targets are not also reported unreachable.
    """
    pending = [j for j in g.joins if j.spelling != "send" and j.sources]
    for j in pending:
        for s in j.sources:
            src = g.nodes.get(s.name)
            if src is not None and not src.blocking:
                ctx.bag.error("E0410", f"detached node `{s.name}` is a join source", s.span,
                              "joins do not wait for detached nodes",
                              secondary=(Label(src.fields["blocking"].span, "detached here"),),
                              help="remove `blocking false`, or remove it from the join")
    targets = {n: fork_targets(g, n) for n in g.nodes}
    forks = {n: t for n, t in targets.items() if len(t) > 1}
    preds = predecessors(g)
    progress = True
    while pending and progress:
        progress = False
        for j in list(pending):
            found = _nearest_fork(g, j, forks, preds)
            if found is not None:
                j.fork = found
                g.succ[j.fork].append(Succ(j.target, "join", j.span))
                pending.remove(j)
                progress = True
                continue
            found = _find_fork(g, j, forks)
            if found is not None and not found[1]:
                j.fork = found[0]
                g.succ[j.fork].append(Succ(j.target, "join", j.span))
                pending.remove(j)
                progress = True
    for j in pending:
        _report_unresolved(ctx, g, j, forks)
        for s in j.sources:
            if s.name != j.target and all(x.target != j.target for x in g.succ[s.name]):
                g.succ[s.name].append(Succ(j.target, "join", j.span))
    for j in g.joins:
        if j.spelling != "send" and j.fork is not None:
            _skippable(ctx, g, j, j.fork, _stop(j))


def _stop(j: JoinInfo) -> frozenset[str]:
    return frozenset({j.target} | ({j.node} if j.node else set()))


def predecessors(g: GraphInfo) -> dict[str, list[str]]:
    """node -> the nodes with a control edge to it (in node order)."""
    preds: dict[str, list[str]] = {n: [] for n in g.nodes}
    for n, succs in g.succ.items():
        for s in succs:
            if s.target in preds and (not preds[s.target] or preds[s.target][-1] != n):
                preds[s.target].append(n)
    return preds


def _nearest_fork(g: GraphInfo, j: JoinInfo, forks: dict[str, list[str]],
                  preds: dict[str, list[str]]) -> str | None:
    """The fork of ``j`` found by walking back from its first source: the
    first fork met (nearest first) whose branches reach every source, spread
    over two or more branches. ``None`` when the walk finds none (then the
    exhaustive :func:`_find_fork` reports why)."""
    start = j.sources[0].name
    seen = {start}
    queue = deque([start])
    while queue:
        n = queue.popleft()
        if n in forks:
            where, _ = _cover(g, j, n, forks[n])
            if len(where) == len(j.sources) and (len(j.sources) < 2 or len(set(where.values())) >= 2):
                return n
        for p in preds.get(n, ()):
            if p not in seen:
                seen.add(p)
                queue.append(p)
    return None


def _cover(g: GraphInfo, j: JoinInfo, fork: str, targets: list[str]) -> tuple[dict[str, int], int]:
    """Which branch of ``fork`` (parallel ``targets``) reaches each source
    (``{source: branch index}``) and the total size of the branch regions."""
    where: dict[str, int] = {}
    size = 0
    names = [s.name for s in j.sources]
    for i, t in enumerate(targets):
        if t == END:
            continue
        r = reach(g, [t], _stop(j))
        size += len(r)
        for s in names:
            if s in r and s not in where:
                where[s] = i
    return where, size


def _find_fork(g: GraphInfo, j: JoinInfo, forks: dict[str, list[str]]) -> tuple[str, list[A.Ident]] | None:
    """The nearest fork covering the most sources, spread over two or more
    branches, and the sources it misses; ``None`` when no fork covers any."""
    best: tuple[int, int, str] | None = None
    names = [s.name for s in j.sources]
    covers: dict[str, dict[str, int]] = {}
    for f, targets in forks.items():
        where, size = _cover(g, j, f, targets)
        covers[f] = where
        if not where:
            continue
        if len(names) > 1 and len(set(where.values())) < 2 and len(where) == len(names):
            continue  # all sources in one branch: a nested fork is the real one
        key = (-len(where), size, f)
        if best is None or key < best:
            best = key
    if best is None:
        return None
    fork = best[2]
    return fork, [s for s in j.sources if s.name not in covers[fork]]


def _report_unresolved(ctx: Ctx, g: GraphInfo, j: JoinInfo, forks: dict[str, list[str]]) -> None:
    names = [s.name for s in j.sources]
    found = _find_fork(g, j, forks)
    if found is None:
        ctx.bag.error("E0406", "the sources of this join do not come from one fork", j.span,
                      "no fork starts these branches",
                      help="start the branches together with `next [" + ", ".join(names) + "]` (or several "
                           "edges from one node)")
        return
    fork, missing = found
    fork_span = g.nodes[fork].node.name.span
    for m in missing:
        g.quiet.add(m.name)
        other = next((f for f, t in forks.items() if f != fork and m.name in _cover(g, j, f, t)[0]), None)
        if other is not None:
            ctx.bag.error("E0406", "join sources come from different forks", m.span,
                          f"`{m.name}` is a branch of `{other}`",
                          secondary=(Label(fork_span, "the other sources are branches of this fork"),
                                     Label(g.nodes[other].node.name.span, f"`{m.name}` starts here")),
                          help="a join collects the branches of one fork; join each fork separately")
        else:
            ctx.bag.error("E0405", f"join source `{m.name}` is not reachable from its fork `{fork}`",
                          m.span, "no branch of the fork reaches it",
                          secondary=(Label(fork_span, "the fork"),),
                          help=f"route a branch of `{fork}` to `{m.name}`, or remove it from the join")


def _skippable(ctx: Ctx, g: GraphInfo, j: JoinInfo, fork: str, stop: frozenset[str]) -> None:
    names = {s.name for s in j.sources}
    targets = fork_targets(g, fork)
    for s in j.sources:
        info = g.nodes[s.name]
        if info.optional:
            continue
        for root in targets:
            if root == END or s.name not in reach(g, [root], stop):
                continue
            if root == s.name:
                break
            if _can_end_without(g, root, s.name, names, stop):
                _report_skip(ctx, g, j, s, fork)
            break


def _can_end_without(g: GraphInfo, root: str, avoid: str, sources: set[str], stop: frozenset[str]) -> bool:
    """Whether a walk from ``root`` avoiding ``avoid`` reaches an end of the
    branch: ``END``, a node without successors, the join, or another source."""
    seen = {root}
    queue = deque([root])
    while queue:
        n = queue.popleft()
        if n in sources:
            return True  # arrived at another source of the join
        succs = g.succ.get(n, [])
        if not succs:
            return True
        for s in succs:
            t = s.target
            if t == END or t in stop:
                return True
            if t == avoid or t in seen or t not in g.nodes:
                continue
            seen.add(t)
            queue.append(t)
    return False


def _report_skip(ctx: Ctx, g: GraphInfo, j: JoinInfo, s: A.Ident, fork: str) -> None:
    info = g.nodes[s.name]
    brace = ctx.source.find("{", info.node.name.span.end_offset)
    suggestions: tuple[Suggestion, ...] = ()
    if brace != -1 and brace < info.node.span.end_offset:
        at = ctx.span_at(brace + 1, brace + 1)
        eol = ctx.source.find("\n", brace)
        rest = ctx.source[brace + 1:eol if eol != -1 else len(ctx.source)]
        if rest.strip():
            text = " optional true"
        else:
            line_start = ctx.source.rfind("\n", 0, info.node.span.offset) + 1
            indent = ctx.source[line_start:info.node.span.offset]
            text = "\n" + (indent if indent.strip() == "" else "") + "  optional true"
        suggestions = (Suggestion(f"mark `{s.name}` optional", at, text, Applicability.MACHINE_APPLICABLE),)
    ctx.bag.error("E0407", f"join source `{s.name}` may be skipped but is not optional", s.span,
                  "a conditional route may skip this source",
                  secondary=(Label(info.node.name.span, "add `optional true` to this node"),
                             Label(g.nodes[fork].node.name.span, "the branch starts at this fork")),
                  help="mark it `optional true` (a skipped optional branch neither succeeds nor fails), or "
                       "route every path of the branch through it",
                  suggestions=suggestions)
