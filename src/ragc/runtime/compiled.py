"""Load-time compilation of a :class:`~ragc.ir.model.ProgramIR` for the runtime.

Everything that does not depend on a run is prepared once, when a workflow
is loaded: expressions and templates become closures
(:mod:`ragc.runtime.expressions`), reducers become functions, routing
becomes a small code plus lookup tables, joins get their policy numbers, and
(:func:`ragc.runtime.program.compile_program`) each node gets the executor
of its kind (:mod:`ragc.runtime.nodes`). A run then only follows pointers.

Raises: :class:`~ragc.runtime.errors.RunError` (``E0908`` for an expression
that does not compile, ``E0914`` for a function or reducer that cannot be
loaded).
"""

from __future__ import annotations

from typing import Any, Awaitable, Callable

from ragc.ir.model import END, GraphIR, JoinIR, NodeIR, ProgramIR, RetryIR, SpanIR
from ragc.runtime import reducers as R
from ragc.runtime.errors import RunError
from ragc.runtime.expressions import Evaluate, ExprError, compile_expr
from ragc.runtime.functions import FunctionTable

Executor = Callable[[Any], Awaitable[Any]]
"""A node's executor: ``async (Activation) -> NodeOutput`` (see
:mod:`ragc.runtime.activation`; typed loosely here because activations sit
above compiled nodes in the module order)."""

# routing codes
R_END, R_NEXT, R_FORK, R_ROUTES, R_FANOUT = range(5)

ERRORS_CHANNEL = "errors"


class CJoin:
    """A join with its policy numbers resolved.

    ``need``: successes that fire it (``None`` for ``all``: every
    non-skipped branch arrives). ``tolerate``: failures allowed (``None``:
    for race policies, until success is impossible).
    """

    __slots__ = ("ir", "id", "fork", "sources", "target", "node", "policy", "need", "tolerate", "timeout_s",
                 "optional", "span")

    def __init__(self, j: JoinIR):
        self.ir = j
        self.id = j.id
        self.fork = j.fork
        self.sources = frozenset(j.sources)
        self.target = j.target
        self.node = j.node
        self.policy = j.policy
        self.need = None if j.policy == "all" else (1 if j.policy == "any" else (j.quorum or 1))
        self.tolerate = j.tolerate if j.tolerate is not None else (0 if j.policy == "all" else None)
        self.timeout_s = j.timeout_s
        self.optional = frozenset(j.optional)
        self.span = j.span


IMPLICIT_JOIN = JoinIR(id="<fork>", fork="", target=END)
"""The join of a fork without one: ``all``, fail fast, ends the frame."""


class CBranch:
    """One ``send`` entry (or one static ``next [...]`` target)."""

    __slots__ = ("target", "is_agent", "payload", "foreach_var", "foreach_src", "output", "span", "agent_node")

    def __init__(self, target: str, is_agent: bool = False, payload: Evaluate | None = None,
                 foreach_var: str | None = None, foreach_src: Evaluate | None = None, output: str | None = None,
                 span: SpanIR | None = None):
        self.target = target
        self.is_agent = is_agent
        self.payload = payload
        self.foreach_var = foreach_var
        self.foreach_src = foreach_src
        self.output = output
        self.span = span
        self.agent_node: "CNode | None" = None


class CNode:
    """A node ready to run. ``data`` holds what its kind's executor prepared."""

    __slots__ = ("name", "kind", "ir", "span", "graph", "output", "out_messages", "update", "exec",
                 "rkind", "next_target", "targets", "join", "routes", "route_map", "chooser", "branches",
                 "max_concurrency", "timeout_s", "retry", "has_error_route", "blocking", "max_visits",
                 "data", "label_only_outcome", "self_retry")

    def __init__(self, ir: NodeIR, graph: "CGraph"):
        self.name = ir.name
        self.kind = ir.kind
        self.ir = ir
        self.span = ir.span
        self.graph = graph
        self.output = ir.output
        self.out_messages = ir.output is not None and graph.reducer_names.get(ir.output) == "messages"
        self.update: list[tuple[str, Evaluate]] = []
        self.exec: Executor | None = None
        self.rkind = R_END
        self.next_target: str | None = None
        self.targets: list[str] = []
        self.join: CJoin | None = None
        self.routes: list[tuple[str, str, Evaluate | None]] = []
        self.route_map: dict[str, str] = {}
        self.chooser: str | None = None
        self.branches: list[CBranch] = []
        self.max_concurrency: int | None = None
        self.timeout_s: float | None = None
        self.retry: RetryIR | None = None
        self.has_error_route = False
        self.blocking = ir.blocking
        self.max_visits: int | None = None
        self.data: dict[str, Any] = {}
        self.label_only_outcome = False
        self.self_retry = False

    def error(self, code: str, message: str, **kw: Any) -> RunError:
        """A :class:`RunError` naming this node, with its span."""
        kw.setdefault("span", self.span)
        return RunError(code, message, node=self.name, **kw)


class CGraph:
    """A graph ready to run: channel reducers, nodes, joins, limits."""

    def __init__(self, key: str, ir: GraphIR, program: "CProgram"):
        self.key = key
        self.name = ir.name
        self.ir = ir
        self.program = program
        self.start = ir.start
        self.limits = ir.limits
        self.output = ir.output
        self.reducers: dict[str, R.Reduce] = {}
        self.reducer_names: dict[str, str] = {}
        self.mutable: set[str] = set()
        self.defaults: dict[str, Any] = {}
        self.nodes: dict[str, CNode] = {}
        self.joins: dict[str, CJoin] = {}
        self.input_names = set((ir.input_schema or {}).get("properties", {}) or {})


class CProgram:
    """Every graph of a program, compiled; ``entry`` is the entry graph.
    ``graph_runner``: ``async (key, input) -> dict`` that runs graph ``key``
    of the program to its end as a run of its own (the engine sets it; the
    ``graph_run`` of a ``kind repl`` node's cells uses it); ``None``: none."""

    def __init__(self, ir: ProgramIR, registry: Any, functions: FunctionTable):
        self.ir = ir
        self.registry = registry
        self.functions = functions
        self.graphs: dict[str, CGraph] = {}
        self.entry: CGraph | None = None
        self.graph_runner: Any = None


def node_expr(node: NodeIR | None, e: Any, what: str) -> Evaluate:
    """Compile expression ``e`` of ``node`` (``what`` names it in errors).

    Raises:
        RunError: ``E0908``, the expression does not compile.
    """
    try:
        return compile_expr(e)
    except ExprError as err:
        where = f"node `{node.name}`: " if node is not None else ""
        raise RunError("E0908", f"{where}{what}: {err}", node=node.name if node else None,
                       span=node.span if node else None, kind="expression") from None


def build_channels(g: CGraph, functions: FunctionTable) -> None:
    """Give ``g`` its reducers, defaults and mutable channels (and the
    implicit ``errors`` channel).

    Raises:
        RunError: ``E0914``, a custom reducer that cannot be loaded.
    """
    chans = dict(g.ir.channels)
    for name, ch in chans.items():
        red = ch.reducer
        if red == "custom":
            fn: R.Reduce = R.custom(functions.reducer(ch.custom or name))
        else:
            fn = R.BUILTIN[red]
        max_items = getattr(ch, "max_items", None)
        if max_items and red in ("append", "messages"):
            fn = R.bounded(fn, int(max_items))
        g.reducers[name] = fn
        g.reducer_names[name] = red if red != "custom" else f"custom {ch.custom}"
        if red in R.MUTABLE:
            g.mutable.add(name)
        g.defaults[name] = ch.default if ch.default is not None else R.identity(red)
    if ERRORS_CHANNEL not in g.reducers:
        g.reducers[ERRORS_CHANNEL] = R.r_append
        g.reducer_names[ERRORS_CHANNEL] = "append"
        g.mutable.add(ERRORS_CHANNEL)
        g.defaults[ERRORS_CHANNEL] = []


def build_routing(cn: CNode, g: CGraph) -> None:
    """Turn ``cn``'s routing IR into a routing code and lookup tables.

    Raises:
        RunError: ``E0908`` (a condition or payload), ``E0909`` (an unknown join).
    """
    r = cn.ir.routing
    if r.kind == "end":
        cn.rkind = R_END
    elif r.kind == "next":
        targets = list(r.targets)
        if len(targets) == 1 and r.join is None:
            cn.rkind = R_NEXT if targets[0] != END else R_END
            cn.next_target = targets[0]
        elif not targets:
            cn.rkind = R_END
        else:
            cn.rkind = R_FORK
            cn.targets = targets
            cn.branches = [CBranch(t) for t in targets]
            cn.join = g.joins.get(r.join) if r.join else None
            if r.join and cn.join is None:
                raise cn.error("E0909", f"routing names an unknown join `{r.join}`", kind="config")
    elif r.kind == "routes":
        cn.rkind = R_ROUTES
        cn.chooser = r.chooser
        for route in r.routes:
            when = node_expr(cn.ir, route.when, f"condition of route `{route.label}`") if route.when is not None else None
            cn.routes.append((route.label, route.target, when))
            cn.route_map.setdefault(route.label, route.target)
        cn.has_error_route = "error" in cn.route_map
        labels = set(cn.route_map)
        cn.label_only_outcome = labels <= {"ok", "error"}
    elif r.kind == "fanout":
        cn.rkind = R_FANOUT
        for b in r.branches:
            payload = node_expr(cn.ir, b.payload, f"payload of `{b.target}`") if b.payload is not None else None
            fvar = fsrc = None
            if b.foreach is not None:
                fvar = b.foreach.var
                fsrc = node_expr(cn.ir, b.foreach.source, f"`for` source of `{b.target}`")
            cn.branches.append(CBranch(b.target, b.target_kind == "agent", payload, fvar, fsrc, b.output, b.span))
        cn.max_concurrency = r.max_concurrency
        cn.join = g.joins.get(r.join) if r.join else None
        if r.join and cn.join is None:
            raise cn.error("E0909", f"routing names an unknown join `{r.join}`", kind="config")
    else:  # pragma: no cover - the IR is validated by pydantic
        raise cn.error("E0909", f"unknown routing kind {r.kind}")
