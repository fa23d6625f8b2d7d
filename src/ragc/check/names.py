"""Names: indexing a module's graphs, nodes and channels, duplicates, and
resolution of names with "did you mean" help.

Codes: ``E0101`` unknown node, ``E0102``/``E0103``/``E0104`` duplicates,
``E0105`` missing start, ``E0106``..``E0112`` unknown registry names,
``E0116`` reserved name, ``E0207`` duplicate graph setting, ``E0210``
unknown graph item, ``E0504`` reserved channel.
"""

from __future__ import annotations

from typing import Iterable

from ragc.check import upstream
from ragc.check.context import Ctx
from ragc.check.model import END, GraphInfo, ModuleInfo, NodeInfo
from ragc.check.values import as_name, check_shape
from ragc.diagnostics.model import Applicability, Label, Span, Suggestion
from ragc.diagnostics.suggest import did_you_mean
from ragc.syntax import ast as A

GRAPH_SETTINGS = ("start", "defaults", "budget", "metadata", "description", "store")
DEFAULTS_KEYS = ("max_steps", "max_visits", "timeout", "deadline", "max_concurrency", "max_subgraph_depth", "retry")

REGISTRY_CODES = {
    "models": ("E0106", "model"),
    "tools": ("E0107", "tool"),
    "agents": ("E0108", "agent"),
    "graphs": ("E0109", "graph"),
    "reducers": ("E0110", "reducer"),
    "functions": ("E0111", "function"),
    "stores": ("E0112", "store"),
}


def unknown(ctx: Ctx, code: str, message: str, span: Span, label: str, name: str,
            candidates: Iterable[str], *, notes: tuple[str, ...] = (), quote: bool = False,
            secondary: tuple[Label, ...] = (), fallback_help: str | None = None) -> str | None:
    """Report an unknown name with "did you mean" help and a
    ``maybe-incorrect`` replacement suggestion (quoted when ``quote``), or
    ``fallback_help`` when no candidate is close; returns the suggested
    name, if any."""
    guess = did_you_mean(name, candidates)
    help_ = fallback_help
    suggestions: tuple[Suggestion, ...] = ()
    if guess is not None:
        help_ = f"did you mean `{guess}`?"
        replacement = f'"{guess}"' if quote else guess
        suggestions = (Suggestion(f"replace with `{guess}`", span, replacement, Applicability.MAYBE_INCORRECT),)
    ctx.bag.error(code, message, span, label, help=help_, suggestions=suggestions, notes=notes,
                  secondary=secondary)
    return guess


def registry_name(ctx: Ctx, table: str, name: str, value: A.Value, *, extra: Iterable[str] = ()) -> bool:
    """Whether ``name`` is an entry of registry ``table`` (or in ``extra``);
    reports the table's unknown-name code otherwise. Always true when the
    registry is unavailable. An MCP tool is checked against its server's
    listing (:mod:`ragc.check.mcp_tools`)."""
    if table == "tools" and ctx.registry is not None:
        from ragc.check.mcp_tools import tool_name

        verdict = tool_name(ctx, name, value)
        if verdict is not None:
            return verdict
    if ctx.registry is None or name in getattr(ctx.registry, table) or name in extra:
        return True
    if name in ctx.registry.invalid.get(table, ()):
        return False  # defined, but invalid: the registry's diagnostic says why; do not cascade here
    code, word = REGISTRY_CODES[table]
    candidates = list(getattr(ctx.registry, table)) + list(extra)
    notes = (f"the registry is `{_shown(ctx.registry.source)}`",) if ctx.registry.source else (
        "no registry file was loaded",)
    unknown(ctx, code, f"unknown {word} `{name}`", value.span, f"not a `[{table}.*]` entry of the registry",
            name, candidates, notes=notes, quote=isinstance(value, A.Str))
    return False


def _shown(path) -> str:
    """A path relative to the current directory when it is below it."""
    import os

    try:
        rel = os.path.relpath(path)
    except ValueError:
        return str(path)
    return str(path) if rel.startswith("..") else rel


def node_ref(ctx: Ctx, g: GraphInfo, ident: A.Ident, label: str, *, allow_end: bool = True) -> bool:
    """Whether ``ident`` names a node of ``g`` (or ``END`` when allowed);
    reports ``E0101`` otherwise."""
    name = ident.name
    if name in g.nodes or (allow_end and name == END):
        return True
    candidates = list(g.nodes) + ([END] if allow_end else [])
    notes: tuple[str, ...] = ()
    if name.lower() == "end" and allow_end:
        notes = ("`END` (upper case) ends the branch",)
    if name == END and not allow_end:
        ctx.bag.error("E0101", "`END` is not a node here", ident.span, label,
                      notes=("`END` ends a branch; it cannot be a join source or a send target",))
        return False
    guess = unknown(ctx, "E0101", f"unknown node `{name}`", ident.span, label, name, candidates, notes=notes)
    if guess is not None:
        g.quiet.add(guess)
    return False


def index_module(ctx: Ctx, module: A.Module) -> ModuleInfo:
    """Index graphs (``E0103`` on duplicates) and each graph's items."""
    info = ModuleInfo(module, registry=ctx.registry, untrusted=ctx.untrusted, source=ctx.source)
    for g in module.graphs:
        name = g.name.name
        if name in info.graphs:
            first = info.graphs[name].graph.name
            ctx.bag.error("E0103", f"duplicate graph `{name}`", g.name.span, "defined again here",
                          secondary=(Label(first.span, "first defined here"),),
                          help="rename one of the graphs")
            continue
        info.graphs[name] = index_graph(ctx, g)
    return info


def index_graph(ctx: Ctx, graph: A.Graph) -> GraphInfo:
    """Collect a graph's items; report duplicates, reserved names and
    unknown graph-level settings."""
    g = GraphInfo(graph, graph.name.name)
    for item in graph.items:
        if isinstance(item, A.Node):
            name = item.name.name
            if name == END:
                ctx.bag.error("E0116", "`END` is reserved and cannot name a node", item.name.span,
                              "reserved name", help="`END` ends a branch; choose another name")
                continue
            if name in g.nodes:
                ctx.bag.error("E0102", f"duplicate node `{name}`", item.name.span, "defined again here",
                              secondary=(Label(g.nodes[name].node.name.span, "first defined here"),),
                              help="rename one of the nodes")
                continue
            g.nodes[name] = NodeInfo(item, name)
        elif isinstance(item, A.Channel):
            name = item.name.name
            if name == "errors":
                ctx.bag.error("E0504", "the channel `errors` is built in and cannot be declared",
                              item.name.span, "reserved channel",
                              help="remove this line; `errors` (reducer `append`) always exists",
                              suggestions=(Suggestion("remove the declaration", item.span, "",
                                                      Applicability.MACHINE_APPLICABLE),))
                continue
            if name in g.channels:
                ctx.bag.error("E0104", f"duplicate channel `{name}`", item.name.span, "declared again here",
                              secondary=(Label(g.channels[name].name.span, "first declared here"),),
                              help="keep one declaration")
                continue
            g.channels[name] = item
        elif isinstance(item, A.SchemaBlock):
            attr = "input_block" if item.which == "input" else "output_block"
            prev = getattr(g, attr)
            if prev is not None:
                ctx.bag.error("E0207", f"duplicate `{item.which}` block", item.span, "given again here",
                              secondary=(Label(prev.span, "first given here"),),
                              help=f"merge the fields into one `{item.which}` block")
                continue
            setattr(g, attr, item)
        elif isinstance(item, A.JoinDecl):
            g.join_decls.append(item)
        elif isinstance(item, A.Edge):
            g.edges.append(item)
        elif isinstance(item, A.Allow):
            what = item.what.name
            if what in g.allows:
                ctx.bag.error("E0207", f"duplicate `allow {what}`", item.span, "given again here",
                              secondary=(Label(g.allows[what].span, "first given here"),),
                              help="merge the lists into one `allow`")
                continue
            g.allows[what] = item
        elif isinstance(item, A.Field):
            _graph_field(ctx, g, item)
    return g


def _graph_field(ctx: Ctx, g: GraphInfo, f: A.Field) -> None:
    key = f.key.name
    if key not in GRAPH_SETTINGS:
        if key in upstream.UPSTREAM_GRAPH_ITEMS:
            upstream.graph_item(ctx, f)
        elif key in DEFAULTS_KEYS:
            ctx.bag.error("E0210", f"`{key}` is not a graph item", f.key.span, "not allowed here",
                          help=f"put it in the graph's `defaults {{ {key} ... }}` block")
        else:
            guess = did_you_mean(key, GRAPH_SETTINGS)
            suggestions = (Suggestion(f"replace with `{guess}`", f.key.span, guess, Applicability.MAYBE_INCORRECT),
                           ) if guess else ()
            ctx.bag.error("E0210", f"unknown graph item `{key}`", f.key.span, "unknown item",
                          help=f"did you mean `{guess}`?" if guess else
                          "graph items are `start`, `input`, `output`, `channel`, `node`, `edge`, `join`, "
                          "`allow`, `defaults`, `budget`, `metadata`, `description`, `store`",
                          suggestions=suggestions)
        return
    if key in g.settings:
        ctx.bag.error("E0207", f"duplicate `{key}`", f.key.span, "given again here",
                      secondary=(Label(g.settings[key].key.span, "first given here"),))
        return
    g.settings[key] = f


def check_start(ctx: Ctx, g: GraphInfo) -> None:
    """``start`` is present (``E0105``) and names a node (``E0101``)."""
    f = g.settings.get("start")
    if f is None:
        first = next(iter(g.nodes), None)
        suggestions: tuple[Suggestion, ...] = ()
        if first is not None:
            # insert `start FIRST` on the line after `graph NAME {`
            brace = ctx.source.find("{", g.graph.name.span.end_offset)
            if brace != -1:
                at = ctx.span_at(brace + 1, brace + 1)
                suggestions = (Suggestion(f"start at `{first}`", at, f"\n  start {first}",
                                          Applicability.MAYBE_INCORRECT),)
        ctx.bag.error("E0105", f"graph `{g.name}` has no `start`", g.graph.name.span, "no `start` in this graph",
                      help=f"add `start {first}` (the first node to run)" if first else
                      "add `start NODE` (the first node to run)", suggestions=suggestions)
        return
    name = as_name(f.value)
    if name is None:
        check_shape(ctx, "start", f.value, "name")
        return
    ident = A.Ident(name, f.value.span)
    if node_ref(ctx, g, ident, "no node of this name", allow_end=False):
        g.start = ident
