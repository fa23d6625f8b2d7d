"""The compiled graph: a serializable IR between the checker and the runtime.

The front end lowers a checked AST (plus the registry) into a
:class:`ProgramIR`; ``ragc compile`` prints it as JSON; the runtime executes
it. Everything the runtime needs is resolved here: lenient spellings are gone,
default output channels are filled in, joins of all three spellings are one
:class:`JoinIR`, and each node's routing is one :class:`RoutingIR`.

Hashing: :meth:`ProgramIR.compute_hash` is the SHA-256 of the canonical JSON
(sorted keys, no whitespace) of the program *without* source spans, file
names or the hash itself. Reformatting a file or moving it keeps the hash;
any change of meaning changes it. The run journal stores it, and resuming a
run whose graph hash changed is refused unless forced.

Execution semantics are specified in ``docs/runtime.md``; the field docs
below say what each field means for the runtime.
"""

from __future__ import annotations

import hashlib
import json
from typing import Annotated, Any, Literal, Union

from pydantic import BaseModel, ConfigDict, Field, model_serializer

IR_FORMAT_VERSION = 1

END = "END"
"""The pseudo-node that ends a branch (or the run, in the root frame)."""


class _IR(BaseModel):
    model_config = ConfigDict(extra="forbid")


class SpanIR(_IR):
    """Where an IR element came from (for runtime errors): 1-based lines and
    columns, end exclusive. Excluded from the hash."""

    file: str
    line: int
    column: int
    end_line: int
    end_column: int


# --------------------------------------------------------------------------- expressions
#
# Values are literals, pure paths and templates; conditions add comparisons
# and boolean operators. Path roots: `input` (run input), `state` (channels,
# as this branch sees them), `result` (the node's own result; in `update`,
# route conditions and send payloads), `payload` (a fan-out branch's payload),
# the `for` variable (default `item`), and `error` (in error routes).


class LitExpr(_IR):
    """A literal JSON value (string, number, boolean, null, list or object of literals)."""

    type: Literal["lit"] = "lit"
    value: Any


class PathExpr(_IR):
    """``root.seg[0]...``: ``segments`` are attribute names (str) or indexes
    (int, negative from the end; a quoted key is a str)."""

    type: Literal["path"] = "path"
    root: str
    segments: list[str | int] = Field(default_factory=list)


class TemplateExpr(_IR):
    """A prompt template (Jinja2 syntax, rendered in a sandbox). The context
    has the path roots above as variables."""

    type: Literal["template"] = "template"
    source: str


class ListExpr(_IR):
    """A list whose items are expressions (at least one is not a literal)."""

    type: Literal["list"] = "list"
    items: list["Expr"]


class ObjectExpr(_IR):
    """An object; key order is preserved."""

    type: Literal["object"] = "object"
    fields: dict[str, "Expr"]


class CallExpr(_IR):
    """A pure built-in: ``len(x)``."""

    type: Literal["call"] = "call"
    func: Literal["len"]
    args: list["Expr"]


class CompareExpr(_IR):
    """``left OP right``; ``in``/``not_in`` test membership of ``left`` in ``right``."""

    type: Literal["compare"] = "compare"
    op: Literal["==", "!=", "<", "<=", ">", ">=", "in", "not_in"]
    left: "Expr"
    right: "Expr"


class BoolExpr(_IR):
    """``and``/``or`` over two or more operands, evaluated left to right with short-circuit."""

    type: Literal["bool"] = "bool"
    op: Literal["and", "or"]
    operands: list["Expr"]


class NotExpr(_IR):
    """``not operand``."""

    type: Literal["not"] = "not"
    operand: "Expr"


Expr = Annotated[
    Union[LitExpr, PathExpr, TemplateExpr, ListExpr, ObjectExpr, CallExpr, CompareExpr, BoolExpr, NotExpr],
    Field(discriminator="type"),
]


# --------------------------------------------------------------------------- policies


class RetryIR(_IR):
    """Retry of a failed node attempt. Delay before attempt k+1 (k >= 1):
    ``exponential``: ``initial_s * 2**(k-1)``; ``linear``: ``initial_s * k``;
    ``fixed``: ``initial_s``; capped at ``max_s``; with ``jitter`` the delay
    is drawn uniformly from [0, delay] ("full jitter", AWS Architecture Blog,
    *Exponential Backoff and Jitter*, 2015). ``on`` lists error kinds to
    retry (``timeout``, ``rate_limit``, ``server``, ``tool``, ``model``,
    ``any``...); empty means every retryable error."""

    max_attempts: int = Field(1, ge=1)
    backoff: Literal["exponential", "linear", "fixed"] = "exponential"
    initial_s: float = Field(1.0, ge=0)
    max_s: float = Field(60.0, ge=0)
    jitter: bool = True
    on: list[str] = Field(default_factory=list)


class BudgetIR(_IR):
    """Upper bounds; ``None`` is unbounded. On a node they count that node's
    activations over the whole run; on a graph they count the whole run
    (subgraphs and sub-agents included)."""

    max_model_calls: int | None = None
    max_tool_calls: int | None = None
    max_tokens: int | None = None
    max_cost_usd: float | None = None


class LimitsIR(_IR):
    """Run limits. ``max_steps``: node activations per run (every branch
    counts). ``max_visits``: default per-node activations per run (loop
    bound). ``timeout_s``: default per-attempt node timeout. ``deadline_s``:
    wall time of the whole run. ``max_concurrency``: default bound of
    branches in flight per fan-out (``None``: unbounded).
    ``max_subgraph_depth``: nesting of subgraph runs."""

    max_steps: int = 1000
    max_visits: int | None = None
    timeout_s: float | None = None
    deadline_s: float | None = None
    max_concurrency: int | None = None
    max_subgraph_depth: int = 8


class AllowIR(_IR):
    """Capabilities a graph narrowed to (``None``: what the registry policy grants)."""

    tools: list[str] | None = None
    models: list[str] | None = None
    agents: list[str] | None = None


# --------------------------------------------------------------------------- routing


class RouteIR(_IR):
    """``label -> target [when condition]``; ``target`` may be ``END``."""

    label: str
    target: str
    when: Expr | None = None
    span: SpanIR | None = None


class ForEachIR(_IR):
    """``for VAR in SOURCE``: one branch per element of SOURCE (a list)."""

    var: str = "item"
    source: Expr


class BranchIR(_IR):
    """One ``send`` entry. ``target_kind`` says whether ``target`` is a node of
    this graph (the branch runs from it until it ends) or a registry agent
    (the branch runs that agent with ``payload`` as its input and writes its
    result to ``output``)."""

    target: str
    target_kind: Literal["node", "agent"]
    payload: ObjectExpr | None = None
    foreach: ForEachIR | None = None
    output: str | None = None
    span: SpanIR | None = None


class RoutingIR(_IR):
    """How control leaves a node (exactly one form; see ``docs/runtime.md``).

    * ``end``: the branch ends here (no routing, or ``next END``).
    * ``next``: ``targets`` run next; more than one target forks static
      parallel branches. ``join`` names the :class:`JoinIR` (a top-level
      ``join`` or a ``kind join`` node) that collects them, if any.
      ``command { goto X }`` and top-level ``edge``s lower to this form.
    * ``routes``: one route is chosen; ``chooser`` says by whom:
      ``condition`` (router conditions, first true wins), ``function``
      (router ``function``), ``model`` (the model picks a label through
      structured output; ``tool_call``/``final`` are decided by whether the
      reply has tool calls), ``human`` (interrupt answer), ``outcome``
      (``ok``/``error`` of subagent, subgraph, tool, function and join nodes).
    * ``fanout``: after the node's own work, one branch per ``branches``
      entry (expanded by ``foreach``); ``join`` collects them and names the
      continuation (``None``: the branches' ends are the frame's end).
    """

    kind: Literal["end", "next", "routes", "fanout"]
    targets: list[str] = Field(default_factory=list)
    routes: list[RouteIR] = Field(default_factory=list)
    chooser: Literal["condition", "function", "model", "human", "outcome"] | None = None
    function: str | None = None
    branches: list[BranchIR] = Field(default_factory=list)
    max_concurrency: int | None = None
    join: str | None = None


class JoinIR(_IR):
    """A barrier. The three spellings (node-level ``join X`` after ``send``,
    top-level ``join [a, b] -> X``, ``kind join`` with ``sources``) all
    lower to this.

    * ``fork``: the node whose routing starts the branches.
    * ``sources``: for static forks, the nodes whose completion is a branch's
      arrival (empty for a fan-out: each branch arrives when it ends).
    * ``target``: where control continues after the join fires (``END``
      ends the frame). For a ``kind join`` node, ``node`` names it and
      ``target`` equals it: the join node itself runs next and routes on.
    * ``policy``: ``all`` (every non-skipped branch), ``any`` (first success;
      ``first`` is an alias), ``quorum`` (``quorum`` successes).
    * ``tolerate``: failures allowed before the join fails (default 0 for
      ``all``; for ``any``/``quorum`` the join fails only once success has
      become impossible, unless ``tolerate`` is given).
    * ``timeout_s``: from the fork; then pending branches are cancelled and
      count as failures, and the policy decides.
    * ``optional``: sources a conditional route may skip; a skipped branch
      neither succeeds nor fails.
    """

    id: str
    fork: str
    sources: list[str] = Field(default_factory=list)
    target: str
    node: str | None = None
    policy: Literal["all", "any", "quorum"] = "all"
    quorum: int | None = Field(None, ge=1)
    tolerate: int | None = Field(None, ge=0)
    timeout_s: float | None = Field(None, gt=0)
    optional: list[str] = Field(default_factory=list)
    span: SpanIR | None = None


# --------------------------------------------------------------------------- nodes and graphs

NodeKind = Literal["model", "agent", "tool", "router", "subagent", "subgraph", "interrupt", "join", "function",
                   "repl"]


class ReplIR(_IR):
    """What a ``kind repl`` node adds (``docs/repl.md``, "A `repl` node").

    * ``models``, ``agents``: registry names its cells may call with
      ``model_query`` / ``agent_query`` (the node's ``tools`` are what
      ``tool_call`` may call); the node's own ``model`` writes the cells.
    * ``graphs``: registry graphs its cells may ``graph_run`` (compiled
      into :attr:`ProgramIR.graphs` as ``registry.NAME``).
    * ``max_turns``: model turns per activation (each turn: one model call,
      then its cell).
    * ``limits``: :class:`ragc.repl.policy.ReplPolicy` limits as keyword
      arguments (``timeout_s`` in seconds), over the node's session.
    * ``script``: a ``.ragsh`` file (relative to the ``.rag`` file) run as
      the first cell, before the first model turn (upstream's ``script``).
    """

    models: list[str] = Field(default_factory=list)
    agents: list[str] = Field(default_factory=list)
    graphs: list[str] = Field(default_factory=list)
    max_turns: int = Field(8, ge=1, le=100)
    limits: dict[str, int | float] = Field(default_factory=dict)
    script: str | None = None


class NodeIR(_IR):
    """One node. Only the fields of its ``kind`` are set (the checker
    enforces required and allowed fields per kind).

    * model: ``model``, ``system``, ``prompt``, ``output_schema`` (JSON
      schema of a structured reply), ``tools`` (split model/tool loop),
      ``params`` (temperature, max_tokens...).
    * agent: ``model``, ``system``, ``prompt``, ``tools``, ``max_iterations``.
    * tool: ``tool`` and ``args``; without ``tool``, runs the pending tool
      calls of the last assistant message in ``output`` (a messages channel).
    * router: ``routing.routes`` with conditions, or ``routing.function``.
    * subagent: ``agent`` (registry), ``input`` mapping, optional ``prompt``,
      ``model`` (replaces the agent's registry model), ``output_schema``.
    * subgraph: ``graph`` (key into :attr:`ProgramIR.graphs`), ``input``.
    * interrupt: ``prompt`` (the question), ``options``, ``timeout_s``
      (answer deadline), ``default`` (answer used after the deadline).
    * join: a ``kind join`` node (see :class:`JoinIR`).
    * function: ``function`` (registry ``[functions.*]``), ``input``.
    * repl: ``model``, ``system``, ``prompt``, ``tools``, ``params`` and
      :attr:`repl` (:class:`ReplIR`). ``repl`` is left out of the dump when
      unset, so the IR (and hash) of every other kind is as before it existed.
    * ``memory``, ``skills`` (agent nodes): registry memory stores recalled
      into the task and offered as ``memory_save``/``memory_search``, and
      skills whose instructions and tools the agent gets -- what a registry
      agent's settings of those names do (``docs/memory.md``). ``None``
      (unset) is left out of the dump, so the IR and hash of a node without
      them are as before they existed.

    ``output``: the channel the node's result is written to (resolved by the
    lowering: explicit ``output``, else the agent's registry ``output``, else
    the graph's channel with the ``messages`` reducer if there is one, else
    ``None`` = not written). ``update``: ``command { update {...} }`` writes,
    evaluated after the node ran (``result`` is bound).
    """

    name: str
    kind: NodeKind
    span: SpanIR | None = None
    description: str | None = None
    model: str | None = None
    system: Expr | None = None
    prompt: Expr | None = None
    tools: list[str] = Field(default_factory=list)
    output_schema: dict[str, Any] | None = None
    params: dict[str, Any] = Field(default_factory=dict)
    max_iterations: int | None = None
    tool: str | None = None
    args: Expr | None = None
    agent: str | None = None
    input: Expr | None = None
    graph: str | None = None
    function: str | None = None
    options: list[str] = Field(default_factory=list)
    default: Any = None
    output: str | None = None
    update: dict[str, Expr] = Field(default_factory=dict)
    timeout_s: float | None = None
    retry: RetryIR | None = None
    budget: BudgetIR | None = None
    allow_tools: list[str] | None = None
    blocking: bool = True
    optional: bool = False
    max_visits: int | None = None
    routing: RoutingIR = Field(default_factory=lambda: RoutingIR(kind="end"))
    repl: ReplIR | None = None
    memory: list[str] | None = None
    skills: list[str] | None = None

    @model_serializer(mode="wrap")
    def _without_unset_repl(self, handler: Any) -> dict[str, Any]:
        data = handler(self)
        if isinstance(data, dict):
            for key in ("repl", "memory", "skills"):
                if getattr(self, key) is None:
                    data.pop(key, None)
        return data


Reducer = Literal["last", "append", "messages", "merge", "sum", "union", "min", "max", "custom"]


class ChannelIR(_IR):
    """A state channel. ``reducer`` is canonical (aliases resolved);
    ``custom`` names a registry ``[reducers.*]`` entry. ``default`` is the
    initial value (``None`` means the reducer's identity: ``[]`` for
    append/messages/union, ``{}`` for merge, ``0`` for sum, ``None`` for
    last/min/max). ``max_items`` (append and messages only) keeps the newest
    n items, dropping the oldest. ``type`` is a JSON schema of one value, if
    declared."""

    name: str
    reducer: Reducer
    custom: str | None = None
    default: Any = None
    max_items: int | None = Field(None, ge=1)
    type: dict[str, Any] | None = None
    span: SpanIR | None = None


class GraphIR(_IR):
    """One graph. ``input_schema`` is a JSON schema (object) of the run
    input, defaults included; ``output`` lists the channels returned as the
    run's output (``None``: no output block, the whole state is returned).
    ``store`` names the registry ``[stores.*]`` entry that journals its runs
    (``None``: the default journal)."""

    name: str
    span: SpanIR | None = None
    description: str | None = None
    input_schema: dict[str, Any] = Field(default_factory=lambda: {"type": "object", "properties": {}})
    output: list[str] | None = None
    output_schema: dict[str, Any] | None = None
    channels: dict[str, ChannelIR] = Field(default_factory=dict)
    nodes: dict[str, NodeIR] = Field(default_factory=dict)
    joins: dict[str, JoinIR] = Field(default_factory=dict)
    start: str
    limits: LimitsIR = Field(default_factory=LimitsIR)
    retry: RetryIR | None = None
    budget: BudgetIR | None = None
    allow: AllowIR = Field(default_factory=AllowIR)
    store: str | None = None
    metadata: dict[str, Any] = Field(default_factory=dict)


class RegistryRefs(_IR):
    """Every registry name the program uses (for capability diffs and policy)."""

    models: list[str] = Field(default_factory=list)
    tools: list[str] = Field(default_factory=list)
    agents: list[str] = Field(default_factory=list)
    reducers: list[str] = Field(default_factory=list)
    functions: list[str] = Field(default_factory=list)
    graphs: list[str] = Field(default_factory=list)
    stores: list[str] = Field(default_factory=list)


class ProgramIR(_IR):
    """A compiled ``.rag`` file: its graphs (and registry graphs it uses as
    subgraphs, keyed ``registry.NAME``), the entry graph, and the hash."""

    format_version: int = IR_FORMAT_VERSION
    source: str | None = None
    entry: str
    graphs: dict[str, GraphIR]
    refs: RegistryRefs = Field(default_factory=RegistryRefs)
    hash: str = ""

    @property
    def entry_graph(self) -> GraphIR:
        """The graph a run starts in (``graphs[entry]``)."""
        return self.graphs[self.entry]

    def semantic_dict(self) -> dict[str, Any]:
        """The hashed content: no spans, no source path, no hash.

        Only the ``span`` *fields* of IR models are dropped: a key named
        ``span`` inside user data (an object literal, a payload, a channel
        default, a schema property) is meaning and stays hashed."""
        data = self.model_dump(mode="json", exclude={"hash", "source"})
        return _drop_spans(self, data)

    def compute_hash(self) -> str:
        """``sha256:<hex>`` of the canonical JSON of :meth:`semantic_dict`."""
        blob = json.dumps(self.semantic_dict(), sort_keys=True, separators=(",", ":"), ensure_ascii=False)
        return "sha256:" + hashlib.sha256(blob.encode("utf-8")).hexdigest()

    def with_hash(self) -> "ProgramIR":
        """A copy with :attr:`hash` set to :meth:`compute_hash`."""
        return self.model_copy(update={"hash": self.compute_hash()})


def _drop_spans(obj: Any, data: Any) -> Any:
    """``data`` (the JSON dump of ``obj``) without the ``span`` fields of the
    IR models in ``obj``; walks the model and its dump side by side so that
    user data is never mistaken for a span."""
    if isinstance(obj, BaseModel) and isinstance(data, dict):
        fields = type(obj).model_fields
        return {k: _drop_spans(getattr(obj, k, None), v) for k, v in data.items()
                if not (k == "span" and k in fields)}
    if isinstance(obj, dict) and isinstance(data, dict):
        return {k: _drop_spans(obj.get(k), v) for k, v in data.items()}
    if isinstance(obj, (list, tuple)) and isinstance(data, list) and len(obj) == len(data):
        return [_drop_spans(o, v) for o, v in zip(obj, data)]
    return data


for _m in (ListExpr, ObjectExpr, CallExpr, CompareExpr, BoolExpr, NotExpr, RouteIR, ForEachIR,
           BranchIR, RoutingIR, NodeIR, GraphIR, ProgramIR):
    _m.model_rebuild()
