"""Mapping lenient spellings to the canonical one (what ``ragc fmt`` prints).

:func:`canonicalize` returns a new :class:`~ragc.syntax.ast.Module` in which
every lenient spelling is replaced by its canonical form, keeping spans (a
rewritten node keeps the span of what it was written as), source order and
meaning. It is idempotent. The rules, each documented in ``docs/language.md``:

========================================  =========================================
written                                   canonical
========================================  =========================================
``kind sub_agent`` / ``kind graph``       ``kind subagent`` / ``kind subgraph``
``kind fork`` (a routing-only node)       ``kind router``
``system`` or ``question`` (interrupt)    ``prompt`` (when the node has no ``prompt``
                                          and only one of the two)
``sends [ send a {..} send b {..} ]``     ``send [ a {..}, b {..} ]``
``send a {..} for x in xs``               ``send [ a {..} for x in xs ]``
``a -> b`` (top level)                    ``edge a -> b``
``overwrite``, ``last_value``             ``last``
``topic``                                 ``append``
``aggregate``, ``delta``                  ``sum``
``policy first``                          ``policy any``
``output "findings"``                     ``output findings``
``next [review]``                         ``next review``
``model default`` (and ``agent``,         ``model "default"``
``tool``, ``graph``, ``function``,
``memory``, elements of ``tools`` /
``skills`` / ``allow ...``)
``key: value`` in blocks and nodes        ``key value``
``k v`` in data objects and schemas       ``k: v``
``kind join`` node with ``sources``       top-level ``join [..] -> T { .. }`` (only
                                          when it routes by a single ``next T``, is
                                          not ``start``, and nothing but its sources'
                                          ``next J`` names it; those are dropped)
========================================  =========================================

Settings blocks (``key value`` pairs): ``defaults``, ``retry``, ``budget``,
``command`` and join blocks, at any depth inside another settings block.
Every other object is data (``k: v``): ``args``, ``input``, send payloads,
``update``, ``metadata``, channel options, and everything nested in data.
"""

from __future__ import annotations

import re
from dataclasses import replace

from ragc.syntax import ast as A
from ragc.syntax.upstream import desugar

KIND_ALIASES = {"sub_agent": "subagent", "graph": "subgraph", "fork": "router"}
REDUCER_ALIASES = {"overwrite": "last", "last_value": "last", "topic": "append",
                   "aggregate": "sum", "delta": "sum"}
POLICY_ALIASES = {"first": "any"}
SETTINGS_KEYS = frozenset({"defaults", "retry", "budget", "command"})
REGISTRY_KEYS = frozenset({"model", "agent", "tool", "graph", "function"})
REGISTRY_LIST_KEYS = frozenset({"tools"})
EXTENSION_KEYS = frozenset({"memory", "skills"})
"""Agent-node fields of registry names, one or a list: ``memory notes`` -> ``memory "notes"``."""
ALLOW_REGISTRY_KINDS = frozenset({"tools", "models", "agents", "graphs"})
INTERRUPT_PROMPT_ALIASES = ("system", "question")
JOIN_NODE_FIELDS = frozenset({"kind", "sources", "next", "tolerate", "timeout"})

_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*\Z")
_LITERAL_WORDS = frozenset({"true", "false", "null"})


def canonicalize(module: A.Module) -> A.Module:
    """The canonical form of ``module`` (see the module docstring).

    Args:
        module: a parsed module (lenient spellings allowed).

    Returns:
        A new module; comments and the module span are kept as they are.
        Upstream's spellings are rewritten first (:func:`ragc.syntax.upstream.desugar`).
    """
    module = desugar(module)
    return A.Module(tuple(_graph(g) for g in module.graphs), module.comments, module.span)


# --------------------------------------------------------------------------- helpers


def _bare_name(v) -> str | None:
    """The word of a bare path (``review``), else None."""
    if isinstance(v, A.Path) and not v.segments:
        return v.root.name
    return None


def is_bare_word(s: str) -> bool:
    """Whether ``s`` can be written as a bare word in a value position."""
    return bool(_NAME.match(s)) and s not in _LITERAL_WORDS


def _as_string(v):
    """A bare word written where a registry name (a string) belongs."""
    name = _bare_name(v)
    if name is None:
        return v
    return A.Str(name, False, v.span)


def _value(v, settings: bool = False):
    """Canonical value; ``settings`` selects ``k v`` pairs for an object."""
    if isinstance(v, A.ObjectV):
        pairs = []
        for p in v.pairs:
            child_settings = settings and p.key_name in SETTINGS_KEYS
            pairs.append(A.Pair(p.key, _value(p.value, child_settings), not settings, p.span))
        return A.ObjectV(tuple(pairs), v.span)
    if isinstance(v, A.ListV):
        return A.ListV(tuple(_value(x) for x in v.items), v.span)
    if isinstance(v, A.Call):
        return A.Call(v.func, tuple(_value(x) for x in v.args), v.span)
    return v


def _condition(c):
    if isinstance(c, A.BoolOp):
        return A.BoolOp(c.op, tuple(_condition(x) for x in c.operands), c.span)
    if isinstance(c, A.Not):
        return A.Not(_condition(c.operand), c.span)
    if isinstance(c, A.Compare):
        return A.Compare(c.op, _condition(c.left), _condition(c.right), c.span)
    return _value(c)


def _type(t: A.Type) -> A.Type:
    """Nested object types' fields get the canonical colon too."""
    if isinstance(t, A.ObjectType):
        return A.ObjectType(tuple(_schema_field(f) for f in t.fields), t.optional, t.span)
    if any(isinstance(a, A.ObjectType) for a in t.args):
        return A.TypeRef(t.name, tuple(_type(a) for a in t.args), t.optional, t.span)
    return t


def _schema_field(f: A.SchemaField) -> A.SchemaField:
    default = _value(f.default) if f.default is not None else None
    return A.SchemaField(f.name, _type(f.type), default, True, f.span)


def _policy(p: A.Policy) -> A.Policy:
    alias = POLICY_ALIASES.get(p.name.name)
    if alias is None:
        return p
    return A.Policy(A.Ident(alias, p.name.span), p.count, p.span)


def _join_block(b: A.JoinBlock | None) -> A.JoinBlock | None:
    if b is None:
        return None
    fields = tuple(A.Field(f.key, _value(f.value, f.key.name in SETTINGS_KEYS), False, f.span) for f in b.fields)
    return A.JoinBlock(_policy(b.policy) if b.policy else None, fields, b.span)


def _allow(a: A.Allow) -> A.Allow:
    value = _value(a.value)
    if a.what.name in ALLOW_REGISTRY_KINDS and isinstance(value, A.ListV):
        value = A.ListV(tuple(_as_string(x) for x in value.items), value.span)
    return A.Allow(a.what, value, a.span)


def _field(f: A.Field, *, in_node: bool) -> A.Field:
    key = f.key.name
    value = _value(f.value, key in SETTINGS_KEYS)
    if in_node:
        if key in REGISTRY_KEYS:
            value = _as_string(value)
        elif key in REGISTRY_LIST_KEYS and isinstance(value, A.ListV):
            value = A.ListV(tuple(_as_string(x) for x in value.items), value.span)
        elif key in EXTENSION_KEYS:
            value = A.ListV(tuple(_as_string(x) for x in value.items), value.span) \
                if isinstance(value, A.ListV) else _as_string(value)
        elif key == "output" and isinstance(value, A.Str) and not value.triple and is_bare_word(value.value):
            value = A.Path(A.Ident(value.value, value.span), (), value.span)
        elif key == "next" and isinstance(value, A.ListV) and len(value.items) == 1 \
                and _bare_name(value.items[0]) is not None:
            value = value.items[0]
    return A.Field(f.key, value, False, f.span)


# --------------------------------------------------------------------------- nodes


def _node_kind(node: A.Node) -> str | None:
    f = node.field("kind")
    return _bare_name(f.value) if f is not None else None


def _node(node: A.Node) -> A.Node:
    kind = _node_kind(node)
    canonical_kind = KIND_ALIASES.get(kind, kind) if kind is not None else None
    rename: str | None = None
    if canonical_kind == "interrupt" and node.field("prompt") is None:
        present = [k for k in INTERRUPT_PROMPT_ALIASES if node.fields(k)]
        if len(present) == 1 and len(node.fields(present[0])) == 1:
            rename = present[0]
    items = []
    for item in node.items:
        if isinstance(item, A.Field):
            f = _field(item, in_node=True)
            if f.key.name == "kind" and kind is not None and kind in KIND_ALIASES and _bare_name(f.value) == kind:
                value = f.value
                f = A.Field(f.key, A.Path(A.Ident(KIND_ALIASES[kind], value.root.span), (), value.span),
                            False, f.span)
            if rename is not None and f.key.name == rename:
                f = A.Field(A.Ident("prompt", f.key.span), f.value, False, f.span)
            items.append(f)
        elif isinstance(item, A.Send):
            entries = tuple(_send_entry(e) for e in item.entries)
            # upstream's `send x "mapping"` has no canonical spelling: keep its `sends` form
            spelling = "sends" if any(e.mapping is not None for e in entries) else "list"
            items.append(A.Send(entries, spelling, item.span))
        elif isinstance(item, A.JoinRef):
            items.append(A.JoinRef(item.target, _join_block(item.block), item.span))
        elif isinstance(item, A.Routes):
            routes = tuple(A.Route(r.label, r.target, _condition(r.when) if r.when is not None else None, r.span)
                           for r in item.routes)
            items.append(A.Routes(routes, item.span))
        elif isinstance(item, A.Policy):
            items.append(_policy(item))
        elif isinstance(item, A.OutputSchema):
            items.append(A.OutputSchema(tuple(_schema_field(f) for f in item.fields), item.span))
        elif isinstance(item, A.Allow):
            items.append(_allow(item))
        else:
            items.append(item)
    return A.Node(node.name, tuple(items), node.span)


def _send_entry(e: A.SendEntry) -> A.SendEntry:
    payload = _value(e.payload) if e.payload is not None else None
    loop = A.ForClause(e.loop.var, _value(e.loop.source), e.loop.span) if e.loop is not None else None
    return A.SendEntry(e.target, payload, loop, e.span, e.mapping)


# --------------------------------------------------------------------------- graphs


def _graph(g: A.Graph) -> A.Graph:
    items = []
    for item in g.items:
        if isinstance(item, A.Node):
            items.append(_node(item))
        elif isinstance(item, A.Channel):
            reducer = item.reducer
            alias = REDUCER_ALIASES.get(reducer.name) if not item.args else None  # args belong to the word written
            if alias is not None:
                reducer = A.Ident(alias, reducer.span)
            options = _value(item.options) if item.options is not None else None
            items.append(A.Channel(item.name, reducer, options, item.span, item.args))
        elif isinstance(item, A.Edge):
            items.append(A.Edge(item.source, item.target, False, item.span))
        elif isinstance(item, A.JoinDecl):
            items.append(A.JoinDecl(item.sources, item.target, _join_block(item.block), item.span))
        elif isinstance(item, A.SchemaBlock):
            items.append(A.SchemaBlock(item.which, tuple(_schema_field(f) for f in item.fields), item.span))
        elif isinstance(item, A.Allow):
            items.append(_allow(item))
        elif isinstance(item, A.Field):
            items.append(_field(item, in_node=False))
        else:
            items.append(item)
    return A.Graph(g.name, _convert_join_nodes(tuple(items)), g.span)


def _mentions(x, out: list, skip: set[int]) -> None:
    """Collect every name ``x`` may use to refer to a node: routing targets,
    edge and join ends, send targets, and the roots of paths in values.
    Objects whose ``id`` is in ``skip`` are not visited."""
    if id(x) in skip:
        return
    if isinstance(x, A.Path):
        out.append(x.root.name)
        return
    if isinstance(x, A.Ident):
        out.append(x.name)
        return
    if isinstance(x, A.Node):
        for item in x.items:
            _mentions(item, out, skip)
        return
    if isinstance(x, (A.Str, A.Int, A.Float, A.Duration, A.Bool, A.Null, A.Comment)):
        return
    if isinstance(x, tuple):
        for y in x:
            _mentions(y, out, skip)
        return
    fields = getattr(type(x), "__dataclass_fields__", None)
    if fields is None:
        return
    for name in fields:
        if name in ("span", "key"):  # keys of fields and pairs name settings, not nodes
            continue
        _mentions(getattr(x, name), out, skip)


def _convert_join_nodes(items: tuple) -> tuple:
    """Rewrite convertible ``kind join`` nodes as top-level ``join`` items."""
    nodes = {i.name.name: i for i in items if isinstance(i, A.Node)}
    start = next((i for i in items if isinstance(i, A.Field) and i.key.name == "start"), None)
    start_name = _bare_name(start.value) if start is not None else None
    replaced: dict[int, object] = {}
    dropped: set[int] = set()
    for item in items:
        if not isinstance(item, A.Node) or _node_kind(item) != "join":
            continue
        plan = _join_plan(item, items, nodes, start_name)
        if plan is None:
            continue
        decl, drop = plan
        if drop & dropped:
            continue
        replaced[id(item)] = decl
        dropped |= drop
    if not replaced:
        return items
    out = []
    for item in items:
        if id(item) in replaced:
            out.append(replaced[id(item)])
        elif isinstance(item, A.Node) and any(id(f) in dropped for f in item.items):
            out.append(A.Node(item.name, tuple(f for f in item.items if id(f) not in dropped), item.span))
        else:
            out.append(item)
    return tuple(out)


def _join_plan(j: A.Node, items: tuple, nodes: dict, start_name: str | None):
    """``(JoinDecl, ids of the sources' next-fields to drop)`` when ``j`` may
    become a top-level join, else None."""
    name = j.name.name
    if name == start_name or len(nodes) != sum(1 for i in items if isinstance(i, A.Node)):
        return None  # the start node, or duplicate node names: leave it alone
    policy = None
    settings: list[A.Field] = []
    seen: set[str] = set()
    sources_v = target_v = None
    for item in j.items:
        if isinstance(item, A.Policy):
            if policy is not None:
                return None
            policy = item
            continue
        if not isinstance(item, A.Field) or item.key.name not in JOIN_NODE_FIELDS or item.key.name in seen:
            return None
        seen.add(item.key.name)
        if item.key.name == "sources":
            sources_v = item.value
        elif item.key.name == "next":
            target_v = item.value
        elif item.key.name in ("tolerate", "timeout"):
            settings.append(item)
    target = _bare_name(target_v)
    if target is None or target == name or not isinstance(sources_v, A.ListV) or not sources_v.items:
        return None
    source_names = [_bare_name(s) for s in sources_v.items]
    if any(s is None or s not in nodes or s == name or s == target for s in source_names) \
            or len(set(source_names)) != len(source_names):
        return None
    drop: set[int] = set()
    for s in source_names:
        for f in nodes[s].items:
            if isinstance(f, A.Field) and f.key.name == "next" and _bare_name(f.value) == name:
                drop.add(id(f))
    mentions: list[str] = []
    skip = drop | {id(j)}
    for item in items:
        _mentions(item, mentions, skip)
    if name in mentions:
        return None
    block = None
    if policy is not None or settings:
        block = A.JoinBlock(policy, tuple(settings), j.span)
    sources = tuple(s.root for s in sources_v.items)
    return A.JoinDecl(sources, target_v.root, block, j.span), drop
