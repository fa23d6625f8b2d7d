"""Expressions: the names a path or template may start with, and what it
reads.

Path roots (``docs/architecture.md`` and :mod:`ragc.ir.model`): ``input``
(run input), ``state`` (channels), ``result`` (the node's own result: in
``command { update }``, route conditions, send payloads and ``for``
sources), ``payload`` and the ``for`` variable (inside a fan-out branch),
and ``error`` (the failure, after an ``error`` route). ``len(x)`` is the one
built-in call.

Codes: ``E0114`` unknown name, ``E0115`` name not bound here, ``E0503``
read of an undeclared channel, ``E0706`` unknown input field.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from ragc.check.channels import declared
from ragc.check.context import Ctx
from ragc.check.model import GraphInfo, NodeInfo
from ragc.check.templates import TemplateRef, environment, template_refs
from ragc.diagnostics.model import Applicability, Span, Suggestion
from ragc.diagnostics.suggest import did_you_mean
from ragc.syntax import ast as A

ROOTS = ("input", "state", "result", "payload", "error")
BUILTINS = ("len",)


@dataclass
class Scope:
    """The roots bound where an expression is evaluated."""

    result: bool = False
    payload: bool = False
    loop_vars: frozenset[str] = frozenset()

    def bound(self) -> set[str]:
        """The path roots readable in this scope (``input``, ``state``,
        ``error``, the ``for`` variables, and ``result``/``payload`` when set)."""
        out = {"input", "state", "error"} | set(self.loop_vars)
        if self.result:
            out.add("result")
        if self.payload:
            out.add("payload")
        return out


@dataclass
class Reads:
    """What a graph's expressions read: channels and input fields."""

    channels: set[str] = field(default_factory=set)


def check_graph(ctx: Ctx, g: GraphInfo) -> Reads:
    """Check every expression of every node of ``g``."""
    reads = Reads()
    for info in g.nodes.values():
        _node(ctx, g, info, reads)
    return reads


def _node(ctx: Ctx, g: GraphInfo, info: NodeInfo, reads: Reads) -> None:
    in_branch = info.name in g.in_branch
    loop_vars = frozenset(g.in_branch.get(info.name, ()))
    base = Scope(payload=in_branch, loop_vars=loop_vars)
    after = Scope(result=True, payload=in_branch, loop_vars=loop_vars)
    for key in ("system", "prompt", "args", "input"):
        f = info.fields.get(key)
        if f is not None:
            _value(ctx, g, f.value, base, reads)
    if info.update is not None:
        for p in info.update.pairs:
            _value(ctx, g, p.value, after, reads)
    if info.routes is not None:
        for r in info.routes.routes:
            if r.when is not None:
                _value(ctx, g, r.when, after, reads)
    if info.send is not None:
        for entry in info.send.entries:
            scope = after
            if entry.loop is not None:
                _value(ctx, g, entry.loop.source, after, reads)
                scope = Scope(result=True, payload=in_branch, loop_vars=loop_vars | {entry.loop.var.name})
            if entry.payload is not None:
                _value(ctx, g, entry.payload, scope, reads)


def _value(ctx: Ctx, g: GraphInfo, v, scope: Scope, reads: Reads) -> None:
    """Walk a value or condition tree."""
    stack = [v]
    while stack:
        x = stack.pop()
        if isinstance(x, A.Path):
            first = x.segments[0] if x.segments else None
            attr = first.name if isinstance(first, A.Attr) else (
                first.key if isinstance(first, A.Index) and isinstance(first.key, str) else None)
            attr_span = first.span if first is not None else None
            _ref(ctx, g, x.root.name, attr, x.root.span, attr_span, scope, reads, bare=x.is_bare, value=x)
        elif isinstance(x, A.Str):
            if x.is_template:
                refs = template_refs(ctx, x)
                for r in refs or ():
                    _template_ref(ctx, g, r, scope, reads)
        elif isinstance(x, A.ListV):
            stack.extend(reversed(x.items))
        elif isinstance(x, A.ObjectV):
            stack.extend(reversed([p.value for p in x.pairs]))
        elif isinstance(x, A.Call):
            if x.func.name not in BUILTINS:
                guess = did_you_mean(x.func.name, BUILTINS)
                ctx.bag.error("E0114", f"unknown built-in `{x.func.name}`", x.func.span, "not a built-in",
                              help=f"did you mean `{guess}`?" if guess else "the only built-in is `len(x)`")
            stack.extend(reversed(x.args))
        elif isinstance(x, A.BoolOp):
            stack.extend(reversed(x.operands))
        elif isinstance(x, A.Not):
            stack.append(x.operand)
        elif isinstance(x, A.Compare):
            stack.extend([x.right, x.left])


def _template_ref(ctx: Ctx, g: GraphInfo, r: TemplateRef, scope: Scope, reads: Reads) -> None:
    _ref(ctx, g, r.root, r.attr, r.span, r.span, scope, reads, bare=False, value=None)


def _ref(ctx: Ctx, g: GraphInfo, root: str, attr: str | None, root_span: Span, attr_span: Span | None,
         scope: Scope, reads: Reads, *, bare: bool, value: A.Path | None) -> None:
    bound = scope.bound()
    if root not in bound:
        known = set(ROOTS) | set(scope.loop_vars) | {"item"}
        if root in known:
            why = {
                "result": "`result` is the node's own result: it exists in `command { update }`, route "
                          "conditions and send payloads",
                "payload": "`payload` exists only inside a fan-out branch (a node a `send` starts)",
            }.get(root, f"`{root}` is bound only inside a fan-out branch with `for {root} in ...`")
            ctx.bag.error("E0115", f"`{root}` is not bound here", root_span, "not available here", help=why)
            return
        guess = did_you_mean(root, sorted(bound))
        suggestions: tuple[Suggestion, ...] = ()
        help_ = "paths start with " + ", ".join(f"`{b}`" for b in sorted(bound))
        inputs = g.input_fields() or {}
        owner = "state" if declared(g, root) else "input" if root in inputs and "input" in bound else None
        if owner is not None and owner in bound:
            # a bare channel or input name (`{{ findings }}`) has one meaning: the fix is sure,
            # so `ragc check --fix` and `ragc new` apply it (a small model writes this often)
            help_ = f"`{root}` is a {'channel' if owner == 'state' else 'run input'}: write `{owner}.{root}`"
            suggestions = (Suggestion(f"replace with `{owner}.{root}`", root_span, f"{owner}.{root}",
                                      Applicability.MACHINE_APPLICABLE),)
        elif guess:
            help_ = f"did you mean `{guess}`?"
            suggestions = (Suggestion(f"replace with `{guess}`", root_span, guess, Applicability.MAYBE_INCORRECT),)
        elif bare and value is not None:
            q = '"' + root + '"'
            help_ = f"to pass the text, quote it: `{q}`"
            suggestions = (Suggestion("quote the text", value.span, q, Applicability.MAYBE_INCORRECT),)
        ctx.bag.error("E0114", f"unknown name `{root}`", root_span, "not a known name", help=help_,
                      suggestions=suggestions)
        return
    if attr is None:
        return
    span = attr_span or root_span
    if root == "state":
        if declared(g, attr):
            reads.channels.add(attr)
            return
        guess = did_you_mean(attr, list(g.channels) + ["errors"])
        if guess is not None:
            g.quiet.add(guess)
        ctx.bag.error("E0503", f"read of undeclared channel `{attr}`", span, f"not a channel of graph `{g.name}`",
                      help=f"did you mean `{guess}`?" if guess else f"declare it: `channel {attr} last`",
                      suggestions=(Suggestion(f"replace with `{guess}`", span, guess, Applicability.MAYBE_INCORRECT),)
                      if guess and attr_span is not root_span else ())
    elif root == "input":
        fields = g.input_fields()
        if fields is None or attr in fields:
            return
        guess = did_you_mean(attr, fields)
        ctx.bag.error("E0706", f"unknown input field `{attr}`", span, f"not a field of the `input` of `{g.name}`",
                      help=f"did you mean `{guess}`?" if guess else f"declare it in `input {{ {attr}: string }}`",
                      suggestions=(Suggestion(f"replace with `{guess}`", span, guess, Applicability.MAYBE_INCORRECT),)
                      if guess and attr_span is not root_span else ())


def agent_reads(ctx: Ctx, g: GraphInfo) -> set[str]:
    """Channels the prompts of the registry agents ``g`` runs read
    (``{{ state.x }}``): used only to avoid flagging those channels as unused."""
    if ctx.registry is None:
        return set()
    names: set[str] = set()
    for info in g.nodes.values():
        if info.kind == "subagent":
            f = info.fields.get("agent")
            if f is not None and isinstance(f.value, (A.Str, A.Path)):
                names.add(f.value.value if isinstance(f.value, A.Str) else f.value.root.name)
        names.update(b.target for b in info.branches if b.target_kind == "agent")
    out: set[str] = set()
    if not names:
        return out
    from jinja2 import TemplateSyntaxError, nodes

    for n in sorted(names):
        entry = ctx.registry.agents.get(n)
        if entry is None:
            continue
        for text in (entry.prompt, entry.system):
            if not text or ("{{" not in text and "{%" not in text):
                continue
            try:
                tree = environment().parse(text)
            except TemplateSyntaxError:
                continue  # the registry's own problem, reported when the agent runs
            for node in tree.find_all(nodes.Getattr):
                if isinstance(node.node, nodes.Name) and node.node.name == "state":
                    out.add(node.attr)
    return out
