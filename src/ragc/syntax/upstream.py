"""Upstream's spellings, mapped to the ragc construct with the same meaning.

ragc's language comes from TinyAgents (formerly RustAgents), whose parser and
compiler lived in ``src/language/`` of ``tinyhumansai/tinyagents`` up to
commit ``bbcd0a6``. Files written for that implementation use spellings ragc
never had. :func:`desugar` rewrites each one to the ragc form that means what
upstream's compiler made of it; the checker checks the result (so an upstream
file is checked like its canonical form) and :func:`ragc.syntax.canon.canonicalize`
applies it first (so ``ragc fmt`` prints the canonical form and both lower to
the same IR). Rewritten items keep the span of what was written; an inserted
``kind model`` gets the node name's span.

==============================================  ==========================================
upstream (meaning, from its ``compiler.rs``)    ragc
==============================================  ==========================================
node without ``kind`` (``NodeSpec.kind``        ``kind model``, when every field fits a
defaults to ``"model"``)                        model node (else ``E0202`` stays)
``kind tool_executor``                          ``kind tool`` (runs the pending tool calls)
``kind repl_agent`` (a harness-backed REPL      ``kind repl``: the CodeAct loop of
agent; ``script "S"`` a fixed prologue)         ``.ragsh`` cells; ``script "S"`` is kept: the
                                                file ``S`` (``.ragsh`` added without a
                                                suffix) runs as the first cell
``kind agent`` routing by ``tool_call`` /       ``kind model``: the split model-tools loop
``final`` (a model-tools loop over two nodes)   of ``docs/language.md``
``kind router`` + ``model "f"`` (the router     ``function "f"``; without ``routes`` the
function, ``classify_reference``)               node is ``kind function``
``kind subgraph`` + ``model "g"`` (legacy       ``graph "g"``
subgraph reference)
``timeout "30s"``                               ``timeout 30s`` (``timeout 30`` stays ``E0205``
                                                with the fix ``30s``: its unit is unknown)
``defaults { recursion_limit N }``              ``defaults { max_steps N }``
``defaults { backoff X }``                      ``defaults { retry { backoff X } }``
``checkpoint inherit|always`` (graph level or   removed: ragc journals every node
in ``defaults``)                                completion, which is ``always``
``interrupt manual`` (graph level)              removed: ragc interrupts always persist
                                                the run and stop, which is ``manual``
``channel c aggregate "f"`` (an aggregate       ``channel c f`` (the custom reducer ``f``)
reducer named ``f``)
``join [a, b] -> c`` where a source has         that ``next c`` is removed (the join
``next c``                                      routes its sources to ``c``)
``channel c barrier N`` (upstream's            ``channel c append`` and ``metadata {
``Barrier``: writes merged into a list of       upstream: { barriers: { c: N } } }`` (the
arrivals, ``N`` read only by a host query)      count kept as data)
``metadata { ... }`` on a node (free data)      the graph's ``metadata { nodes: { NODE:
                                                { ... } } }`` (ragc keeps metadata on graphs)
a loop graph (``tool_executor``, or ``agent``   the ``messages`` channel the split loop
with ``tool_call``) without a ``messages``      writes (``channel messages append``
reducer channel (upstream's whole state held    becomes ``messages``; none called
the transcript)                                 ``messages``: one is added)
``kind interrupt`` without ``prompt`` (a bare   ``prompt "Continue after `NODE`?"``
pause point)
``command { update { k v } }`` or ``output      ``channel k last`` (upstream's whole state
{ k type }`` on a key no channel declares       had every key; an update replaced its value)
``join [a] -> b`` (one source, which routes     the join removed, ``a`` gets ``next b``
nowhere else)                                   (upstream's join of one source is an edge)
``join [a, b] -> c``, ``c`` a ``kind join``     the top-level join removed (the node keeps
node with ``sources [a, b]``                    the barrier; the same one stated twice)
``sends [ send a send b ]``, a ``kind join``    the sender's ``send [a, b]`` + ``join T``;
node ``J`` with ``sources [a, b]``, ``next T``  ``J`` and the sources' ``next J`` removed
``defaults { k v }``, ``k`` no ragc setting     ``metadata { upstream: { defaults: { k: v },
nor close to one; graph ``interrupt X``         interrupt: "X" } }`` (upstream handed both to
(not ``manual``) without interrupt nodes        its host as data; its runtime read neither)
==============================================  ==========================================

The last six fill in what ragc checks but upstream left to its host (or
restate it), so they apply only to a graph that uses some other upstream spelling (one the other
rewrites changed): a graph written ragc's way keeps ``E0204`` (an interrupt
must ask something), ``E0502`` (a write to an undeclared channel), ``E0705``
(an output that is no channel), ``E0406`` (a join that merges no fork),
``E0209`` (an unknown setting), ``E0401`` (a join source routed by two
joins) and ``E0291``; a ragc ``kind join`` node after a ``send`` keeps ``E0406``.

What has no ragc meaning is left as written for the checker to report
precisely: other checkpoint and interrupt policies (``E0290``, ``E0291``),
``kind repl_agent`` whose ``script`` is not one string (``E0292``), other
reducer arguments (``E0293``; ``barrier N`` is mapped), named input mappings (``E0294``), ``steering``
(``E0295``). ``docs/upstream.md``
lists every construct with its status.
"""

from __future__ import annotations

import re

from ragc.syntax import ast as A
from ragc.syntax.strings import duration_seconds

KIND_RENAMES = {"tool_executor": "tool"}
LOOP_LABELS = frozenset({"tool_call", "final"})
CHECKPOINT_HONOURED = frozenset({"inherit", "always"})
"""Checkpoint policies ragc meets by journaling every node completion."""
INTERRUPT_HONOURED = frozenset({"manual"})
"""Interrupt policies ragc meets: an interrupt persists the run and stops."""
DURATION_KEYS = frozenset({"timeout", "deadline", "initial", "max"})

# Fields a node without `kind` may have and still be upstream's default model
# node (ragc's model fields, the common ones, and upstream's own).
MODEL_NODE_FIELDS = frozenset({"description", "timeout", "retry", "budget", "blocking", "optional", "max_visits",
                               "output", "command", "next", "max_concurrency", "model", "system", "prompt",
                               "tools", "temperature", "max_tokens", "metadata", "checkpoint"})
_DURATION_TEXT = re.compile(r"[0-9]+(\.[0-9]+)?(ms|s|m|h)\Z")


def desugar(module: A.Module) -> A.Module:
    """``module`` with upstream's spellings replaced (see the module docstring).

    Args:
        module: a parsed module.

    Returns:
        The same object when nothing was rewritten (so callers may compare
        with ``is``), else a new module with the comments and span kept.
    """
    graphs = tuple(_graph(g) for g in module.graphs)
    if all(a is b for a, b in zip(graphs, module.graphs)):
        return module
    return A.Module(graphs, module.comments, module.span)


# --------------------------------------------------------------------------- values


def _word(v) -> str | None:
    if isinstance(v, A.Path) and not v.segments:
        return v.root.name
    return None


def _path(name: str, span) -> A.Path:
    return A.Path(A.Ident(name, span), (), span)


def _point(span):
    """An empty span where ``span`` starts: the place of an inserted item.
    The formatter places comments by item spans, so an inserted item must
    sit where it is inserted (its names keep a span worth pointing at)."""
    return type(span)(span.file, span.offset, span.offset, span.line, span.column, span.line, span.column)


def _end_point(span):
    """An empty span just before the last character of ``span`` (its ``}``)."""
    return type(span)(span.file, span.end_offset - 1, span.end_offset - 1, span.end_line,
                      max(1, span.end_column - 1), span.end_line, max(1, span.end_column - 1))


def _duration(v):
    """``"30s"`` -> ``30s``; anything else unchanged. A bare number (``30``)
    stays an error with a machine-applicable fix (``E0205``): upstream passed
    the literal to its host unconverted, so its unit is not known."""
    if isinstance(v, A.Str) and not v.triple and _DURATION_TEXT.match(v.value):
        return A.Duration(duration_seconds(v.value), v.value, v.span)
    return v


def _settings(obj: A.ObjectV) -> A.ObjectV:
    """Durations inside a settings block (``retry { initial 1 }``)."""
    pairs = []
    changed = False
    for p in obj.pairs:
        value = p.value
        if isinstance(p.key, A.Ident) and p.key.name in DURATION_KEYS:
            value = _duration(value)
        if value is not p.value:
            changed = True
            p = A.Pair(p.key, value, p.colon, p.span)
        pairs.append(p)
    return A.ObjectV(tuple(pairs), obj.span) if changed else obj


# --------------------------------------------------------------------------- nodes


def _field(f: A.Field, key: str | None = None, value=None) -> A.Field:
    return A.Field(A.Ident(key, f.key.span) if key else f.key, f.value if value is None else value, f.colon, f.span)


def _node(node: A.Node, join_targets: dict[str, set[str]]) -> A.Node:
    fields = [i for i in node.items if isinstance(i, A.Field)]
    keys = {f.key.name for f in fields}
    kind_field = next((f for f in fields if f.key.name == "kind"), None)
    kind = _word(kind_field.value) if kind_field is not None else None
    routes = next((i for i in node.items if isinstance(i, A.Routes)), None)
    labels = {r.label.name for r in routes.routes} if routes is not None else set()

    new_kind = kind
    if kind is None and kind_field is None and keys <= MODEL_NODE_FIELDS:
        new_kind = "model"
    elif kind in KIND_RENAMES:
        new_kind = KIND_RENAMES[kind]
    elif kind == "repl_agent" and all(isinstance(f.value, A.Str) and not f.value.is_template
                                      for f in fields if f.key.name == "script"):
        new_kind = "repl"
    elif kind == "agent" and labels & LOOP_LABELS and "max_iterations" not in keys:
        new_kind = "model"
    elif kind == "router" and "model" in keys and "function" not in keys and routes is None:
        new_kind = "function"
    rename: dict[str, str] = {}
    if kind == "router" and "model" in keys and "function" not in keys:
        rename["model"] = "function"
    if kind in ("subgraph", "graph") and "model" in keys and "graph" not in keys:
        rename["model"] = "graph"
    drop_next = join_targets.get(node.name.name, set())

    items: list = []
    changed = False
    if new_kind != kind and kind_field is None:
        span = node.name.span
        at = _point(node.items[0].span) if node.items else _end_point(node.span)
        items.append(A.Field(A.Ident("kind", span), _path(new_kind, span), False, at))
        changed = True
    for item in node.items:
        if not isinstance(item, A.Field):
            items.append(item)
            continue
        key = item.key.name
        new = item
        if item is kind_field and new_kind != kind:
            new = _field(item, value=_path(new_kind, item.value.span))
        elif key in rename:
            new = _field(item, key=rename[key])
        elif key == "timeout":
            value = _duration(item.value)
            if value is not item.value:
                new = _field(item, value=value)
        elif key == "retry" and isinstance(item.value, A.ObjectV):
            value = _settings(item.value)
            if value is not item.value:
                new = _field(item, value=value)
        elif key == "next" and _word(item.value) in drop_next:
            changed = True
            continue
        if new is not item:
            changed = True
        items.append(new)
    return A.Node(node.name, tuple(items), node.span) if changed else node


# --------------------------------------------------------------------------- graphs


def _defaults(f: A.Field) -> A.Field:
    """``defaults { recursion_limit backoff checkpoint timeout }`` in ragc's terms."""
    if not isinstance(f.value, A.ObjectV):
        return f
    pairs: list[A.Pair] = []
    backoff: list[A.Pair] = []
    changed = False
    for p in f.value.pairs:
        key = p.key.name if isinstance(p.key, A.Ident) else None
        if key == "recursion_limit":
            p = A.Pair(A.Ident("max_steps", p.key.span), p.value, p.colon, p.span)
            changed = True
        elif key == "checkpoint" and _word(p.value) in CHECKPOINT_HONOURED:
            changed = True
            continue
        elif key == "backoff":
            backoff.append(p)
            changed = True
            continue
        elif key in DURATION_KEYS:
            value = _duration(p.value)
            if value is not p.value:
                p = A.Pair(p.key, value, p.colon, p.span)
                changed = True
        elif key == "retry" and isinstance(p.value, A.ObjectV):
            value = _settings(p.value)
            if value is not p.value:
                p = A.Pair(p.key, value, p.colon, p.span)
                changed = True
        pairs.append(p)
    if backoff:
        retry_at = next((i for i, p in enumerate(pairs) if isinstance(p.key, A.Ident) and p.key.name == "retry"
                         and isinstance(p.value, A.ObjectV)), None)
        if retry_at is None:
            b = backoff[0]
            pairs.append(A.Pair(A.Ident("retry", b.key.span), A.ObjectV(tuple(backoff), b.span), False, b.span))
        else:
            retry = pairs[retry_at]
            has = any(isinstance(q.key, A.Ident) and q.key.name == "backoff" for q in retry.value.pairs)
            inner = retry.value.pairs + (() if has else tuple(backoff))
            pairs[retry_at] = A.Pair(retry.key, A.ObjectV(inner, retry.value.span), retry.colon, retry.span)
    if not changed:
        return f
    return A.Field(f.key, A.ObjectV(tuple(pairs), f.value.span), f.colon, f.span)


ROUTING_FIELDS = frozenset({"next", "command"})


def _single_joins(g: A.Graph) -> dict[str, A.JoinDecl]:
    """Top-level joins of one source (``join [a] -> b``, no block) whose
    source routes nowhere else: source name -> join. Upstream's join waited
    for all its sources and then ran the target, so with one source it is
    the edge ``a -> b`` (ragc's joins merge a fork, ``E0406`` otherwise);
    :func:`_graph` drops the join and gives the source ``next b``."""
    nodes = {i.name.name: i for i in g.items if isinstance(i, A.Node)}
    edges = {i.source.name for i in g.items if isinstance(i, A.Edge)}
    joins = [i for i in g.items if isinstance(i, A.JoinDecl)]
    fed = [s.name for j in joins for s in j.sources]
    out: dict[str, A.JoinDecl] = {}
    for j in joins:
        if len(j.sources) != 1 or j.block is not None:
            continue
        src = j.sources[0].name
        node = nodes.get(src)
        if node is None or src in edges or fed.count(src) != 1:
            continue
        routing = [i for i in node.items if isinstance(i, (A.Routes, A.Send, A.JoinRef))
                   or (isinstance(i, A.Field) and i.key.name in ROUTING_FIELDS)]
        if all(isinstance(i, A.Field) and i.key.name == "next" and _word(i.value) == j.target.name for i in routing):
            out[src] = j
    return out


def _join_targets(g: A.Graph, single: dict[str, A.JoinDecl]) -> dict[str, set[str]]:
    """Source node -> targets of the top-level joins it feeds (its ``next``
    to one of them is upstream's way of saying where the join goes); the
    one-source joins of ``single`` are left out (they become that ``next``)."""
    out: dict[str, set[str]] = {}
    for item in g.items:
        if isinstance(item, A.JoinDecl) and item not in single.values():
            for s in item.sources:
                out.setdefault(s.name, set()).add(item.target.name)
    return out


def _uses_upstream_loop(g: A.Graph) -> bool:
    """Whether ``g`` spells the model-tools loop upstream's way (a
    ``tool_executor`` node, or an ``agent`` node routing by ``tool_call``)."""
    for item in g.items:
        if not isinstance(item, A.Node):
            continue
        kind = next((_word(f.value) for f in item.items if isinstance(f, A.Field) and f.key.name == "kind"), None)
        if kind == "tool_executor":
            return True
        routes = next((i for i in item.items if isinstance(i, A.Routes)), None)
        if kind == "agent" and routes is not None and any(r.label.name in LOOP_LABELS for r in routes.routes):
            return True
    return False


def _messages_channel(g: A.Graph, items: list) -> bool:
    """Give an upstream loop graph the ``messages`` channel ragc's split loop
    writes to (upstream kept the transcript in its whole-state graph):
    ``channel messages append`` becomes ``messages``; without any channel
    called ``messages`` one is added before the first node. ``True`` when
    ``items`` changed."""
    channels = [i for i in items if isinstance(i, A.Channel)]
    if any(c.reducer.name == "messages" for c in channels):
        return False
    named = next((c for c in channels if c.name.name == "messages"), None)
    if named is not None:
        if named.reducer.name != "append" or named.options is not None:
            return False
        at = items.index(named)
        items[at] = A.Channel(named.name, A.Ident("messages", named.reducer.span), None, named.span)
        return True
    at = next((i for i, x in enumerate(items) if isinstance(x, A.Node)), len(items))
    span = g.name.span
    where = _point(items[at].span) if at < len(items) else _end_point(g.span)
    items.insert(at, A.Channel(A.Ident("messages", span), A.Ident("messages", span), None, where))
    return True


def _node_metadata(items: list) -> bool:
    """Move upstream's node ``metadata { ... }`` into the graph's
    ``metadata { nodes: { NODE: { ... } } }`` (free data, kept in the IR;
    ragc has metadata on graphs only). Left alone when the graph's metadata
    is not an object or already has a ``nodes`` key. ``True`` when changed."""
    moved: list[A.Pair] = []
    for i, item in enumerate(items):
        if not isinstance(item, A.Node):
            continue
        meta = [f for f in item.items if isinstance(f, A.Field) and f.key.name == "metadata"
                and isinstance(f.value, A.ObjectV)]
        if len(meta) != 1:
            continue
        moved.append(A.Pair(A.Ident(item.name.name, item.name.span), _data(meta[0].value), True, meta[0].span))
        items[i] = A.Node(item.name, tuple(x for x in item.items if x is not meta[0]), item.span)
    if not moved:
        return False
    first = moved[0].span
    _add_metadata(items, A.Pair(A.Ident("nodes", first), A.ObjectV(tuple(moved), first), True, first))
    return True


def _add_metadata(items: list, pair: A.Pair) -> None:
    """Add ``pair`` to the graph's ``metadata`` object (inserted before the
    first node or channel when the graph has none). Raises :class:`_Keep`
    when the graph's metadata is not an object or already has the key."""
    graph_meta = next((i for i, x in enumerate(items) if isinstance(x, A.Field) and x.key.name == "metadata"), None)
    first = pair.span
    if graph_meta is None:
        at = next((i for i, x in enumerate(items) if isinstance(x, (A.Node, A.Channel))), len(items))
        where = _point(items[at].span) if at < len(items) else first
        items.insert(at, A.Field(A.Ident("metadata", first), A.ObjectV((pair,), where), False, where))
        return
    f = items[graph_meta]
    if not isinstance(f.value, A.ObjectV) or any(p.key_name == pair.key_name for p in f.value.pairs):
        raise _Keep
    items[graph_meta] = A.Field(f.key, A.ObjectV(f.value.pairs + (pair,), f.value.span), f.colon, f.span)


def _as_data(v):
    """A value as free data: a bare word (upstream's ``mode fast``) is the
    string ``"fast"``; settings blocks get ``:``."""
    word = _word(v)
    if word is not None:
        return A.Str(word, False, v.span)
    if isinstance(v, A.ObjectV):
        return _data(v)
    return v


def _host_data(items: list) -> bool:
    """Keep what upstream handed its host uninterpreted and ragc has no
    setting for as data: ``defaults`` keys that are no ragc setting and not
    close to one (a typo stays ``E0209`` with "did you mean"), and a graph
    ``interrupt`` policy other than ``manual`` in a graph without interrupt
    nodes (where no policy can change what a run does; with interrupt nodes
    it stays ``E0291``). Both move to the graph's ``metadata { upstream: {
    defaults: { ... }, interrupt: "..." } }``. ``True`` when changed."""
    from ragc.diagnostics.suggest import did_you_mean

    moved: list[A.Pair] = []
    known = DEFAULTS_KEYS | UPSTREAM_DEFAULTS_KEYS
    for i, item in enumerate(items):
        if not (isinstance(item, A.Field) and item.key.name == "defaults" and isinstance(item.value, A.ObjectV)):
            continue
        host = [p for p in item.value.pairs if isinstance(p.key, A.Ident) and p.key.name not in known
                and did_you_mean(p.key.name, known) is None]
        if not host:
            continue
        keep = tuple(p for p in item.value.pairs if p not in host)
        items[i] = None if not keep else A.Field(item.key, A.ObjectV(keep, item.value.span), item.colon, item.span)
        first = host[0].span
        data = A.ObjectV(tuple(A.Pair(p.key, _as_data(p.value), True, p.span) for p in host), first)
        moved.append(A.Pair(A.Ident("defaults", item.key.span), data, True, first))
    barriers = []
    for i, item in enumerate(items):
        if _barrier_count(item) is not None:
            count = item.args[0]
            barriers.append(A.Pair(A.Ident(item.name.name, item.name.span), count, True, count.span))
            items[i] = A.Channel(item.name, A.Ident(BARRIER_REDUCER, item.reducer.span), item.options, item.span)
    if barriers:
        first = barriers[0].span
        moved.append(A.Pair(A.Ident("barriers", first), A.ObjectV(tuple(barriers), first), True, first))
    has_interrupts = any(isinstance(x, A.Node) and any(isinstance(f, A.Field) and f.key.name == "kind"
                                                       and _word(f.value) == "interrupt" for f in x.items)
                         for x in items if x is not None)
    for i, item in enumerate(items):
        if isinstance(item, A.Field) and item.key.name == "interrupt" and not has_interrupts \
                and _word(item.value) is not None and _word(item.value) not in INTERRUPT_HONOURED:
            items[i] = None
            moved.append(A.Pair(A.Ident("interrupt", item.key.span), _as_data(item.value), True, item.span))
    items[:] = [x for x in items if x is not None]
    if not moved:
        return False
    first = moved[0].span
    _add_metadata(items, A.Pair(A.Ident("upstream", first), A.ObjectV(tuple(moved), first), True, first))
    return True


BARRIER_REDUCER = "append"
"""The reducer of upstream's ``channel c barrier N``: its ``Barrier`` channel
(``src/graph/channel/mod.rs``) merged every write into a list of arrivals."""


def _barrier_count(item) -> A.Int | None:
    """The ``N`` of ``channel c barrier N`` (one non-negative integer, no
    options), else ``None``."""
    if isinstance(item, A.Channel) and item.reducer.name == "barrier" and len(item.args) == 1 \
            and isinstance(item.args[0], A.Int) and item.args[0].value >= 0 and item.options is None:
        return item.args[0]
    return None


INTERRUPT_PROMPT = "Continue after `{node}`?"
"""The question of an upstream interrupt node without ``prompt`` (upstream's
interrupt was a bare pause point; ragc asks a person something)."""
PROMPT_KEYS = frozenset({"prompt", "question", "system"})
"""``prompt`` and its aliases on an ``interrupt`` node (``check.kinds.FIELD_ALIASES``)."""
UPDATE_REDUCER = "last"
"""The reducer of a channel declared for an upstream ``command { update }``:
upstream's whole-state update replaced the key's value."""
BUILTIN_CHANNELS = ("errors",)
"""Channels every graph has (``ragc.check.channels.BUILTIN_CHANNELS``; the
syntax layer does not import the checker)."""
DEFAULTS_KEYS = frozenset({"max_steps", "max_visits", "timeout", "deadline", "max_concurrency",
                           "max_subgraph_depth", "retry"})
"""ragc's ``defaults`` settings (``ragc.check.kinds.BLOCK_KEYS["defaults"]``)."""
UPSTREAM_DEFAULTS_KEYS = frozenset({"recursion_limit", "backoff", "checkpoint"})
"""Upstream ``defaults`` keys :func:`_defaults` maps (or reports, ``checkpoint``)."""
_IDENT = re.compile(r"[A-Za-z_][A-Za-z0-9_]*\Z")


def _interrupt_prompts(items: list) -> bool:
    """Give each ``kind interrupt`` node without ``prompt`` (or an alias) the
    prompt ``Continue after `NODE`?``, inserted after its ``kind``. ``True``
    when ``items`` changed."""
    changed = False
    for i, item in enumerate(items):
        if not isinstance(item, A.Node):
            continue
        fields = [f for f in item.items if isinstance(f, A.Field)]
        kind_field = next((f for f in fields if f.key.name == "kind"), None)
        if kind_field is None or _word(kind_field.value) != "interrupt" or any(f.key.name in PROMPT_KEYS
                                                                              for f in fields):
            continue
        after = item.items.index(kind_field) + 1
        at = _point(item.items[after].span) if after < len(item.items) else _end_point(item.span)
        span = item.name.span
        prompt = A.Field(A.Ident("prompt", span), A.Str(INTERRUPT_PROMPT.format(node=item.name.name), False, span),
                         False, at)
        items[i] = A.Node(item.name, item.items[:after] + (prompt,) + item.items[after:], item.span)
        changed = True
    return changed


def _update_channels(g: A.Graph, items: list) -> bool:
    """Declare ``channel KEY last`` for each key that an ``output { KEY type }``
    field names or a node's ``command { update { KEY ... } }`` writes and no
    channel declares (upstream's whole state had every key, an update
    replaced its value, and the output was read from it; ragc's run state is
    its declared channels), before the first node. The channel's name keeps
    the span of the first place that names it. ``True`` when ``items``
    changed."""
    declared = {c.name.name for c in items if isinstance(c, A.Channel)} | set(BUILTIN_CHANNELS)
    new: dict[str, A.Ident] = {}
    for item in items:
        if isinstance(item, A.SchemaBlock) and item.which == "output":
            for f in item.fields:
                if f.name.name not in declared and f.name.name not in new:
                    new[f.name.name] = A.Ident(f.name.name, f.name.span)
        if not isinstance(item, A.Node):
            continue
        for f in item.items:
            if not (isinstance(f, A.Field) and f.key.name == "command" and isinstance(f.value, A.ObjectV)):
                continue
            update = f.value.get("update")
            if update is None or not isinstance(update.value, A.ObjectV):
                continue
            for p in update.value.pairs:
                key = p.key_name
                if key and _IDENT.match(key) and key not in declared and key not in new:
                    new[key] = A.Ident(key, p.key.span)
    if not new:
        return False
    at = next((i for i, x in enumerate(items) if isinstance(x, A.Node)), len(items))
    where = _point(items[at].span) if at < len(items) else _end_point(g.span)
    for name in reversed(list(new.values())):
        items.insert(at, A.Channel(name, A.Ident(UPDATE_REDUCER, name.span), None, where))
    return True


class _Keep(Exception):
    """A rewrite that cannot be done without a clash: keep the graph as written."""


def _data(obj: A.ObjectV) -> A.ObjectV:
    """Upstream wrote metadata as settings (``owner "x"``); as data it is ``owner: "x"``."""
    return A.ObjectV(tuple(A.Pair(p.key, _data(p.value) if isinstance(p.value, A.ObjectV) else p.value, True, p.span)
                           for p in obj.pairs), obj.span)


def _graph(g: A.Graph) -> A.Graph:
    """``g`` rewritten; the one-source joins (:func:`_single_joins`) and the
    joins stated twice (:func:`_joins_stated_twice`) only in a graph written
    upstream's way (a ragc graph keeps ``E0406`` and ``E0401``)."""
    out = _graph_pass(g, {})
    if out is g:
        return g
    single = _single_joins(g)
    twice = _joins_stated_twice(g)
    fork = _send_joins(g, twice)
    return _graph_pass(g, single, twice, fork) if single or twice or fork else out


def _joins_stated_twice(g: A.Graph) -> list[A.JoinDecl]:
    """Top-level joins (no block) whose target is a ``kind join`` node with
    the same ``sources``: upstream's ``JoinSpec`` ("``target`` resumes once
    every source has arrived") restating the join node's own barrier.
    :func:`_graph_pass` drops them (the node keeps the barrier)."""
    out = []
    for j in g.items:
        if not isinstance(j, A.JoinDecl) or j.block is not None:
            continue
        node = next((i for i in g.items if isinstance(i, A.Node) and i.name.name == j.target.name), None)
        if node is None:
            continue
        fields = {f.key.name: f for f in node.items if isinstance(f, A.Field)}
        kind, sources = fields.get("kind"), fields.get("sources")
        if kind is None or _word(kind.value) != "join" or sources is None \
                or not isinstance(sources.value, A.ListV):
            continue
        names = [_word(v) for v in sources.value.items]
        if None not in names and set(names) == {s.name for s in j.sources} and len(names) == len(j.sources):
            out.append(j)
    return out


def _references(item) -> list[str]:
    """The node names a node refers to (``next``, ``routes``, ``command {
    goto }``, ``send`` targets, ``sources``, its ``join``)."""
    out: list[str] = []
    for i in item.items:
        if isinstance(i, A.Field) and i.key.name == "next":
            out += [_word(v) for v in (i.value.items if isinstance(i.value, A.ListV) else (i.value,))]
        elif isinstance(i, A.Field) and i.key.name == "sources" and isinstance(i.value, A.ListV):
            out += [_word(v) for v in i.value.items]
        elif isinstance(i, A.Field) and i.key.name == "command" and isinstance(i.value, A.ObjectV):
            goto = i.value.get("goto")
            out.append(_word(goto.value) if goto is not None else None)
        elif isinstance(i, A.Routes):
            out += [r.target.name for r in i.routes]
        elif isinstance(i, A.Send):
            out += [e.target.name for e in i.entries]
        elif isinstance(i, A.JoinRef):
            out.append(i.target.name)
    return [x for x in out if x is not None]


def _send_joins(g: A.Graph, twice: list[A.JoinDecl]) -> dict[str, tuple[str, A.Ident, tuple[str, ...]]]:
    """``kind join`` nodes that join a ``sends`` fork: join node -> (the
    sending node, the join's ``next`` target, its sources). Upstream's
    ``sends [ send a send b ]`` started the branches and a ``kind join``
    node with ``sources [a, b]`` (each source ``next J``) waited for them
    (``NodeSpec::join_sources``); ragc joins a send fork on the sending node,
    ``send [a, b]`` + ``join T``. Only a join node with nothing but ``kind``,
    ``sources`` and ``next T``, not ``start``, that nothing but its sources'
    ``next J`` (and a top-level join restating it) refers to."""
    nodes = {i.name.name: i for i in g.items if isinstance(i, A.Node)}
    start = next((_word(i.value) for i in g.items if isinstance(i, A.Field) and i.key.name == "start"), None)
    edges = [i for i in g.items if isinstance(i, A.Edge)]
    out: dict[str, tuple[str, A.Ident, tuple[str, ...]]] = {}
    for name, node in nodes.items():
        fields = {f.key.name: f for f in node.items if isinstance(f, A.Field)}
        if name == start or len(fields) != len(node.items) or set(fields) != {"kind", "sources", "next"} \
                or _word(fields["kind"].value) != "join" or not isinstance(fields["sources"].value, A.ListV):
            continue
        sources = tuple(_word(v) for v in fields["sources"].value.items)
        target = fields["next"].value
        if None in sources or len(set(sources)) != len(sources) or _word(target) is None \
                or _word(target) == name or any(s not in nodes for s in sources):
            continue
        senders = [n for n in nodes.values() if any(isinstance(i, A.Send) for i in n.items)
                   and {e.target.name for i in n.items if isinstance(i, A.Send) for e in i.entries} == set(sources)]
        if len(senders) != 1:
            continue
        sender = senders[0]
        send = next(i for i in sender.items if isinstance(i, A.Send))
        if any(e.loop is not None for e in send.entries) or len(send.entries) != len(sources) \
                or any(isinstance(i, A.JoinRef) for i in sender.items):
            continue
        refs = [(n, r) for n, x in nodes.items() for r in _references(x) if r == name]
        if any(n not in sources for n, _ in refs) or len(refs) != len(sources) \
                or any(e.source.name == name or e.target.name == name for e in edges) \
                or any(isinstance(j, A.JoinDecl) and j not in twice
                       and (j.target.name == name or name in {x.name for x in j.sources}) for j in g.items):
            continue
        if not all(_references(nodes[s]) == [name] and nodes[s].field("next") is not None for s in sources):
            continue
        out[name] = (sender.name.name, A.Ident(_word(target), target.span), sources)
    return out


def _after(span):
    """An empty span just after ``span``."""
    return type(span)(span.file, span.end_offset, span.end_offset, span.end_line, span.end_column,
                      span.end_line, span.end_column)


def _join_send_fork(items: list, fork: dict[str, tuple[str, A.Ident, tuple[str, ...]]]) -> None:
    """Rewrite each ``kind join`` node of :func:`_send_joins` as the sending
    node's ``join T``: the join node removed, its sources' ``next J`` removed."""
    senders = {sender: target for sender, target, _ in fork.values()}
    drop = {s: j for j, (_, _, sources) in fork.items() for s in sources}
    out = []
    for item in items:
        if isinstance(item, A.Node) and item.name.name in fork:
            continue
        if isinstance(item, A.Node) and item.name.name in drop:
            item = A.Node(item.name, tuple(i for i in item.items if not (isinstance(i, A.Field)
                          and i.key.name == "next" and _word(i.value) == drop[item.name.name])), item.span)
        if isinstance(item, A.Node) and item.name.name in senders:
            new = []
            for i in item.items:
                new.append(i)
                if isinstance(i, A.Send):
                    target = senders[item.name.name]
                    new.append(A.JoinRef(target, None, _after(i.span)))
            item = A.Node(item.name, tuple(new), item.span)
        out.append(item)
    items[:] = out


def _graph_pass(g: A.Graph, single: dict[str, A.JoinDecl], twice: list[A.JoinDecl] = (),
                fork: dict | None = None) -> A.Graph:
    join_targets = _join_targets(g, {**single, **{f"\0{i}": j for i, j in enumerate(twice)}})
    items: list = []
    changed = _uses_upstream_loop(g)
    for item in g.items:
        new = item
        if isinstance(item, A.JoinDecl) and item in single.values():
            changed = True
            continue
        if isinstance(item, A.Node):
            new = _node(item, join_targets)
            j = single.get(item.name.name)
            if j is not None and not any(isinstance(f, A.Field) and f.key.name == "next" for f in new.items):
                nxt = A.Field(A.Ident("next", j.span), _path(j.target.name, j.target.span), False,
                              _end_point(new.span))
                new = A.Node(new.name, new.items + (nxt,), new.span)
        elif isinstance(item, A.Field):
            key = item.key.name
            if key == "checkpoint" and _word(item.value) in CHECKPOINT_HONOURED:
                changed = True
                continue
            if key == "interrupt" and _word(item.value) in INTERRUPT_HONOURED:
                changed = True
                continue
            if key == "defaults":
                new = _defaults(item)
        elif isinstance(item, A.JoinDecl) and item in twice:
            changed = True
            continue
        elif _barrier_count(item) is not None:
            changed = True  # rewritten by _host_data, with the count kept as data
        elif isinstance(item, A.Channel) and item.reducer.name == "aggregate" and len(item.args) == 1 \
                and isinstance(item.args[0], A.Str) and re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", item.args[0].value):
            arg = item.args[0]
            new = A.Channel(item.name, A.Ident(arg.value, arg.span), item.options, item.span)
        if new is not item:
            changed = True
        items.append(new)
    if fork:
        _join_send_fork(items, fork)
    if changed and _uses_upstream_loop(g):
        _messages_channel(g, items)
    if changed:
        # what ragc checks but upstream left to its host, filled in only for a
        # graph written upstream's way (a canonical ragc file keeps E0204/E0502)
        _interrupt_prompts(items)
        _update_channels(g, items)
    before = list(items)
    try:
        changed = _node_metadata(items) or changed
    except _Keep:
        items = before
    if changed:
        before = list(items)
        try:
            _host_data(items)
        except _Keep:
            items = before
    return A.Graph(g.name, tuple(items), g.span) if changed else g
