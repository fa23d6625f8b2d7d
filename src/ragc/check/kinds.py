"""Node kinds and their fields; graph settings blocks.

The kind table (``docs/architecture.md``, "Node kinds and their fields"):
every kind takes the common fields (:data:`COMMON`) plus its own
(:data:`KIND_FIELDS`); :data:`REQUIRED` lists what each kind needs. Each field
value must have the shape of :data:`FIELDS` (see :mod:`ragc.check.values`),
and registry names must exist.

Codes: ``E0201`` unknown kind, ``E0202`` missing kind, ``E0203`` field not
allowed, ``E0204`` missing required field, ``E0205``/``E0206`` shape and
range, ``E0207`` duplicate field, ``E0208`` conflicting fields, ``E0209``
unknown setting in a block, ``E0211`` invalid ``allow``, and the registry
codes ``E0106``..``E0112``.
"""

from __future__ import annotations

from dataclasses import dataclass

from ragc.check import upstream
from ragc.check.context import Ctx
from ragc.check.model import CHOOSERS, GraphInfo, NodeInfo
from ragc.check.names import registry_name, unknown
from ragc.check.values import as_name, check_range, check_shape
from ragc.diagnostics.model import Applicability, Label, Span, Suggestion
from ragc.diagnostics.suggest import did_you_mean
from ragc.kinds import BACKOFF_SCHEDULES
from ragc.kinds import RETRY_ON as _RETRY_ON
from ragc.syntax import ast as A

KINDS = ("model", "agent", "tool", "router", "subagent", "subgraph", "interrupt", "join", "function", "repl")
KIND_ALIASES = {"sub_agent": "subagent", "graph": "subgraph", "fork": "router"}


@dataclass(frozen=True)
class FieldSpec:
    """What a field takes: a value ``shape``, numeric bounds ``lo``/``hi``
    (``positive``: strictly above zero), the registry ``table`` its names
    belong to, the settings ``block`` it opens."""

    shape: str
    lo: float | None = None
    hi: float | None = None
    positive: bool = False
    table: str | None = None
    block: str | None = None


FIELDS: dict[str, FieldSpec] = {
    "kind": FieldSpec("name"),
    "description": FieldSpec("string"),
    "timeout": FieldSpec("duration", positive=True),
    "retry": FieldSpec("object", block="retry"),
    "budget": FieldSpec("object", block="budget"),
    "blocking": FieldSpec("bool"),
    "optional": FieldSpec("bool"),
    "max_visits": FieldSpec("int", lo=1),
    "output": FieldSpec("name"),
    "command": FieldSpec("object", block="command"),
    "next": FieldSpec("names"),
    "max_concurrency": FieldSpec("int", lo=1),
    "model": FieldSpec("registry", table="models"),
    "system": FieldSpec("text"),
    "prompt": FieldSpec("text"),
    "tools": FieldSpec("registries", table="tools"),
    "temperature": FieldSpec("number", lo=0, hi=2),
    "max_tokens": FieldSpec("int", lo=1),
    "max_iterations": FieldSpec("int", lo=1, hi=1000),
    "tool": FieldSpec("registry", table="tools"),
    "args": FieldSpec("mapping"),
    "agent": FieldSpec("registry", table="agents"),
    "input": FieldSpec("mapping"),
    "graph": FieldSpec("registry"),
    "function": FieldSpec("registry", table="functions"),
    "options": FieldSpec("strings"),
    "default": FieldSpec("string"),
    "sources": FieldSpec("names"),
    "tolerate": FieldSpec("int", lo=0),
    "models": FieldSpec("registries", table="models"),
    "agents": FieldSpec("registries", table="agents"),
    "graphs": FieldSpec("registries", table="graphs"),
    "max_turns": FieldSpec("int"),
    "limits": FieldSpec("object"),
    "script": FieldSpec("string"),
    "memory": FieldSpec("names", table="stores"),
    "skills": FieldSpec("names", table="skills"),
}
"""``memory`` and ``skills`` name registry entries, but their names are
checked by :func:`check_extensions` (only memory kinds of ``[stores]``;
skills found in folders too), not by :func:`check_value`'s table lookup."""

COMMON = frozenset({"kind", "description", "timeout", "retry", "budget", "blocking", "optional",
                    "max_visits", "output", "command", "next", "max_concurrency"})

KIND_FIELDS: dict[str, frozenset[str]] = {
    "model": frozenset({"model", "system", "prompt", "tools", "temperature", "max_tokens"}),
    "agent": frozenset({"model", "system", "prompt", "tools", "max_iterations", "temperature", "max_tokens",
                        "memory", "skills"}),
    "tool": frozenset({"tool", "args", "tools"}),
    "router": frozenset({"function"}),
    "subagent": frozenset({"agent", "input", "prompt", "model"}),
    "subgraph": frozenset({"graph", "input"}),
    "interrupt": frozenset({"prompt", "options", "default"}),
    "join": frozenset({"sources", "tolerate"}),
    "function": frozenset({"function", "input"}),
    "repl": frozenset({"model", "system", "prompt", "tools", "models", "agents", "graphs", "max_turns", "limits",
                       "temperature", "max_tokens", "script"}),
}

FIELD_ALIASES: dict[str, dict[str, str]] = {"interrupt": {"question": "prompt", "system": "prompt"}}
"""Lenient field spellings per kind (canonical key on the right)."""

REQUIRED: dict[str, tuple[str, ...]] = {
    "router": ("routes",),
    "subagent": ("agent",),
    "subgraph": ("graph",),
    "interrupt": ("prompt",),
    "join": ("sources",),
    "function": ("function",),
}

SCHEMA_KINDS = ("model", "agent", "subagent")

BLOCK_KEYS: dict[str, dict[str, FieldSpec]] = {
    "retry": {
        "max_attempts": FieldSpec("int", lo=1, hi=100),
        "backoff": FieldSpec("name"),
        "initial": FieldSpec("duration", lo=0),
        "max": FieldSpec("duration", lo=0),
        "jitter": FieldSpec("bool"),
        "on": FieldSpec("strings"),
    },
    "budget": {
        "max_model_calls": FieldSpec("int", lo=0),
        "max_tool_calls": FieldSpec("int", lo=0),
        "max_tokens": FieldSpec("int", lo=0),
        "max_cost_usd": FieldSpec("number", lo=0),
    },
    "defaults": {
        "max_steps": FieldSpec("int", lo=1),
        "max_visits": FieldSpec("int", lo=1),
        "timeout": FieldSpec("duration", positive=True),
        "deadline": FieldSpec("duration", positive=True),
        "max_concurrency": FieldSpec("int", lo=1),
        "max_subgraph_depth": FieldSpec("int", lo=1, hi=64),
        "retry": FieldSpec("object", block="retry"),
    },
    "command": {
        "goto": FieldSpec("name"),
        "update": FieldSpec("object"),
    },
    "join": {
        "tolerate": FieldSpec("int", lo=0),
        "timeout": FieldSpec("duration", positive=True),
    },
}

BACKOFFS = BACKOFF_SCHEDULES
RETRY_ON = _RETRY_ON
"""Error kinds ``retry { on [...] }`` accepts (:data:`ragc.kinds.RETRY_ON`);
what each matches at run time is :data:`ragc.kinds.RETRY_ON_MATCHES`
(``model``: any failed model call, ``network``: ``connect`` or
``stream_cut``, ``any``: every kind but the never-retried ones)."""


# --------------------------------------------------------------------------- blocks


def check_block(ctx: Ctx, block: str, obj: A.ObjectV, where: str) -> dict[str, A.Pair]:
    """Check the keys and values of a settings block (``retry``, ``budget``,
    ``defaults``, ``command``, ``join``); returns the first pair per known
    key. ``where`` names the block in messages (``"retry"``)."""
    specs = BLOCK_KEYS[block]
    seen: dict[str, A.Pair] = {}
    for p in obj.pairs:
        key = p.key_name
        spec = specs.get(key)
        if spec is None and block == "defaults" and key == "checkpoint":
            upstream.checkpoint_policy(ctx, p.key.span, p.value)  # `inherit`/`always` were removed
            continue
        if spec is None:
            unknown(ctx, "E0209", f"unknown setting `{key}` in `{where}`", p.key.span, "unknown setting", key, specs,
                    fallback_help=f"`{where}` takes " + ", ".join(f"`{k}`" for k in specs))
            continue
        if key in seen:
            ctx.bag.error("E0207", f"duplicate setting `{key}` in `{where}`", p.key.span, "given again here",
                          secondary=(Label(seen[key].key.span, "first given here"),))
            continue
        seen[key] = p
        check_value(ctx, key, p.value, spec)
    if block == "retry":
        _check_retry(ctx, seen)
    return seen


def _check_retry(ctx: Ctx, pairs: dict[str, A.Pair]) -> None:
    b = pairs.get("backoff")
    if b is not None:
        name = as_name(b.value)
        if name is not None and name not in BACKOFFS:
            guess = did_you_mean(name, BACKOFFS)
            ctx.bag.error("E0206", f"unknown backoff `{name}`", b.value.span, "not a backoff",
                          help=f"did you mean `{guess}`?" if guess else "use `exponential`, `linear` or `fixed`")
    on = pairs.get("on")
    if on is not None and isinstance(on.value, A.ListV):
        for item in on.value.items:
            name = as_name(item)
            if name is not None and name not in RETRY_ON:
                guess = did_you_mean(name, RETRY_ON)
                ctx.bag.error("E0206", f"unknown error kind `{name}` in `retry.on`", item.span, "not an error kind",
                              help=f"did you mean `{guess}`?" if guess else
                              "error kinds: " + ", ".join(f"`{k}`" for k in RETRY_ON))
    lo, hi = pairs.get("initial"), pairs.get("max")
    if lo and hi and isinstance(lo.value, A.Duration) and isinstance(hi.value, A.Duration) \
            and hi.value.seconds < lo.value.seconds:
        ctx.bag.error("E0206", "`retry.max` is smaller than `retry.initial`", hi.value.span,
                      "the largest delay", secondary=(Label(lo.value.span, "the first delay"),))


def check_value(ctx: Ctx, key: str, v: A.Value, spec: FieldSpec) -> bool:
    """Shape, range, registry name and nested block of one value."""
    if not check_shape(ctx, key, v, spec.shape):
        return False
    ok = True
    if spec.lo is not None or spec.hi is not None:
        ok = check_range(ctx, key, v, lo=spec.lo, hi=spec.hi)
    if spec.positive and isinstance(v, A.Duration) and v.seconds <= 0:
        ctx.bag.error("E0206", f"`{key}` must be positive, found {v.text}", v.span, "must be more than 0")
        ok = False
    if spec.table is not None:
        if spec.shape == "registry":
            ok = registry_name(ctx, spec.table, as_name(v) or "", v) and ok
        elif isinstance(v, A.ListV):
            for item in v.items:
                ok = registry_name(ctx, spec.table, as_name(item) or "", item) and ok
    if spec.block is not None and isinstance(v, A.ObjectV):
        check_block(ctx, spec.block, v, key)
    return ok


# --------------------------------------------------------------------------- nodes


def _dup(ctx: Ctx, what: str, first_span: Span, span: Span) -> None:
    ctx.bag.error("E0207", f"duplicate `{what}`", span, "given again here",
                  secondary=(Label(first_span, "first given here"),), help=f"keep one `{what}`")


def check_node(ctx: Ctx, g: GraphInfo, info: NodeInfo, local_graphs: set[str]) -> None:
    """Collect a node's items into ``info`` and check kind and fields."""
    node = info.node
    kind_field = None
    for item in node.items:
        if isinstance(item, A.Field) and item.key.name == "kind":
            kind_field = item
            break
    kind = None
    if kind_field is None:
        ctx.bag.error("E0202", f"node `{info.name}` has no `kind`", node.name.span, "no `kind` in this node",
                      help="add a `kind`: " + ", ".join(f"`{k}`" for k in KINDS))
    else:
        raw = as_name(kind_field.value)
        if raw is None:
            check_shape(ctx, "kind", kind_field.value, "name")
        elif raw == "repl_agent":
            upstream.repl_agent(ctx, node, kind_field)  # what the rewrite to `kind repl` left
        elif KIND_ALIASES.get(raw, raw) in KINDS:
            kind = KIND_ALIASES.get(raw, raw)
        else:
            guess = did_you_mean(raw, list(KINDS) + list(KIND_ALIASES))
            canon = KIND_ALIASES.get(guess, guess) if guess else None
            ctx.bag.error("E0201", f"unknown node kind `{raw}`", kind_field.value.span, "unknown kind",
                          help=f"did you mean `{canon}`?" if canon else
                          "kinds: " + ", ".join(f"`{k}`" for k in KINDS),
                          suggestions=(Suggestion(f"replace with `{canon}`", kind_field.value.span, canon,
                                                  Applicability.MAYBE_INCORRECT),) if canon else ())
    info.kind = kind
    info.chooser = CHOOSERS.get(kind) if kind else None

    aliases = FIELD_ALIASES.get(kind or "", {})
    allowed = (COMMON | KIND_FIELDS[kind]) - ({"output"} if kind == "router" else set()) if kind else None
    first_item: dict[str, object] = {}
    repl = kind_field is not None and as_name(kind_field.value) == "repl_agent"
    for item in node.items:
        if isinstance(item, A.Field):
            written = item.key.name
            key = aliases.get(written, written)
            if written == "steering":
                upstream.steering(ctx, item)
                continue
            if repl and written == "script":
                continue  # part of the `repl_agent` reported above
            if written == "input" and isinstance(item.value, A.Str):
                upstream.input_mapping(ctx, item.value, f"node `{info.name}`")
                continue
            if key in info.fields:
                prev = info.fields[key]
                _dup(ctx, key, prev.key.span, item.key.span)
                continue
            if written != "kind" and not _field_allowed(ctx, info, kind, allowed, item, written, key):
                continue
            info.fields[key] = item
            if key != "kind":
                spec = FIELDS[key]
                if key == "graph":
                    if check_shape(ctx, key, item.value, "registry"):
                        name = as_name(item.value) or ""
                        if name not in local_graphs:
                            registry_name(ctx, "graphs", name, item.value, extra=local_graphs)
                elif key in EXTENSION_FIELDS:
                    if check_shape(ctx, key, item.value, spec.shape):
                        check_extensions(ctx, info, key, item.value)
                else:
                    check_value(ctx, key, item.value, spec)
            continue
        if isinstance(item, A.Send):
            for entry in item.entries:
                if entry.mapping is not None:
                    upstream.input_mapping(ctx, entry.mapping, f"`send {entry.target.name}`")
        slot = {A.Routes: "routes", A.Send: "send", A.JoinRef: "join", A.Policy: "policy",
                A.OutputSchema: "schema"}.get(type(item))
        if slot is not None:
            if slot in first_item:
                _dup(ctx, slot, first_item[slot].span, _head_span(item))  # type: ignore[attr-defined]
                continue
            first_item[slot] = item
            if kind is not None and not _item_allowed(ctx, kind, slot, item):
                continue
            setattr(info, slot, item)
        elif isinstance(item, A.Allow):
            if item.what.name != "tools":
                ctx.bag.error("E0211", f"a node cannot `allow {item.what.name}`", item.what.span,
                              "only `allow tools` is allowed on a node",
                              help="narrow models and agents with the graph's `allow`")
                continue
            if check_shape(ctx, "allow tools", item.value, "registries"):
                for x in item.value.items:  # type: ignore[union-attr]
                    registry_name(ctx, "tools", as_name(x) or "", x)
            info.allows.append(item)

    if kind is None:
        return
    for req in REQUIRED.get(kind, ()):
        present = info.routes is not None if req == "routes" else req in info.fields
        if kind == "router" and req == "routes" and _routes_without_call(info):
            # a router that only forwards (`next [a, b]`, `send [...]`, `command { goto }`): a fan-out or a
            # fork point that calls nothing, so no node has to do useless work to start branches
            present = True
        if not present:
            example = {"routes": "routes { label -> NODE }` (or, to only fork, `next [a, b]` or `send [...]`", "agent": 'agent "NAME"', "graph": 'graph "NAME"',
                       "prompt": 'prompt "QUESTION"', "sources": "sources [a, b]",
                       "function": 'function "NAME"'}[req]
            ctx.bag.error("E0204", f"`{kind}` node `{info.name}` needs `{req}`", node.name.span,
                          f"no `{req}` in this node", help=f"add `{example}`")
    if kind == "subagent" and "agent" in info.fields and as_name(info.fields["agent"].value):
        from ragc.check.mcp_tools import agent_tools

        agent_tools(ctx, info.fields["agent"].value, as_name(info.fields["agent"].value) or "")
    if kind == "tool":
        if "tool" in info.fields and as_name(info.fields["tool"].value):
            from ragc.check.mcp_tools import tool_args

            args_field = info.fields.get("args")
            tool_args(ctx, info.fields["tool"].value, args_field.value if args_field is not None else None,
                      as_name(info.fields["tool"].value) or "")
        if "args" in info.fields and "tool" not in info.fields:
            ctx.bag.error("E0208", "`args` without `tool`", info.fields["args"].key.span, "arguments for no tool",
                          help='name the tool with `tool "NAME"`, or remove `args` to run the pending tool '
                               "calls of the `output` messages channel")
        if "tools" in info.fields and "tool" in info.fields:
            ctx.bag.error("E0208", "`tools` together with `tool`", info.fields["tools"].key.span,
                          "the allowlist of pending tool calls",
                          secondary=(Label(info.fields["tool"].key.span, "a single call"),),
                          help="`tools` limits the pending-calls form (a tool node without `tool`); remove one")
    if kind == "router" and "function" in info.fields:
        info.chooser = "function"
    if kind == "repl":
        from ragc.check.repl import check_repl_node

        check_repl_node(ctx, info, kind_field)
    if kind in ("model", "agent", "repl") and "model" not in info.fields and ctx.registry is not None \
            and "default" not in ctx.registry.models:
        assert kind_field is not None
        ctx.bag.error("E0106", "unknown model `default`", kind_field.value.span,
                      f"`{kind}` nodes use the model `default` unless they name one",
                      help='add `[models.default]` to the registry or set `model "NAME"` on the node')


EXTENSION_FIELDS = ("memory", "skills")
"""Node fields naming registry extensions (``docs/memory.md``, ``docs/registry.md`` "Skills")."""


def check_extensions(ctx: Ctx, info: NodeInfo, key: str, v: A.Value) -> None:
    """``E0874`` (with "did you mean" and a replacement suggestion) for each
    name of a node's ``memory`` (``key == "memory"``: a ``[stores.NAME]`` of
    a memory kind) or ``skills`` (``[skills.NAME]`` or a discovered
    ``skills/NAME/SKILL.md``) that the registry lacks, at the name's span;
    ``E0207`` for a name given twice. No-op without a registry.

    Args:
        info: the node (its name is in the messages).
        key: ``"memory"`` or ``"skills"``.
        v: the field's value, a name or a list of names (shape already checked).
    """
    items = v.items if isinstance(v, A.ListV) else (v,)
    seen: dict[str, A.Value] = {}
    for item in items:
        name = as_name(item) or ""
        if name in seen:
            ctx.bag.error("E0207", f"`{name}` is given twice in `{key}`", item.span, "given again here",
                          secondary=(Label(seen[name].span, "first given here"),))
            continue
        seen[name] = item
    reg = ctx.registry
    if reg is None:
        return
    for name, item in seen.items():
        if key == "memory":
            candidates = sorted(n for n, s in reg.stores.items() if s.is_memory)
            if name in candidates:
                continue
            journal = name in reg.stores
            unknown(ctx, "E0874", f"unknown memory store `{name}` in the memory of node `{info.name}`"
                    if not journal else f"store `{name}` is a run journal, not a memory store (node `{info.name}`)",
                    item.span, "not a memory store of the registry", name, candidates, quote=isinstance(item, A.Str),
                    fallback_help='add [stores.NAME] with kind = "episodic", "semantic", "working" or '
                                  '"memory_files" to the registry')
        else:
            if name in reg.skills:
                continue
            unknown(ctx, "E0874", f"unknown skill `{name}` in the skills of node `{info.name}`", item.span,
                    "not a skill of the registry", name, sorted(reg.skills), quote=isinstance(item, A.Str),
                    fallback_help="add skills/NAME/SKILL.md (next to the registry) or [skills.NAME]")


def _routes_without_call(info: NodeInfo) -> bool:
    """Whether a router node routes by another form than ``routes``/``function``:
    ``next``, ``send`` (with its ``join``) or ``command { goto }``."""
    return "function" not in info.fields and (info.send is not None or "next" in info.fields
                                              or "command" in info.fields)


def _field_allowed(ctx: Ctx, info: NodeInfo, kind: str | None, allowed: frozenset[str] | None,
                   item: A.Field, written: str, key: str) -> bool:
    if key in FIELDS and (allowed is None or key in allowed):
        return True
    if key in FIELDS or key in ("routes", "schema", "policy"):
        owners = [k for k in KINDS if key in KIND_FIELDS[k]]
        if key == "output" and kind == "router":
            help_ = "a router only chooses a route; its label is not written to state"
        elif owners:
            help_ = f"`{key}` is a field of " + ", ".join(f"`{k}`" for k in owners) + " nodes"
        else:
            help_ = None
        ctx.bag.error("E0203", f"`{key}` is not allowed on `{kind}` nodes", item.key.span,
                      "not a field of this kind", help=help_,
                      suggestions=(Suggestion("remove the field", item.span, "", Applicability.MAYBE_INCORRECT),))
        return False
    candidates = sorted(allowed) if allowed is not None else sorted(FIELDS)
    candidates += list(FIELD_ALIASES.get(kind or "", {}))
    unknown(ctx, "E0203", f"unknown field `{written}`" + (f" for `{kind}` nodes" if kind else ""),
            item.key.span, "unknown field", written,
            candidates + ["routes", "schema", "send", "join"] if kind else candidates)
    return False


def _item_allowed(ctx: Ctx, kind: str, slot: str, item: A.OutputSchema | A.Policy | A.Routes | A.Send | A.JoinRef
                  ) -> bool:
    """Whether a non-field item (``schema``, ``policy``...) suits ``kind``;
    reports ``E0203`` otherwise."""
    if slot == "schema" and kind not in SCHEMA_KINDS:
        ctx.bag.error("E0203", f"`schema` is not allowed on `{kind}` nodes", _head_span(item),
                      "not a field of this kind",
                      help="structured output (`schema`) is for `model`, `agent` and `subagent` nodes")
        return False
    if slot == "policy" and kind != "join":
        ctx.bag.error("E0203", f"`policy` is not allowed on `{kind}` nodes", item.name.span,
                      "not a field of this kind",
                      help="a join policy goes in the `join X { policy ... }` block after a `send`, "
                           "or on a `kind join` node")
        return False
    return True


def _head_span(item: A.NodeItem) -> Span:
    """The span of an item's keyword (``schema``, ``send``...) when the item
    spans several lines, else the whole item (keeps labels short)."""
    s = item.span
    if s.end_line == s.line:
        return s
    return Span(s.file, s.offset, s.offset + 6, s.line, s.column, s.line, s.column + 6)


# --------------------------------------------------------------------------- graph settings


def check_graph_settings(ctx: Ctx, g: GraphInfo) -> None:
    """``defaults``, ``budget``, ``metadata``, ``description``, ``store`` and
    the graph's ``allow`` lists."""
    for key, f in g.settings.items():
        v = f.value
        if key in ("defaults", "budget"):
            if check_shape(ctx, key, v, "object"):
                check_block(ctx, key, v, key)  # type: ignore[arg-type]
        elif key == "metadata":
            if check_shape(ctx, key, v, "object"):
                check_shape(ctx, key, v, "literal")
        elif key == "description":
            check_shape(ctx, key, v, "string")
        elif key == "store":
            if check_shape(ctx, key, v, "registry"):
                registry_name(ctx, "stores", as_name(v) or "", v)
    for what, allow in g.allows.items():
        table = {"tools": "tools", "models": "models", "agents": "agents"}.get(what)
        if table is None:
            guess = did_you_mean(what, ("tools", "models", "agents"))
            ctx.bag.error("E0211", f"cannot `allow {what}`", allow.what.span, "not a capability",
                          help=f"did you mean `{guess}`?" if guess else "a graph may allow `tools`, `models` and "
                                                                         "`agents`")
            continue
        if check_shape(ctx, f"allow {what}", allow.value, "registries"):
            for x in allow.value.items:  # type: ignore[union-attr]
                registry_name(ctx, table, as_name(x) or "", x)
