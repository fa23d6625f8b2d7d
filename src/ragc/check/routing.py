"""Routing: the one routing form of each node, its targets and labels, and
the control edges (:class:`ragc.check.model.Succ`) the flow analyses use.

A node routes by exactly one of ``next``, ``routes``, ``command { goto }``,
top-level ``edge``s from it, ``send`` (with its ``join``), or being a
source of a top-level ``join``; no routing ends the branch. Who may pick
which label depends on the kind (``docs/architecture.md``, "Routing").

Codes: ``E0101`` unknown target, ``E0113`` duplicate label, ``E0301`` two
routing forms, ``E0302`` label the kind cannot produce, ``E0303`` interrupt
labels vs options, ``E0304`` ``tool_call``/``final`` misuse, ``E0307``
interrupt default, ``E0308`` detached routing, ``E0309`` misplaced ``when``,
``E0401`` join source routing itself, ``E0402``..``E0404`` send targets,
``E0408`` join without send, ``E0411`` ``max_concurrency`` without a fork,
``W0302`` route never taken, ``W0304`` router that may match nothing.
"""

from __future__ import annotations

from ragc.check.context import Ctx
from ragc.check.kinds import check_block
from ragc.check.model import END, BranchInfo, GraphInfo, NodeInfo, Succ
from ragc.check.names import node_ref, unknown
from ragc.check.values import as_name, check_shape, names_of
from ragc.diagnostics.model import Applicability, Label, Span, Suggestion
from ragc.diagnostics.suggest import did_you_mean
from ragc.syntax import ast as A

OUTCOME_LABELS = ("ok", "error")
LOOP_LABELS = ("tool_call", "final")

FORM_WORDS = {
    "next": "`next`", "routes": "`routes`", "goto": "`command { goto }`", "edges": "top-level `edge`",
    "send": "`send`", "join_source": "a top-level `join` source",
}


def _head(span: Span, width: int) -> Span:
    """The first ``width`` characters of ``span`` (for block items)."""
    return Span(span.file, span.offset, span.offset + width, span.line, span.column, span.line, span.column + width)


def collect(ctx: Ctx, g: GraphInfo) -> None:
    """Resolve every node's routing form and targets; fill ``g.succ``."""
    edges_by: dict[str, list[A.Edge]] = {}
    for e in g.edges:
        ok = node_ref(ctx, g, e.source, "no node of this name", allow_end=False)
        node_ref(ctx, g, e.target, "no node of this name")
        if ok:
            edges_by.setdefault(e.source.name, []).append(e)
    join_sources: dict[str, list[tuple[A.JoinDecl, A.Ident]]] = {}
    for jd in g.join_decls:
        for s in jd.sources:
            join_sources.setdefault(s.name, []).append((jd, s))

    for info in g.nodes.values():
        g.succ[info.name] = []
        forms: list[tuple[str, Span]] = []
        nf = info.fields.get("next")
        if nf is not None:
            forms.append(("next", nf.key.span))
        if info.routes is not None:
            forms.append(("routes", _head(info.routes.span, 6)))
        cmd = info.fields.get("command")
        if cmd is not None and isinstance(cmd.value, A.ObjectV):
            pairs = check_block(ctx, "command", cmd.value, "command")
            if "goto" in pairs:
                forms.append(("goto", pairs["goto"].key.span))
                name = as_name(pairs["goto"].value)
                info.goto = A.Ident(name, pairs["goto"].value.span) if name else None
            if "update" in pairs and isinstance(pairs["update"].value, A.ObjectV):
                info.update = pairs["update"].value
        if info.name in edges_by:
            info.edges = edges_by[info.name]
            forms.append(("edges", info.edges[0].span))
        if info.send is not None:
            forms.append(("send", _head(info.send.span, 4)))
        for jd, ident in join_sources.get(info.name, []):
            forms.append(("join_source", ident.span))
            break
        if info.join is not None and info.send is None:
            g.quiet.add(info.join.target.name)
            ctx.bag.error("E0408", "`join` without `send`", info.join.target.span, "nothing to join here",
                          help=f"to continue at `{info.join.target.name}`, write `next {info.join.target.name}`")
        _forms(ctx, info, forms)
        _targets(ctx, g, info)
        _labels(ctx, g, info)
        mc = info.fields.get("max_concurrency")
        if mc is not None and info.routing != "send" and not (
                info.routing in ("next", "edges") and len(g.succ[info.name]) > 1):
            ctx.bag.error("E0411", "`max_concurrency` on a node without a fork", mc.key.span,
                          "this node starts no parallel branches",
                          help="use it with `send [...]` or `next [a, b]`; for the whole graph use "
                               "`defaults { max_concurrency N }`")
        if not info.blocking and info.routing not in ("end", "next", "join_source"):
            blocking = info.fields["blocking"]
            ctx.bag.error("E0308", f"detached node `{info.name}` routes by {FORM_WORDS[info.routing]}",
                          forms[0][1], "not allowed on a detached node",
                          secondary=(Label(blocking.span, "detached here"),),
                          help="a `blocking false` node may only route by `next` (control continues there at once)")


def _forms(ctx: Ctx, info: NodeInfo, forms: list[tuple[str, Span]]) -> None:
    if not forms:
        info.routing = "end"
        return
    forms.sort(key=lambda f: f[1].offset)
    js = next((f for f in forms if f[0] == "join_source"), None)
    if js is not None and len(forms) > 1:
        own = next(f for f in forms if f[0] != "join_source")
        ctx.bag.error("E0401", f"join source `{info.name}` routes itself", own[1],
                      f"`{info.name}` routes by {FORM_WORDS[own[0]]} here",
                      secondary=(Label(js[1], "but it is a source of this join, which routes"),),
                      help="remove the node's own routing: the join continues at its target once its sources "
                           "complete")
        info.routing = "join_source"
        return
    if len(forms) > 1:
        first, second = forms[0], forms[1]
        notes: tuple[str, ...] = ()
        words = {f[0] for f in forms}
        if info.send is not None and info.send.spelling == "sends" and words & {"next", "goto", "edges"}:
            # upstream (TinyAgents) did not count `sends` as routing (docs/upstream.md)
            notes = ("upstream's compiler lowered the `next` to this node's one static edge and kept the "
                     "`sends` as data for its host's node factory, so whether a target ran from the edge, "
                     "from a send, or both was the host's; ragc does not pick one",)
        ctx.bag.error("E0301", f"node `{info.name}` has more than one routing form", second[1],
                      f"{FORM_WORDS[second[0]]} here", secondary=(Label(first[1], f"{FORM_WORDS[first[0]]} here"),),
                      help="a node routes by exactly one of `next`, `routes`, `command { goto }`, edges, `send` "
                           "or a join; keep one", notes=notes)
    info.routing = forms[0][0]


def _add(g: GraphInfo, src: str, target: str, how: str, span: Span, label: str | None = None) -> None:
    g.succ[src].append(Succ(target, how, span, label))


def _targets(ctx: Ctx, g: GraphInfo, info: NodeInfo) -> None:
    r = info.routing
    name = info.name
    if r == "next":
        f = info.fields["next"]
        names = names_of(f.value)
        if names is None:
            check_shape(ctx, "next", f.value, "names")
            return
        if not names:
            ctx.bag.error("E0206", "`next` needs at least one target", f.value.span, "empty list",
                          help="write `next NODE`, `next [a, b]` for parallel branches, or `next END`")
            return
        how = "fork" if len(names) > 1 else "next"
        for n, v in names:
            ident = A.Ident(n, v.span)
            if node_ref(ctx, g, ident, "no node of this name"):
                info.next_targets.append(ident)
                _add(g, name, n, how, v.span)
    elif r == "routes":
        seen: dict[str, A.Route] = {}
        for route in info.routes.routes:  # type: ignore[union-attr]
            label = route.label.name
            if label in seen:
                ctx.bag.error("E0113", f"duplicate route label `{label}`", route.label.span, "used again here",
                              secondary=(Label(seen[label].label.span, "first used here"),),
                              help="each label can lead to one target; rename or remove one route")
                continue
            seen[label] = route
            if node_ref(ctx, g, route.target, "no node of this name"):
                _add(g, name, route.target.name, "route", route.target.span, label)
    elif r == "goto":
        if info.goto is not None and node_ref(ctx, g, info.goto, "no node of this name"):
            _add(g, name, info.goto.name, "next", info.goto.span)
    elif r == "edges":
        how = "fork" if len(info.edges) > 1 else "next"
        for e in info.edges:
            if e.target.name in g.nodes or e.target.name == END:
                _add(g, name, e.target.name, how, e.target.span)
    elif r == "send":
        _send(ctx, g, info)
    elif r == "join_source":
        pass  # the join's continuation edge is added by ragc.check.joins


def _send(ctx: Ctx, g: GraphInfo, info: NodeInfo) -> None:
    send = info.send
    assert send is not None
    if not send.entries:
        ctx.bag.error("E0402", "`send` without targets", send.span, "no branch to start",
                      help="list the branches: `send [ target { key: value }, ... ]`")
    agents = ctx.registry.agents if ctx.registry is not None else {}
    for entry in send.entries:
        t = entry.target.name
        is_node, is_agent = t in g.nodes, t in agents
        if is_node and is_agent:
            ctx.bag.error("E0403", f"send target `{t}` is both a node and a registry agent", entry.target.span,
                          "ambiguous target", secondary=(Label(g.nodes[t].node.name.span, "the node"),),
                          notes=(f"the registry defines an agent `{t}`",),
                          help="rename the node (or the agent) so the target is unambiguous")
            info.branches.append(BranchInfo(entry, t, None))
            continue
        if is_node:
            info.branches.append(BranchInfo(entry, t, "node"))
            _add(g, info.name, t, "branch", entry.target.span)
        elif is_agent or ctx.registry is None:
            info.branches.append(BranchInfo(entry, t, "agent"))
        elif t in ctx.registry.tools:  # a frequent slip of LLM authors: say what a tool needs
            ctx.bag.error("E0404", f"unknown send target `{t}`", entry.target.span,
                          "a registry tool, not a node or an agent",
                          notes=("a send starts a branch at a node of this graph or runs a registry agent; "
                                 "tools are called by `kind tool` nodes",),
                          help=f'add `node call_{t} {{ kind tool  tool "{t}"  args {{ .. }}  next .. }}` and '
                               f"send to `call_{t}` (or route to it with `next`)")
            info.branches.append(BranchInfo(entry, t, None))
        else:
            # `summarizer_agent` for the agent `summarizer`: too far for did-you-mean, common in LLM files
            stem = t.removesuffix("_agent").removesuffix("-agent")
            if stem != t and stem in agents:
                ctx.bag.error("E0404", f"unknown send target `{t}`", entry.target.span,
                              "neither a node nor a registry agent", help=f"did you mean the agent `{stem}`?",
                              suggestions=(Suggestion(f"replace with `{stem}`", entry.target.span, stem,
                                                      Applicability.MAYBE_INCORRECT),))
            else:
                unknown(ctx, "E0404", f"unknown send target `{t}`", entry.target.span,
                        "neither a node nor a registry agent", t, list(g.nodes) + list(agents))
            info.branches.append(BranchInfo(entry, t, None))
    if info.join is not None:
        if node_ref(ctx, g, info.join.target, "no node of this name"):
            _add(g, info.name, info.join.target.name, "join", info.join.target.span)


# --------------------------------------------------------------------------- labels


def _labels(ctx: Ctx, g: GraphInfo, info: NodeInfo) -> None:
    kind = info.kind
    if kind == "interrupt":
        _interrupt(ctx, info)
    if info.routes is None or kind is None:
        return
    routes = info.routes.routes
    for route in routes:
        label = route.label.name
        if route.when is not None and info.chooser != "condition":
            who = {"function": "its `function`", "model": "the model", "human": "the human's answer",
                   "outcome": "the outcome (`ok`/`error`)"}.get(info.chooser or "", "the node")
            ctx.bag.error("E0309", "`when` on a route not chosen by conditions", route.when.span,
                          "this condition is never evaluated",
                          help=f"on a `{kind}` node the label is picked by {who}; conditions belong on a `router` "
                               "without `function`")
        if kind == "repl":
            continue  # `ok`/`error`, or any label a cell picks with `answer(value, route="LABEL")`
        if label in LOOP_LABELS:
            if kind != "model":
                ctx.bag.error("E0304", f"`{label}` route on a `{kind}` node", route.label.span,
                              "only a model node's tool calls decide this label",
                              help="`tool_call`/`final` split a model/tool loop over a `model` node with `tools` "
                                   "and a `tool` node")
                continue
            if "tools" not in info.fields:
                ctx.bag.error("E0304", f"`{label}` route on a model node without `tools`", route.label.span,
                              "this model cannot call tools",
                              help='give the node `tools ["NAME", ...]`')
            continue
        if info.chooser == "outcome" and label not in OUTCOME_LABELS:
            guess = did_you_mean(label, OUTCOME_LABELS)
            ctx.bag.error("E0302", f"`{kind}` nodes cannot choose the label `{label}`", route.label.span,
                          "only `ok` or `error` happen here",
                          help=f"did you mean `{guess}`?" if guess else
                          f"a `{kind}` node routes on `ok` (it succeeded) or `error` (it failed after retries)")
    if info.chooser == "condition":
        unconditional = None
        for route in routes:
            if route.label.name in LOOP_LABELS:
                continue  # already reported (E0304)
            if unconditional is not None:
                ctx.bag.warning("W0302", f"route `{route.label.name}` is never taken", route.label.span,
                                "never taken",
                                secondary=(Label(unconditional.label.span, "this route always matches first"),),
                                help="routes are tried in order; put the route without `when` last")
                continue
            if route.when is None:
                unconditional = route
        if unconditional is None and routes:
            ctx.bag.warning("W0304", f"router `{info.name}` may match no route", info.node.name.span,
                            "every route has a condition",
                            help="add a last route without `when` as the fallback (e.g. `other -> END`)")


def interrupt_options(info: NodeInfo) -> list[tuple[str, A.Value]] | None:
    """An interrupt's ``options`` as names with their values, or ``None``."""
    f = info.fields.get("options")
    if f is None or not isinstance(f.value, A.ListV):
        return None
    out = []
    for item in f.value.items:
        n = as_name(item)
        if n is not None:
            out.append((n, item))
    return out


def _interrupt(ctx: Ctx, info: NodeInfo) -> None:
    options = interrupt_options(info)
    labels = {r.label.name: r for r in info.routes.routes} if info.routes is not None else {}
    if options is not None and info.routes is not None:
        names = [n for n, _ in options]
        for label, route in labels.items():
            if label not in names:
                guess = did_you_mean(label, names)
                ctx.bag.error("E0303", f"route `{label}` is not an option of interrupt `{info.name}`",
                              route.label.span, "the human cannot answer this",
                              secondary=(Label(info.fields["options"].value.span, "the options"),),
                              help=f"did you mean `{guess}`?" if guess else f"add \"{label}\" to `options`")
        for n, v in options:
            if n not in labels:
                ctx.bag.error("E0303", f"option `{n}` of interrupt `{info.name}` has no route", v.span,
                              "no route for this answer",
                              secondary=(Label(_head(info.routes.span, 6), "the routes"),),
                              help=f"add a route `{n} -> NODE`")
    d = info.fields.get("default")
    if d is not None:
        value = as_name(d.value)
        allowed = [n for n, _ in options] if options is not None else list(labels)
        if value is not None and (options is not None or labels) and value not in allowed:
            guess = did_you_mean(value, allowed)
            where = "options" if options is not None else "route labels"
            ctx.bag.error("E0307", f"interrupt default `{value}` is not one of its {where}", d.value.span,
                          "not a possible answer",
                          secondary=(Label(info.fields["options"].value.span, "the options"),) if options is not None
                          else (),
                          help=f"did you mean `{guess}`?" if guess else
                          "the default answer must be one of: " + ", ".join(f"`{a}`" for a in allowed))
