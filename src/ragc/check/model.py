"""The checker's resolved view of a module: what the lowering consumes.

The checker passes (``names``, ``kinds``, ``channels``, ``routing``,
``joins``, ``flow``, ...) fill these records while they report diagnostics;
:mod:`ragc.ir.lower` turns them into IR once the module has no errors. Every
record keeps the AST it came from, so diagnostics can point at spans.

Terminology:

* *succ* (:class:`Succ`): a control edge ``source -> target`` with how it
  arises (``next``, ``fork`` for static parallel, ``route``, ``branch`` for a
  send entry, ``join`` for the continuation after a join);
* *fork*: a node whose routing starts parallel branches (``next [a, b]``,
  several top-level edges, or a ``send``);
* *region* of a branch: the nodes a branch may run before it arrives at its
  join (or ends).
"""

from __future__ import annotations

from dataclasses import dataclass, field

from ragc.diagnostics.model import Span
from ragc.registry.model import Registry
from ragc.syntax import ast as A

END = "END"

CHOOSERS = {
    "router": "condition",
    "model": "model",
    "agent": "model",
    "interrupt": "human",
    "subagent": "outcome",
    "subgraph": "outcome",
    "tool": "outcome",
    "function": "outcome",
    "join": "outcome",
    "repl": "outcome",
}
"""Who picks a route label, per node kind (a router with ``function`` uses
``function``)."""


@dataclass
class Succ:
    """A control edge. ``how``: ``next`` (single next, goto or the only edge),
    ``fork`` (one of several parallel targets), ``route`` (one labelled
    option), ``branch`` (a send entry targeting a node), ``join`` (the
    continuation after a join fires). ``span``: where it is written."""

    target: str
    how: str
    span: Span
    label: str | None = None


@dataclass
class Write:
    """A channel write by a node: ``how`` is ``output`` (explicit),
    ``default`` (the default output rule), ``agent`` (a registry agent's
    ``output``), or ``update`` (``command { update }``)."""

    channel: str
    span: Span
    how: str
    node: str


@dataclass
class BranchInfo:
    """One entry of a ``send``. ``target_kind``: ``node`` or ``agent``
    (``None`` when unknown or ambiguous). ``output``: the agent branch's
    output channel."""

    entry: A.SendEntry
    target: str
    target_kind: str | None
    output: str | None = None


@dataclass
class NodeInfo:
    """One node after kind and field checks.

    ``kind``: canonical kind or ``None`` (missing/unknown). ``fields``: the
    first field per canonical key (``question``/``system`` on an interrupt
    are stored under ``prompt``). ``routing``: the routing form kept when
    several were written: ``end``, ``next``, ``routes``, ``goto``,
    ``edges``, ``send`` or ``join_source``. ``output``: the resolved default
    output channel (``None``: not written). ``chooser``: who picks its route
    label.
    """

    node: A.Node
    name: str
    kind: str | None = None
    fields: dict[str, A.Field] = field(default_factory=dict)
    routes: A.Routes | None = None
    send: A.Send | None = None
    join: A.JoinRef | None = None
    policy: A.Policy | None = None
    schema: A.OutputSchema | None = None
    allows: list[A.Allow] = field(default_factory=list)
    routing: str = "end"
    next_targets: list[A.Ident] = field(default_factory=list)
    goto: A.Ident | None = None
    update: A.ObjectV | None = None
    edges: list[A.Edge] = field(default_factory=list)
    branches: list[BranchInfo] = field(default_factory=list)
    output: str | None = None
    writes: list[Write] = field(default_factory=list)
    chooser: str | None = None

    @property
    def span(self) -> Span:
        """The span of the node's name."""
        return self.node.name.span

    def value(self, key: str) -> A.Value | None:
        """The value of field ``key`` (canonical key), or ``None`` when absent."""
        f = self.fields.get(key)
        return f.value if f else None

    @property
    def blocking(self) -> bool:
        """False only for ``blocking false`` (a detached node)."""
        v = self.value("blocking")
        return not (isinstance(v, A.Bool) and v.value is False)

    @property
    def optional(self) -> bool:
        """True only for ``optional true`` (a join source that may be skipped)."""
        v = self.value("optional")
        return isinstance(v, A.Bool) and v.value is True


@dataclass
class JoinInfo:
    """One join, whatever its spelling: ``send`` (node-level ``join X``),
    ``decl`` (top-level ``join [a, b] -> c``) or ``node`` (``kind join``).

    ``fork``: the node starting its branches (``None`` when it could not be
    determined; then an error was reported). ``sources``: join sources (empty
    for ``send``). ``target``: where control continues (the join node itself
    for ``node``). ``block``: the policy block, for ``send`` and ``decl``.
    """

    id: str
    spelling: str
    target: str
    span: Span
    sources: list[A.Ident] = field(default_factory=list)
    fork: str | None = None
    node: str | None = None
    block: A.JoinBlock | None = None
    policy: A.Policy | None = None
    settings: dict[str, A.Field] = field(default_factory=dict)


@dataclass
class ForkInfo:
    """A fork and its branches. ``roots[i]``: the node branch ``i`` starts at
    (``None`` for an agent branch); ``regions[i]``: nodes branch ``i`` may
    run; ``self_concurrent[i]``: branch ``i`` may run as several copies at
    once (a ``for`` entry, or a target named by several entries);
    ``agent_writes[i]``: the channel an agent branch writes."""

    node: str
    join: JoinInfo | None
    roots: list[str | None] = field(default_factory=list)
    regions: list[set[str]] = field(default_factory=list)
    self_concurrent: list[bool] = field(default_factory=list)
    agent_writes: list[Write | None] = field(default_factory=list)
    entries: list[BranchInfo] = field(default_factory=list)


@dataclass
class GraphInfo:
    """One graph after checking (first definitions win over duplicates)."""

    graph: A.Graph
    name: str
    nodes: dict[str, NodeInfo] = field(default_factory=dict)
    channels: dict[str, A.Channel] = field(default_factory=dict)
    reducers: dict[str, tuple[str, str | None]] = field(default_factory=dict)
    settings: dict[str, A.Field] = field(default_factory=dict)
    start: A.Ident | None = None
    input_block: A.SchemaBlock | None = None
    output_block: A.SchemaBlock | None = None
    allows: dict[str, A.Allow] = field(default_factory=dict)
    edges: list[A.Edge] = field(default_factory=list)
    join_decls: list[A.JoinDecl] = field(default_factory=list)
    joins: list[JoinInfo] = field(default_factory=list)
    succ: dict[str, list[Succ]] = field(default_factory=dict)
    reachable: set[str] = field(default_factory=set)
    forks: list[ForkInfo] = field(default_factory=list)
    in_branch: dict[str, set[str]] = field(default_factory=dict)
    """node -> the ``for`` variables bound there (present = inside a send branch)."""
    quiet: set[str] = field(default_factory=set)
    """Node and channel names whose "unreachable"/"unused" warnings would only
    repeat an error already reported (the "did you mean" target of a typo, a
    join target whose join was rejected...)."""
    opaque_writes: bool = False
    """Some writer's channels are unknown (an unknown or ambiguous agent), so
    "unused channel" warnings are not reliable for this graph."""

    def setting(self, key: str) -> A.Value | None:
        """The value of graph setting ``key`` (``defaults``, ``budget``...), or ``None``."""
        f = self.settings.get(key)
        return f.value if f else None

    def input_fields(self) -> dict[str, A.SchemaField] | None:
        """The ``input { ... }`` fields by name (first wins), or ``None`` without an input block."""
        if self.input_block is None:
            return None
        out: dict[str, A.SchemaField] = {}
        for f in self.input_block.fields:
            out.setdefault(f.name.name, f)
        return out

    def messages_channel(self) -> str | None:
        """The graph's only ``messages`` channel, else ``None``."""
        found = [n for n, (r, _) in self.reducers.items() if r == "messages"]
        return found[0] if len(found) == 1 else None


@dataclass
class ModuleInfo:
    """A checked module: its graphs by name, the registry it was checked
    against (``None``: registry unavailable, names not checked) and whether
    the untrusted policy applied."""

    module: A.Module
    graphs: dict[str, GraphInfo] = field(default_factory=dict)
    registry: Registry | None = None
    untrusted: bool = False
    source: str = ""
