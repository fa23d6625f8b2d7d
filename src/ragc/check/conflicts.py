"""Static write-conflict analysis (``E0501``).

Two branches that may run at the same time writing one ``last`` channel
leave a value that depends on timing (the runtime merges branch writes in
branch order, so the *result* is deterministic, but the author almost
certainly meant to keep both values). Pairs that may run concurrently:

* two branches of one fork (``next [a, b]``, several edges, ``send``): the
  writes of the nodes in each branch's region, and an agent branch's
  ``output``;
* a branch with itself, when it may run as several copies (a ``for``
  entry, or one target named by several entries);
* a detached node (``blocking false``) and every node after it (itself
  included, when it is on a loop).

Other reducers merge deterministically and are allowed.
"""

from __future__ import annotations

from ragc.check.context import Ctx
from ragc.check.flow import reach
from ragc.check.model import ForkInfo, GraphInfo, Write
from ragc.diagnostics.model import Applicability, Label, Suggestion


def _last(g: GraphInfo, channel: str) -> bool:
    return g.reducers.get(channel, ("", None))[0] == "last"


def _branch_writes(g: GraphInfo, f: ForkInfo, i: int, order: dict[str, int]) -> list[Write]:
    out: list[Write] = []
    if f.entries and f.entries[i].target_kind == "agent":
        b = f.entries[i]
        if b.output:
            out.append(Write(b.output, b.entry.target.span, "agent", f.node))
        return out
    for n in sorted(f.regions[i], key=order.__getitem__):
        out.extend(g.nodes[n].writes)
    return out


def _branch_name(f: ForkInfo, i: int) -> str:
    if f.entries:
        return f"`{f.entries[i].target}`"
    return f"`{f.roots[i]}`"


def check(ctx: Ctx, g: GraphInfo) -> None:
    """Report every pair of possibly concurrent writes to a ``last`` channel,
    once per fork and channel."""
    order = {n: i for i, n in enumerate(g.nodes)}
    for f in g.forks:
        reported: set[str] = set()
        writes = [[w for w in _branch_writes(g, f, i, order) if _last(g, w.channel)] for i in range(len(f.roots))]
        for i in range(len(writes)):
            if f.self_concurrent[i]:
                for w in writes[i]:
                    if w.channel not in reported:
                        reported.add(w.channel)
                        _report(ctx, g, f.node, w, w, f"branch {_branch_name(f, i)} may run as several copies at once")
            for j in range(i + 1, len(writes)):
                by_channel = {w.channel: w for w in writes[i]}
                for w in writes[j]:
                    first = by_channel.get(w.channel)
                    if first is not None and w.channel not in reported:
                        reported.add(w.channel)
                        _report(ctx, g, f.node, first, w,
                                f"branches {_branch_name(f, i)} and {_branch_name(f, j)} run at the same time")
    for name, info in g.nodes.items():
        if info.blocking:
            continue
        own = [w for w in info.writes if _last(g, w.channel)]
        if not own:
            continue
        after = reach(g, [s.target for s in g.succ.get(name, ())])
        reported = set()
        if name in after:  # on a loop: the next visit starts while this one may still run
            after.discard(name)
            for w in own:
                if w.channel not in reported:
                    reported.add(w.channel)
                    _report(ctx, g, name, w, w, f"the detached node `{name}` may run again while it still runs")
        for n in sorted(after, key=order.__getitem__):
            for w in g.nodes[n].writes:
                if w.channel in reported:
                    continue
                first = next((o for o in own if o.channel == w.channel), None)
                if first is not None:
                    reported.add(w.channel)
                    _report(ctx, g, name, first, w, f"the detached node `{name}` runs while `{n}` runs")


def _report(ctx: Ctx, g: GraphInfo, fork: str, first: Write, second: Write, why: str) -> None:
    ch = second.channel
    decl = g.channels.get(ch)
    secondary = []
    if first is not second:
        secondary.append(Label(first.span, f"`{first.node}` also writes `{ch}`"))
    secondary.append(Label(g.nodes[fork].node.name.span, "the concurrent branches start here"
                           if g.nodes[fork].blocking else "detached here"))
    suggestions = ()
    if decl is not None:
        suggestions = (Suggestion(f"make `{ch}` an `append` channel", decl.reducer.span, "append",
                                  Applicability.MAYBE_INCORRECT),)
        secondary.append(Label(decl.reducer.span, "a `last` channel keeps one value"))
    how = {"default": "its default output", "agent": "its agent's output", "update": "`command { update }`",
           "output": "`output`"}[second.how]
    ctx.bag.error("E0501", f"write conflict on channel `{ch}`: {why}", second.span,
                  f"`{second.node}` writes `{ch}` through {how}", secondary=tuple(secondary),
                  help=f"use `append` (or another merging reducer) for `{ch}`, separate channels, or write it "
                       "after a join",
                  suggestions=suggestions)
