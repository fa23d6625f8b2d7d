"""Lowering a checked module to :class:`ragc.ir.model.ProgramIR`.

Input: the :class:`ragc.check.model.ModuleInfo` of a module with no errors
(the checker resolved kinds, routing forms, joins and output channels).
Output: IR in canonical form, as ``docs/architecture.md`` specifies:

* kinds and reducers canonical (``sub_agent`` -> ``subagent``, ``topic`` ->
  ``append``; a registry reducer is ``custom`` with its name);
* every node's ``output`` resolved by the default-output rule;
* the three join spellings as :class:`JoinIR` with their ``fork``; a
  top-level join's sources route ``end`` (arriving at a source is arriving
  at the join), the fork's routing names the join;
* ``next``, ``command { goto }`` and top-level edges as ``RoutingIR(kind=
  "next")`` (``next END`` alone is ``end``); ``routes`` with their
  ``chooser``; ``send`` as ``fanout`` with branches;
* values as :data:`ragc.ir.model.Expr`, schemas as JSON schema, durations
  in seconds;
* node defaults resolved: ``timeout_s``, ``retry`` and ``max_visits`` fall
  back to the graph's ``defaults`` (an interrupt's ``timeout`` is its answer
  deadline and has no default);
* run limits and budgets narrowed by the registry policies in force
  (``default``, and ``untrusted`` for untrusted workflows): an absent value
  takes the policy's cap, an explicit one is at most the cap (the checker
  rejects larger ones); ``allow`` lists are intersected with the policies'
  allowlists;
* the built-in ``errors`` channel (reducer ``append``) added to each graph;
* ``refs``: every registry name used, including the models and tools of the
  registry agents run and the fallbacks of the models used.

The result is deterministic: graphs, channels and nodes keep source order,
joins follow nodes; the same input gives byte-identical JSON.
"""

from __future__ import annotations

from typing import Any, Callable

from ragc.check.model import END, GraphInfo, JoinInfo, ModuleInfo, NodeInfo
from ragc.check.routing import interrupt_options
from ragc.check.schemas import object_schema
from ragc.check.values import NOT_LITERAL, as_name, literal
from ragc.diagnostics.model import Span
from ragc.ir.model import (
    AllowIR,
    BoolExpr,
    BranchIR,
    BudgetIR,
    CallExpr,
    ChannelIR,
    CompareExpr,
    ForEachIR,
    GraphIR,
    JoinIR,
    LimitsIR,
    ListExpr,
    LitExpr,
    NodeIR,
    NotExpr,
    ObjectExpr,
    PathExpr,
    ProgramIR,
    RegistryRefs,
    ReplIR,
    RetryIR,
    RouteIR,
    RoutingIR,
    SpanIR,
    TemplateExpr,
)
from ragc.registry.model import PolicyEntry, Registry
from ragc.syntax import ast as A

REGISTRY_PREFIX = "registry."


def span_ir(s: Span | None) -> SpanIR | None:
    """A source span as :class:`SpanIR` (1-based, end exclusive)."""
    if s is None:
        return None
    return SpanIR(file=s.file, line=s.line, column=s.column, end_line=s.end_line, end_column=s.end_column)


def expr(v: A.Value | A.Condition):
    """An AST value or condition as an IR expression."""
    if isinstance(v, A.Str):
        return TemplateExpr(source=v.value) if v.is_template else LitExpr(value=v.value)
    if isinstance(v, (A.Int, A.Float, A.Bool)):
        return LitExpr(value=v.value)
    if isinstance(v, A.Duration):
        return LitExpr(value=v.seconds)
    if isinstance(v, A.Null):
        return LitExpr(value=None)
    if isinstance(v, A.Path):
        segs: list[str | int] = [s.name if isinstance(s, A.Attr) else s.key for s in v.segments]
        return PathExpr(root=v.root.name, segments=segs)
    if isinstance(v, A.ListV):
        return ListExpr(items=[expr(x) for x in v.items])
    if isinstance(v, A.ObjectV):
        return ObjectExpr(fields={p.key_name: expr(p.value) for p in v.pairs})
    if isinstance(v, A.Call):
        return CallExpr(func=v.func.name, args=[expr(x) for x in v.args])
    if isinstance(v, A.BoolOp):
        return BoolExpr(op=v.op, operands=[expr(x) for x in v.operands])
    if isinstance(v, A.Not):
        return NotExpr(operand=expr(v.operand))
    if isinstance(v, A.Compare):
        return CompareExpr(op=v.op, left=expr(v.left), right=expr(v.right))
    raise TypeError(f"not a value: {v!r}")


def _pairs(v: A.Value | None) -> dict[str, A.Value]:
    if not isinstance(v, A.ObjectV):
        return {}
    out: dict[str, A.Value] = {}
    for p in v.pairs:
        out.setdefault(p.key_name, p.value)
    return out


def _num(v: A.Value | None) -> float | int | None:
    if isinstance(v, (A.Int, A.Float)):
        return v.value
    if isinstance(v, A.Duration):
        return v.seconds
    return None


def _names(v: A.Value | None) -> list[str]:
    if isinstance(v, A.ListV):
        return [n for n in (as_name(x) for x in v.items) if n is not None]
    return []


def retry_ir(v: A.Value | None) -> RetryIR | None:
    """A ``retry { ... }`` block as :class:`RetryIR` (``None`` when absent)."""
    if not isinstance(v, A.ObjectV):
        return None
    p = _pairs(v)
    kw: dict[str, Any] = {}
    if "max_attempts" in p and _num(p["max_attempts"]) is not None:
        kw["max_attempts"] = int(_num(p["max_attempts"]))  # type: ignore[arg-type]
    if "backoff" in p and as_name(p["backoff"]):
        kw["backoff"] = as_name(p["backoff"])
    if "initial" in p and _num(p["initial"]) is not None:
        kw["initial_s"] = float(_num(p["initial"]))  # type: ignore[arg-type]
    if "max" in p and _num(p["max"]) is not None:
        kw["max_s"] = float(_num(p["max"]))  # type: ignore[arg-type]
    if "jitter" in p and isinstance(p["jitter"], A.Bool):
        kw["jitter"] = p["jitter"].value
    if "on" in p:
        kw["on"] = _names(p["on"])
    return RetryIR(**kw)


BUDGET_KEYS = ("max_model_calls", "max_tool_calls", "max_tokens", "max_cost_usd")


def budget_ir(v: A.Value | None, policies: list[PolicyEntry] = ()) -> BudgetIR | None:
    """A ``budget { ... }`` block narrowed by ``policies``' caps (``None``
    when neither gives a bound)."""
    p = _pairs(v)
    kw: dict[str, Any] = {}
    for key in BUDGET_KEYS:
        x = _num(p.get(key))
        for pol in policies:
            cap = getattr(pol, key)
            if cap is not None:
                x = cap if x is None else min(x, cap)
        if x is not None:
            kw[key] = float(x) if key == "max_cost_usd" else int(x)
    return BudgetIR(**kw) if kw else None


class Lowerer:
    """Lowers the graphs of one checked module.

    Args:
        info: the checked module (no errors).
        registry: the registry it was checked against.
        untrusted: the untrusted policy applies.
        graph_key: maps a subgraph reference to the key of
            :attr:`ProgramIR.graphs` (local graphs and ``registry.NAME``).
        local_key: maps a graph of this module to its key (identity for the
            main file; prefixed for registry graph files).
    """

    def __init__(self, info: ModuleInfo, registry: Registry, *, untrusted: bool = False,
                 graph_key: Callable[[str], str] | None = None, local_key: Callable[[str], str] | None = None):
        self.info = info
        self.registry = registry
        self.policies = [registry.policy("default")] + ([registry.policy("untrusted")] if untrusted else [])
        self.local_key = local_key or (lambda n: n)
        self.graph_key = graph_key or (lambda n: self.local_key(n) if n in info.graphs else REGISTRY_PREFIX + n)
        self.refs: dict[str, set[str]] = {k: set() for k in RegistryRefs.model_fields}
        self.fork_join: dict[str, str] = {}  # fork node -> id of the join collecting its branches

    # -------------------------------------------------------------- graphs

    def graph(self, g: GraphInfo) -> GraphIR:
        """One graph as :class:`GraphIR`."""
        defaults = _pairs(g.setting("defaults"))
        channels = {name: self.channel(g, name) for name in g.channels}
        channels["errors"] = ChannelIR(name="errors", reducer="append")
        joins = {j.id: self.join(g, j) for j in g.joins}
        self.fork_join = {}
        for j in g.joins:
            if j.fork is not None:
                self.fork_join.setdefault(j.fork, j.id)
        nodes = {name: self.node(g, info, defaults) for name, info in g.nodes.items()}
        desc = g.setting("description")
        metadata = literal(g.setting("metadata")) if g.setting("metadata") is not None else {}
        kw: dict[str, Any] = {}
        store = g.setting("store")
        if store is not None and as_name(store):
            kw["store"] = as_name(store)
            self.refs["stores"].add(as_name(store))  # type: ignore[arg-type]
        out = GraphIR(
            name=self.local_key(g.name),
            span=span_ir(g.graph.name.span),
            description=desc.value if isinstance(desc, A.Str) else None,
            input_schema=object_schema(g.input_block.fields, closed=False) if g.input_block
            else {"type": "object", "properties": {}},
            output=[f.name.name for f in g.output_block.fields] if g.output_block else None,
            output_schema=object_schema(g.output_block.fields, closed=True) if g.output_block else None,
            channels=channels,
            nodes=nodes,
            joins=joins,
            start=g.start.name if g.start else next(iter(g.nodes)),
            limits=self.limits(defaults),
            retry=retry_ir(defaults.get("retry")),
            budget=budget_ir(g.setting("budget"), self.policies),
            allow=self.allow(g),
            metadata=metadata if metadata is not NOT_LITERAL else {},
            **kw,
        )
        return out

    def channel(self, g: GraphInfo, name: str) -> ChannelIR:
        """The declared channel ``name`` of ``g`` (reducer, default, ``max_items``);
        records a custom reducer in the refs."""
        ch = g.channels[name]
        reducer, custom = g.reducers[name]
        if custom:
            self.refs["reducers"].add(custom)
        opts = _pairs(ch.options)
        default = literal(opts["default"]) if "default" in opts else None
        max_items = _num(opts.get("max_items"))
        return ChannelIR(name=name, reducer=reducer, custom=custom, default=default,
                         max_items=int(max_items) if max_items is not None else None, span=span_ir(ch.name.span))

    def limits(self, d: dict[str, A.Value]) -> LimitsIR:
        """The graph's limits from its ``defaults`` pairs ``d``, each capped by the
        active policies (``max_steps`` default 1000, ``max_subgraph_depth`` 8;
        durations in seconds)."""
        def capped(value: float | None, key: str, default: float | None) -> float | None:
            x = value if value is not None else default
            for pol in self.policies:
                cap = getattr(pol, key)
                if cap is not None:
                    x = cap if x is None else min(x, cap)
            return x

        max_steps = capped(_num(d.get("max_steps")), "max_steps", 1000)
        max_visits = capped(_num(d.get("max_visits")), "max_visits", None)
        timeout = capped(_num(d.get("timeout")), "timeout", None)
        max_conc = capped(_num(d.get("max_concurrency")), "max_concurrency", None)
        depth = capped(_num(d.get("max_subgraph_depth")), "max_subgraph_depth", 8)
        deadline = _num(d.get("deadline"))
        return LimitsIR(
            max_steps=int(max_steps),  # type: ignore[arg-type]
            max_visits=int(max_visits) if max_visits is not None else None,
            timeout_s=float(timeout) if timeout is not None else None,
            deadline_s=float(deadline) if deadline is not None else None,
            max_concurrency=int(max_conc) if max_conc is not None else None,
            max_subgraph_depth=int(depth),  # type: ignore[arg-type]
        )

    def allow(self, g: GraphInfo) -> AllowIR:
        """The graph's ``allow`` lists intersected with the active policies'
        ``allow_*`` lists (``None``: no list, everything the registry has);
        ``deny_tools`` is removed from a tools list (the harness enforces it
        when there is none)."""
        kw: dict[str, list[str] | None] = {}
        for what, key in (("tools", "allow_tools"), ("models", "allow_models"), ("agents", "allow_agents")):
            names: set[str] | None = set(_names(g.allows[what].value)) if what in g.allows else None
            for pol in self.policies:
                granted = getattr(pol, key)
                if granted is not None:
                    names = set(granted) if names is None else names & set(granted)
            if what == "tools" and names is not None:
                for pol in self.policies:
                    names -= set(pol.deny_tools)
            kw[what] = sorted(names) if names is not None else None
        return AllowIR(**kw)

    # -------------------------------------------------------------- joins

    def join(self, g: GraphInfo, j: JoinInfo) -> JoinIR:
        """One join of any spelling as :class:`JoinIR` (``first`` becomes
        ``any``; ``timeout`` in seconds)."""
        policy, quorum = "all", None
        if j.policy is not None:
            name = j.policy.name.name
            policy = "any" if name == "first" else name
            quorum = j.policy.count.value if (name == "quorum" and j.policy.count is not None) else None
        tolerate = _num(j.settings["tolerate"].value) if "tolerate" in j.settings else None
        timeout = _num(j.settings["timeout"].value) if "timeout" in j.settings else None
        sources = [s.name for s in j.sources]
        return JoinIR(
            id=j.id,
            fork=j.fork or "",
            sources=sources,
            target=j.target,
            node=j.node,
            policy=policy,
            quorum=quorum,
            tolerate=int(tolerate) if tolerate is not None else None,
            timeout_s=float(timeout) if timeout is not None else None,
            optional=[s for s in sources if g.nodes[s].optional],
            span=span_ir(j.span),
        )

    # -------------------------------------------------------------- nodes

    def node(self, g: GraphInfo, info: NodeInfo, defaults: dict[str, A.Value]) -> NodeIR:
        """One node as :class:`NodeIR` with its fields resolved (default output
        channel, retry from ``defaults``, registry refs recorded)."""
        kind = info.kind or "model"
        f = info.fields
        kw: dict[str, Any] = {}

        def val(key: str):
            return f[key].value if key in f else None

        if kind in ("model", "agent", "repl"):
            model = as_name(val("model")) if "model" in f else "default"
            kw["model"] = model
            self._model_ref(model)  # type: ignore[arg-type]
            if "system" in f:
                kw["system"] = expr(val("system"))
            if "prompt" in f:
                kw["prompt"] = expr(val("prompt"))
            if info.schema is not None:
                kw["output_schema"] = object_schema(info.schema.fields, closed=True)
            params = {k: _num(val(k)) for k in ("temperature", "max_tokens") if k in f}
            if params:
                kw["params"] = params
            if kind == "agent":
                kw["max_iterations"] = int(_num(val("max_iterations")) or 8)
                for key in ("memory", "skills"):
                    if key in f:
                        v = val(key)
                        names = _names(v) if isinstance(v, A.ListV) else [as_name(v)] if as_name(v) else []
                        kw[key] = list(dict.fromkeys(names))
                for skill in kw.get("skills", ()):
                    entry = (getattr(self.registry, "skills", None) or {}).get(skill)
                    self.refs["tools"].update(entry.tools if entry is not None else ())
                if "memory" in kw:
                    self.refs["stores"].update(kw["memory"])
        if kind == "repl":
            kw["repl"] = self.repl(val)
        if kind in ("model", "agent", "tool", "repl") and "tools" in f:
            kw["tools"] = _names(val("tools"))
            self.refs["tools"].update(kw["tools"])
        if kind == "tool" and "tool" in f:
            kw["tool"] = as_name(val("tool"))
            self.refs["tools"].add(kw["tool"])
            kw["args"] = expr(val("args")) if "args" in f else ObjectExpr(fields={})
        if kind == "subagent":
            kw["agent"] = as_name(val("agent"))
            self._agent_ref(kw["agent"])
            if "prompt" in f:
                kw["prompt"] = expr(val("prompt"))
            if "model" in f:  # per-use override of the registry agent's model
                kw["model"] = as_name(val("model"))
                self._model_ref(kw["model"])  # type: ignore[arg-type]
            if info.schema is not None:
                kw["output_schema"] = object_schema(info.schema.fields, closed=True)
        if kind in ("subagent", "subgraph", "function") and "input" in f:
            kw["input"] = expr(val("input"))
        if kind == "subgraph":
            name = as_name(val("graph")) or ""
            kw["graph"] = self.graph_key(name)
            if name not in self.info.graphs:
                self.refs["graphs"].add(name)
        if kind in ("router", "function") and "function" in f:
            kw["function"] = as_name(val("function"))
            self.refs["functions"].add(kw["function"])
        if kind == "interrupt":
            kw["prompt"] = expr(val("prompt"))
            options = interrupt_options(info)
            if options is not None:
                kw["options"] = [n for n, _ in options]
            elif info.routes is not None:
                kw["options"] = [r.label.name for r in info.routes.routes]
            if "default" in f:
                kw["default"] = literal(val("default"))
        # common fields
        timeout = _num(val("timeout"))
        if timeout is None and kind != "interrupt":
            timeout = _num(defaults.get("timeout"))
        visits = _num(val("max_visits"))
        if visits is None:
            visits = _num(defaults.get("max_visits"))
        allow_tools = None
        if info.allows:
            allow_tools = []
            for a in info.allows:
                allow_tools += [n for n in _names(a.value) if n not in allow_tools]
        desc = val("description")
        return NodeIR(
            name=info.name,
            kind=kind,
            span=span_ir(info.node.name.span),
            description=desc.value if isinstance(desc, A.Str) else None,
            output=info.output,
            update={p.key_name: expr(p.value) for p in info.update.pairs} if info.update is not None else {},
            timeout_s=float(timeout) if timeout is not None else None,
            retry=retry_ir(val("retry")) or retry_ir(defaults.get("retry")),
            budget=budget_ir(val("budget")) if "budget" in f else None,
            allow_tools=allow_tools,
            blocking=info.blocking,
            optional=info.optional,
            max_visits=int(visits) if visits is not None else None,
            routing=self.routing(g, info),
            **kw,
        )

    def repl(self, val: Any) -> ReplIR:
        """The :class:`ReplIR` of a checked ``kind repl`` node (``val``: field
        name -> value or ``None``); its models and agents recorded in the refs."""
        from ragc.check.repl import DEFAULT_MAX_TURNS, limit_values

        models = _names(val("models")) if val("models") is not None else []
        agents = _names(val("agents")) if val("agents") is not None else []
        for m in models:
            self._model_ref(m)
        for a in agents:
            self._agent_ref(a)
        graphs = _names(val("graphs")) if val("graphs") is not None else []
        self.refs["graphs"].update(graphs)
        limits = val("limits")
        script = val("script")
        return ReplIR(models=models, agents=agents, graphs=graphs, max_turns=int(_num(val("max_turns")) or DEFAULT_MAX_TURNS),
                      limits=limit_values(limits) if isinstance(limits, A.ObjectV) else {},
                      script=script.value if isinstance(script, A.Str) else None)

    def _model_ref(self, model: str) -> None:
        seen = self.refs["models"]
        queue = [model]
        while queue:
            m = queue.pop()
            if m in seen:
                continue
            seen.add(m)
            entry = self.registry.models.get(m)
            if entry is not None:
                queue.extend(entry.fallbacks)

    def _agent_ref(self, agent: str) -> None:
        self.refs["agents"].add(agent)
        entry = self.registry.agents.get(agent)
        if entry is not None:
            self._model_ref(entry.model)
            self.refs["tools"].update(entry.tools)

    def routing(self, g: GraphInfo, info: NodeInfo) -> RoutingIR:
        """The node's one routing form as :class:`RoutingIR`: ``end``, ``next``
        (one target, or several in parallel with the join collecting them),
        ``routes`` (first route per label kept) or ``fanout``."""
        r = info.routing
        if r in ("end", "join_source"):
            return RoutingIR(kind="end")
        join = self.fork_join.get(info.name)
        if r in ("next", "goto", "edges"):
            targets = [s.target for s in g.succ[info.name] if s.how in ("next", "fork")]
            if targets == [END]:
                return RoutingIR(kind="end")
            mc = _num(info.value("max_concurrency")) if len(targets) > 1 else None
            return RoutingIR(kind="next", targets=targets, join=join if len(targets) > 1 else None,
                             max_concurrency=int(mc) if mc is not None else None)
        if r == "routes":
            routes = [RouteIR(label=rt.label.name, target=rt.target.name,
                              when=expr(rt.when) if rt.when is not None else None, span=span_ir(rt.span))
                      for rt in info.routes.routes]  # type: ignore[union-attr]
            seen: set[str] = set()
            routes = [x for x in routes if not (x.label in seen or seen.add(x.label))]
            chooser = info.chooser or "model"
            function = as_name(info.fields["function"].value) if chooser == "function" else None
            return RoutingIR(kind="routes", routes=routes, chooser=chooser, function=function)
        # send
        branches = []
        for b in info.branches:
            e = b.entry
            payload = expr(e.payload) if e.payload is not None else None
            foreach = ForEachIR(var=e.loop.var.name, source=expr(e.loop.source)) if e.loop is not None else None
            if b.target_kind == "agent":
                self._agent_ref(b.target)
            branches.append(BranchIR(target=b.target, target_kind=b.target_kind or "node", payload=payload,
                                     foreach=foreach, output=b.output if b.target_kind == "agent" else None,
                                     span=span_ir(e.span)))
        mc = _num(info.value("max_concurrency"))
        return RoutingIR(kind="fanout", branches=branches, max_concurrency=int(mc) if mc is not None else None,
                         join=join)

    def program_refs(self) -> RegistryRefs:
        """Every registry name recorded while lowering, sorted per table."""
        return RegistryRefs(**{k: sorted(self.refs[k]) for k in RegistryRefs.model_fields})


def lower_module(info: ModuleInfo, registry: Registry, *, entry: str, source: str | None = None,
                 untrusted: bool = False, extra_graphs: dict[str, GraphIR] | None = None,
                 extra_refs: RegistryRefs | None = None) -> ProgramIR:
    """Lower every graph of a checked module.

    Args:
        info: the checked module (must have no errors).
        registry: the registry it was checked against.
        entry: the entry graph's name.
        source: the file name recorded in :attr:`ProgramIR.source` (not hashed).
        untrusted: narrow limits, budgets and allow lists by the untrusted policy.
        extra_graphs: compiled registry graphs (``registry.NAME`` keys) to include.
        extra_refs: registry names those graphs use (merged into ``refs``).

    Returns:
        The :class:`ProgramIR`, hashed.
    """
    low = Lowerer(info, registry, untrusted=untrusted)
    graphs = {name: low.graph(g) for name, g in info.graphs.items()}
    for key, gir in sorted((extra_graphs or {}).items()):
        graphs.setdefault(key, gir)
    refs = low.program_refs()
    if extra_refs is not None:
        refs = merge_refs(refs, extra_refs)
    return ProgramIR(source=source, entry=entry, graphs=graphs, refs=refs).with_hash()


def lower_registry_graph(info: ModuleInfo, registry: Registry, name: str, graph: str, *,
                         untrusted: bool = False) -> tuple[dict[str, GraphIR], RegistryRefs]:
    """Lower registry graph ``name`` (graph ``graph`` of a registry ``.rag``
    file) and the graphs of its file it uses, keyed ``registry.NAME`` and
    ``registry.NAME/LOCAL``."""
    prefix = REGISTRY_PREFIX + name

    def local_key(n: str) -> str:
        return prefix if n == graph else f"{prefix}/{n}"

    low = Lowerer(info, registry, untrusted=untrusted, local_key=local_key)
    needed = [graph]
    done: dict[str, GraphIR] = {}
    while needed:
        gname = needed.pop(0)
        if local_key(gname) in done:
            continue
        gir = low.graph(info.graphs[gname])
        done[local_key(gname)] = gir
        for n in gir.nodes.values():
            if n.kind == "subgraph" and n.graph and n.graph.startswith(prefix + "/"):
                needed.append(n.graph[len(prefix) + 1:])
    return done, low.program_refs()


def merge_refs(a: RegistryRefs, b: RegistryRefs) -> RegistryRefs:
    """Union of two :class:`RegistryRefs`, sorted."""
    return RegistryRefs(**{k: sorted(set(getattr(a, k)) | set(getattr(b, k))) for k in RegistryRefs.model_fields})
