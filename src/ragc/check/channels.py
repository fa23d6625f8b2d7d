"""Channels: reducers and options, each node's output channel, and writes.

Default output channel (``docs/architecture.md``): explicit ``output``; else
the agent's registry ``output`` (subagent nodes and agent send targets);
else the graph's only channel with the ``messages`` reducer; else the result
is not written. Routers have no output. A ``kind join`` node's result (the
branch counts) is not a message, so it is written only to an explicit
``output``; this also makes ``ragc fmt``'s rewrite of a plain join node into
a top-level ``join`` meaning-preserving.

Codes: ``E0110`` unknown reducer, ``E0502`` write to an undeclared channel,
``E0505`` invalid channel option, ``E0506`` channel must be a messages
channel, ``W0501`` unused channel.
"""

from __future__ import annotations

from ragc.check import upstream
from ragc.check.context import Ctx
from ragc.check.model import BranchInfo, GraphInfo, NodeInfo, Write
from ragc.check.names import REGISTRY_CODES, unknown
from ragc.check.values import NOT_LITERAL, as_name, check_range, check_shape, literal
from ragc.diagnostics.model import Applicability, Label, Span, Suggestion
from ragc.diagnostics.suggest import did_you_mean
from ragc.syntax import ast as A

BUILTIN_REDUCERS = ("last", "append", "messages", "merge", "sum", "union", "min", "max")
REDUCER_ALIASES = {"overwrite": "last", "last_value": "last", "topic": "append", "aggregate": "sum", "delta": "sum"}
CHANNEL_OPTIONS = ("default", "max_items")
BUILTIN_CHANNELS = ("errors",)


def canonical_reducer(name: str) -> str | None:
    """``"topic"`` -> ``"append"``; ``None`` for a name that is not built in."""
    name = REDUCER_ALIASES.get(name, name)
    return name if name in BUILTIN_REDUCERS else None


def declare(ctx: Ctx, g: GraphInfo) -> None:
    """Resolve each channel's reducer (built-in or registry ``[reducers.*]``)
    and check its options."""
    for name, ch in g.channels.items():
        written = ch.reducer.name
        canon = canonical_reducer(written)
        if canon is not None:
            g.reducers[name] = (canon, None)
        elif ctx.registry is None or written in ctx.registry.reducers:
            g.reducers[name] = ("custom", written)
        else:
            code, _ = REGISTRY_CODES["reducers"]
            custom = list(ctx.registry.reducers)
            unknown(ctx, code, f"unknown reducer `{written}`", ch.reducer.span, "not a reducer",
                    written, list(BUILTIN_REDUCERS) + list(REDUCER_ALIASES) + custom,
                    notes=("built-in reducers: " + ", ".join(f"`{r}`" for r in BUILTIN_REDUCERS),))
            g.reducers[name] = ("last", None)  # keep checking with a neutral reducer
        upstream.reducer_args(ctx, ch)
        if ch.options is not None:
            _options(ctx, g, name, ch.options)


def _options(ctx: Ctx, g: GraphInfo, name: str, opts: A.ObjectV) -> None:
    seen: set[str] = set()
    reducer = g.reducers[name][0]
    for p in opts.pairs:
        key = p.key_name
        if key not in CHANNEL_OPTIONS:
            unknown(ctx, "E0505", f"unknown channel option `{key}`", p.key.span, "unknown option", key,
                    CHANNEL_OPTIONS, fallback_help="channel options are `default` and `max_items`")
            continue
        if key in seen:
            ctx.bag.error("E0207", f"duplicate channel option `{key}`", p.key.span, "given again here")
            continue
        seen.add(key)
        if key == "default":
            if literal(p.value) is NOT_LITERAL:
                ctx.bag.error("E0505", "a channel default must be a literal value", p.value.span,
                              "not a literal", help="defaults are evaluated before the run; paths are not available")
        elif key == "max_items":
            if reducer not in ("append", "messages"):
                ctx.bag.error("E0505", f"`max_items` needs an `append` or `messages` channel, `{name}` is `{reducer}`",
                              p.key.span, "only bounds list channels",
                              secondary=(Label(g.channels[name].reducer.span, f"reducer `{reducer}`"),))
            elif check_shape(ctx, "max_items", p.value, "int"):
                check_range(ctx, "max_items", p.value, lo=1)


def declared(g: GraphInfo, name: str) -> bool:
    """A declared or built-in channel."""
    return name in g.channels or name in BUILTIN_CHANNELS


def _undeclared(ctx: Ctx, g: GraphInfo, name: str, span: Span, *, agent: str | None = None) -> None:
    """``E0502`` for a write to ``name``; ``agent`` when the channel comes
    from that registry agent's ``output`` (then the span is the agent's name
    and no replacement is suggested: the fix is a channel declaration)."""
    guess = did_you_mean(name, g.channels)
    if guess is not None:
        g.quiet.add(guess)
    suggestions = (Suggestion(f"replace with `{guess}`", span, guess, Applicability.MAYBE_INCORRECT),) \
        if guess and agent is None else ()
    if guess is None:  # no near name: declaring the channel is the fix (`--fix` and `ragc new` apply it)
        suggestions = _declaration(g, name)
    help_ = f"did you mean `{guess}`?" if guess else \
        f"declare it: `channel {name} last` (`append` if several branches write it)"
    notes = (f"the registry agent `{agent}` writes its result to `{name}` (its `output`)",) if agent else ()
    ctx.bag.error("E0502", f"write to undeclared channel `{name}`", span,
                  f"writes to `{name}`" if agent else f"not a channel of graph `{g.name}`",
                  help=help_, suggestions=suggestions, notes=notes)


def _declaration(g: GraphInfo, name: str) -> tuple[Suggestion, ...]:
    """A machine-applicable ``channel NAME last`` on its own line after the
    graph's last channel declaration (else after ``start``), indented like
    it; none when the graph has neither. One suggestion per channel and
    graph: the same edit suggested by two writes is applied once."""
    anchor = max((c.span for c in g.channels.values()), key=lambda s: s.end_offset, default=None)
    if anchor is None and g.start is not None:
        anchor = g.start.span
        indent = max(g.start.span.column - len("start ") - 1, 0)
    elif anchor is not None:
        indent = anchor.column - 1
    else:
        return ()
    at = Span.point(anchor.file, anchor.end_offset, anchor.end_line, anchor.end_column)
    return (Suggestion(f"declare `channel {name} last`", at, "\n" + " " * indent + f"channel {name} last",
                       Applicability.MACHINE_APPLICABLE),)


def resolve_outputs(ctx: Ctx, g: GraphInfo) -> None:
    """Fill each node's ``output`` and ``writes`` and each agent send
    branch's ``output``; report writes to undeclared channels (``E0502``)
    and split-loop channels that are not messages channels (``E0506``)."""
    messages = g.messages_channel()
    for info in g.nodes.values():
        _node_output(ctx, g, info, messages)
        if info.update is not None:
            for p in info.update.pairs:
                ch = p.key_name
                if declared(g, ch):
                    info.writes.append(Write(ch, p.key.span, "update", info.name))
                else:
                    _undeclared(ctx, g, ch, p.key.span)
        for b in info.branches:
            if b.target_kind == "agent":
                _branch_output(ctx, g, info, b, messages)
            elif b.target_kind is None:
                g.opaque_writes = True
    reported: set[str | None] = set()
    for info in g.nodes.values():
        _split_loop(ctx, g, info, reported)


def _agent_output(ctx: Ctx, agent: str) -> str | None:
    if ctx.registry is None:
        return None
    entry = ctx.registry.agents.get(agent)
    return entry.output if entry else None


def _node_output(ctx: Ctx, g: GraphInfo, info: NodeInfo, messages: str | None) -> None:
    if info.kind == "router":
        return
    f = info.fields.get("output")
    if f is not None:
        name = as_name(f.value)
        if name is None:
            return
        if declared(g, name):
            info.output = name
            info.writes.append(Write(name, f.value.span, "output", info.name))
        else:
            _undeclared(ctx, g, name, f.value.span)
        return
    if info.kind == "subagent":
        agent_field = info.fields.get("agent")
        agent = as_name(agent_field.value) if agent_field else None
        if ctx.registry is not None and agent not in ctx.registry.agents:
            g.opaque_writes = True
        out = _agent_output(ctx, agent) if agent else None
        if out is not None:
            assert agent_field is not None
            if declared(g, out):
                info.output = out
                info.writes.append(Write(out, agent_field.value.span, "agent", info.name))
            else:
                _undeclared(ctx, g, out, agent_field.value.span, agent=agent)
            return
    if messages is not None and info.kind != "join":
        info.output = messages
        info.writes.append(Write(messages, info.node.name.span, "default", info.name))


def _branch_output(ctx: Ctx, g: GraphInfo, info: NodeInfo, b: BranchInfo, messages: str | None) -> None:
    out = _agent_output(ctx, b.target)
    if out is None:
        b.output = messages
        return
    if declared(g, out):
        b.output = out
    else:
        _undeclared(ctx, g, out, b.entry.target.span, agent=b.target)


def _split_loop(ctx: Ctx, g: GraphInfo, info: NodeInfo, reported: set[str | None]) -> None:
    """A tool node without ``tool`` (pending calls), and a model node routing
    on ``tool_call``/``final``, need a messages channel as output (reported
    once per channel: the fix is the channel's reducer)."""
    needs = None
    if info.kind == "tool" and "tool" not in info.fields and "args" not in info.fields:
        needs = "runs the pending tool calls of its `output`"
    elif info.kind == "model" and info.routes is not None and any(
            r.label.name in ("tool_call", "final") for r in info.routes.routes):
        needs = "keeps the tool-calling conversation in its `output`"
    if needs is None:
        return
    out = info.output
    if out is not None and g.reducers.get(out, ("", None))[0] == "messages":
        return
    if out is not None and out in reported:
        return
    reported.add(out)
    fed = any(other.routes is not None and any(r.label.name == "tool_call" and r.target.name == info.name
                                                for r in other.routes.routes) for other in g.nodes.values())
    if info.kind == "tool" and not fed:
        # Most tool nodes without `tool` are a single call whose name was forgotten, not the pending-calls
        # form: say what is missing rather than asking for a messages channel.
        ctx.bag.error("E0204", f"`tool` node `{info.name}` needs `tool`", info.node.name.span, "no `tool` in this node",
                      help='add `tool "NAME"` and `args { .. }`; to run the pending tool calls of a model node '
                           "instead, make its `output` a channel with the `messages` reducer")
        return
    f = info.fields.get("output")
    span = f.value.span if f is not None else info.node.name.span
    if out is None:
        msg = f"`{info.name}` needs a `messages` channel as `output`"
        secondary: tuple[Label, ...] = ()
    else:
        reducer = g.reducers.get(out, ("errors", None))[0] if out in g.channels else "append"
        msg = f"`{out}` must use the `messages` reducer, not `{reducer}`"
        secondary = (Label(g.channels[out].reducer.span, f"declared `{reducer}` here"),) if out in g.channels else ()
    ctx.bag.error("E0506", msg, span, f"this node {needs}", secondary=secondary,
                  help="declare a channel with the messages reducer (`channel messages messages`) and use it as "
                       "`output`")


def check_unused(ctx: Ctx, g: GraphInfo, reads: set[str], agent_reads: set[str]) -> None:
    """``W0501`` for a channel that nothing writes or reads (``reads``: channels
    read by paths and templates of the graph; ``agent_reads``: by prompts of
    registry agents the graph runs; output channels count as read)."""
    written: set[str] = set()
    for info in g.nodes.values():
        written.update(w.channel for w in info.writes)
        written.update(b.output for b in info.branches if b.output)
    if g.output_block is not None:
        reads = reads | {f.name.name for f in g.output_block.fields}
    for name, ch in g.channels.items():
        if name in written or name in reads or name in agent_reads or name in g.quiet or g.opaque_writes:
            continue
        ctx.bag.warning("W0501", f"channel `{name}` is never written or read", ch.name.span, "unused channel",
                        help="remove it, or write it with `output` / `command { update }`",
                        suggestions=(Suggestion("remove the declaration", ch.span, "", Applicability.MAYBE_INCORRECT),))
